import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../../../libs/common/src';
import { initBackend } from '../../../../libs/compute/src';
import { countFlops, PhccModel, randomPatchMask, TINY_MODEL } from '../../../../libs/model/src/network';
import {
  AdamW,
  balancedClassWeights,
  DEFAULT_SSL_WEIGHTING,
  finetuneBatchLoss,
  FinetuneBatch,
  gradientTensors,
  sslBatchLoss,
  SslBatch,
  sslStep,
  trainableParts,
} from '../../../../libs/model/src/training';
import { PeerStepOptions, readFloat32File, requirePeerPython, runPeerCheck, writePeerBundle } from './peer';

/**
 * The PyTorch peer (bench/peers/phcc_ssl.py) is the same network: from our weights it must give
 * our parameter count, forward MACs, losses, gradients and one AdamW update. Needs a python3 with
 * torch (Debian's python3-torch, installed by .ci/run); without it this fails, naming the fix.
 */
let PYTHON: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  PYTHON = requirePeerPython(process.env.PHCC_PEER_PYTHON).python;
});

/** Tiny network, two phases, weights moved off their initial values (GRN and centre not zero). */
function tinyModel(): PhccModel {
  const model = PhccModel.create({ ...TINY_MODEL, phases: 2 }, 3);
  const rng = new Rng(9);
  model.params.setWeights(
    model.params.getWeights().map((w) => ({
      ...w,
      values: w.values.map((v) => v + 0.1 * rng.normal()),
    })),
  );
  return model;
}

function batches(model: PhccModel): { ssl: SslBatch; finetune: FinetuneBatch } {
  const rng = new Rng(4);
  const { imageSize: s, inChannels: c, phases: t, maskChannel } = model.config;
  const image = (): number[] => {
    const px = Array.from({ length: s * s * c }, () => rng.normal());
    // A tumour mask channel in [0, 1] with a blob, as the cohort's crops have.
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++)
        px[(y * s + x) * c + maskChannel] = (x - 12) ** 2 + (y - 14) ** 2 < 40 ? 1 : 0;
    return px;
  };
  return {
    ssl: {
      images: Float32Array.from([...image(), ...image(), ...image()]),
      mask: randomPatchMask(rng, 3, model.grid, model.config.maskRatio),
      count: 3,
    },
    finetune: {
      patients: Float32Array.from(Array.from({ length: 2 * t }, image).flat()),
      labels: Float32Array.from([1, 0]),
      count: 2,
    },
  };
}

const OPTIONS: PeerStepOptions = {
  lr: 1e-3,
  sslWeighting: DEFAULT_SSL_WEIGHTING,
  classWeights: balancedClassWeights(1, 3),
  encoderLrScale: 0.25,
  weightDecay: 0.05,
  clipNorm: 1,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
};

/** Largest |a − b| over the largest |b|: one relative error for a whole flattened model. */
function relativeError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Our gradients in bundle order (zeros for parameters outside the stage). */
function ourGradients(model: PhccModel, lossFn: () => tf.Scalar, stage: 'ssl' | 'finetune') {
  const { loss, grads } = gradientTensors(model, lossFn, trainableParts(stage));
  const flat = model.params.getWeights().map((w) => {
    const g = grads.get(w.name);
    return g ? (g.dataSync() as Float32Array) : new Float32Array(w.values.length);
  });
  tf.dispose([...grads.values()]);
  return { loss, flat: Float32Array.from(flat.flatMap((a) => [...a])) };
}

describe('PyTorch peer (bench/peers/phcc_ssl.py)', () => {
  let dir: string;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('is the same network: count, MACs, losses, gradients and one AdamW update from our weights', () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-peer-'));
    const model = tinyModel();
    const data = batches(model);
    writePeerBundle(dir, model, data, OPTIONS);
    const peer = runPeerCheck(PYTHON, dir);

    expect(peer.param_count).toBe(model.params.count());
    const flops = countFlops(model.config);
    expect(peer.encoder_macs).toBe(flops.encoderMacs);
    expect(peer.decoder_macs).toBe(flops.decoderMacs);
    expect(peer.head_macs).toBe(flops.headMacs);

    const ssl = ourGradients(model, sslBatchLoss(model, data.ssl, OPTIONS.sslWeighting), 'ssl');
    expect(Math.abs(ssl.loss - peer.ssl_loss) / peer.ssl_loss).toBeLessThan(1e-6);
    expect(relativeError(ssl.flat, readFloat32File(join(dir, 'grads_ssl.bin')))).toBeLessThan(1e-5);

    // The peer's row-skipping form (what `bench model --peer` also times) is the same function.
    expect(Math.abs(peer.ssl_skip_rows_loss - peer.ssl_loss) / peer.ssl_loss).toBeLessThan(1e-6);
    expect(peer.ssl_skip_rows_grad_error).toBeLessThan(1e-5);

    const ft = ourGradients(model, finetuneBatchLoss(model, data.finetune, OPTIONS), 'finetune');
    expect(Math.abs(ft.loss - peer.finetune_loss) / peer.finetune_loss).toBeLessThan(1e-6);
    expect(relativeError(ft.flat, readFloat32File(join(dir, 'grads_finetune.bin')))).toBeLessThan(1e-5);

    // One AdamW step moves each weight by ≈ lr: compare the moves, relative to lr.
    const before = Float32Array.from(model.params.getWeights().flatMap((w) => [...w.values]));
    const optimizer = new AdamW(model.params, {
      weightDecay: OPTIONS.weightDecay,
      clipNorm: OPTIONS.clipNorm,
    });
    sslStep(model, optimizer, data.ssl, OPTIONS.sslWeighting, OPTIONS.lr);
    const after = Float32Array.from(model.params.getWeights().flatMap((w) => [...w.values]));
    const peerAfter = readFloat32File(join(dir, 'after_ssl_step.bin'));
    let worst = 0;
    for (let i = 0; i < after.length; i++) worst = Math.max(worst, Math.abs(after[i] - peerAfter[i]));
    expect(worst / OPTIONS.lr).toBeLessThan(0.01);
    // …and the check can fail: the weights did move by about lr.
    expect(relativeError(after, before)).toBeGreaterThan(0);
    optimizer.dispose();
    model.dispose();
  });
});

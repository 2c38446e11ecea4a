import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { fusedNormSwitch, initBackend } from '../../../compute/src';
import { PhccModel, randomPatchMask, TINY_MODEL } from '../network';
import { balancedClassWeights, DEFAULT_SSL_WEIGHTING } from './losses';
import { finetuneBatchLoss, gradientTensors, sslBatchLoss, trainableParts } from './steps';

/**
 * The whole model with the fused LayerNorm and GRN kernels (wasm) gives the losses and gradients
 * of the composed ops it replaces, in masked SSL and in fine-tuning, and really runs the kernels.
 */
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Tiny network (channels multiples of 4), weights moved off their initial values (GRN γ, β ≠ 0). */
function tinyModel(): PhccModel {
  const model = PhccModel.create({ ...TINY_MODEL, phases: 2 }, 3);
  const rng = new Rng(9);
  model.params.setWeights(
    model.params.getWeights().map((w) => ({ ...w, values: w.values.map((v) => v + 0.1 * rng.normal()) })),
  );
  return model;
}

interface Run {
  loss: number;
  grads: Float32Array;
  kernels: Set<string>;
}

async function lossAndGradients(model: PhccModel, stage: 'ssl' | 'finetune', fused: boolean): Promise<Run> {
  const rng = new Rng(4);
  const { imageSize: s, inChannels: c, phases: t } = model.config;
  const pixels = (n: number) => Float32Array.from({ length: n * s * s * c }, () => rng.normal());
  const lossFn =
    stage === 'ssl'
      ? sslBatchLoss(
          model,
          { images: pixels(3), mask: randomPatchMask(rng, 3, model.grid, model.config.maskRatio), count: 3 },
          DEFAULT_SSL_WEIGHTING,
        )
      : finetuneBatchLoss(
          model,
          { patients: pixels(2 * t), labels: Float32Array.from([1, 0]), count: 2 },
          { classWeights: balancedClassWeights(1, 3) },
        );
  const saved = fusedNormSwitch.enabled;
  fusedNormSwitch.enabled = fused;
  try {
    let result: { loss: number; grads: Map<string, tf.Tensor> } | undefined;
    const profile = await tf.profile(() => {
      result = gradientTensors(model, lossFn, trainableParts(stage));
    });
    const { loss, grads } = result!;
    const flat = Float32Array.from(
      [...grads.keys()].sort().flatMap((name) => [...(grads.get(name)!.dataSync() as Float32Array)]),
    );
    tf.dispose([...grads.values()]);
    return { loss, grads: flat, kernels: new Set(profile.kernels.map((k) => k.name)) };
  } finally {
    fusedNormSwitch.enabled = saved;
  }
}

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

const FUSED_KERNELS = ['PhccLayerNorm', 'PhccLayerNormGrad', 'PhccGrn', 'PhccGrnGrad'];

describe.each(['ssl', 'finetune'] as const)('fused norms in the %s step', (stage) => {
  it('give the composed ops’ loss and gradients', async () => {
    const model = tinyModel();
    const composed = await lossAndGradients(model, stage, false);
    const fused = await lossAndGradients(model, stage, true);
    for (const name of FUSED_KERNELS) {
      expect(composed.kernels.has(name)).toBe(false);
      expect(fused.kernels.has(name)).toBe(true);
    }
    expect(Math.abs(fused.loss - composed.loss) / Math.abs(composed.loss)).toBeLessThan(1e-6);
    expect(relativeError(fused.grads, composed.grads)).toBeLessThan(1e-5);
    model.dispose();
  });
});

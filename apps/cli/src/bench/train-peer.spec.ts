import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../../../libs/common/src';
import {
  createReferenceCnn,
  initBackend,
  randomReferenceBatch,
  ReferenceCnnConfig,
  referenceCnnFlops,
  toTensors,
} from '../../../../libs/compute/src';
import { maxRelativeError } from '../../../../libs/compute/src/gradient-check';
import { readFloat32File, requirePeerPython, runPeerCheck } from './peer';
import { REFERENCE_PEER_SCRIPT, ReferencePeerCheck, writeReferenceBundle } from './train-peer';

/**
 * The PyTorch reference CNN (bench/peers/reference_cnn.py) is the same network as ours: from our
 * weights it gives our parameter count, forward MACs, loss, gradients and one SGD update. Needs a
 * python3 with torch (Debian's python3-torch, installed by .ci/run); without it this fails, naming
 * the fix.
 */
let PYTHON: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  PYTHON = requirePeerPython(process.env.PHCC_PEER_PYTHON).python;
});

/**
 * Small, with an even side (18 → 9: 'same' pads one pixel, after) and an odd one (9 → 5: one on
 * each side) under the stride-2 layers, the two cases a PyTorch padding must reproduce.
 */
const CONFIG: ReferenceCnnConfig = { imageSize: 18, inChannels: 4, widths: [8, 16, 16], classes: 2, seed: 3 };
const LR = 0.05;

const flat = (ts: tf.Tensor[]) => Float32Array.from(ts.flatMap((t) => [...(t.dataSync() as Float32Array)]));

describe('PyTorch reference CNN (bench/peers/reference_cnn.py)', () => {
  let dir: string;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('is the same network: count, MACs, loss, gradients and one SGD update from our weights', () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-train-peer-'));
    const model = createReferenceCnn(CONFIG);
    // Biases start at zero; move them so their layout and gradients are checked too.
    const rng = new Rng(5);
    for (const v of model.variables.filter((v) => v.rank === 1))
      v.assign(tf.tensor1d(Array.from({ length: v.size }, () => 0.1 * rng.normal())));
    const host = randomReferenceBatch(CONFIG, 3, 7);
    writeReferenceBundle(dir, CONFIG, model, host, LR);
    const peer = runPeerCheck<ReferencePeerCheck>(PYTHON, dir, REFERENCE_PEER_SCRIPT);

    expect(peer.param_count).toBe(model.variables.reduce((a, v) => a + v.size, 0));
    expect(2 * peer.forward_macs).toBe(referenceCnnFlops(CONFIG, 3).forward);

    const batch = toTensors(host);
    const { value, grads } = tf.variableGrads(() => model.loss(batch), model.variables);
    const loss = value.dataSync()[0];
    expect(Math.abs(loss - peer.loss) / peer.loss).toBeLessThan(1e-5);
    const ours = flat(model.variables.map((v) => grads[v.name]));
    expect(maxRelativeError(ours, readFloat32File(join(dir, 'grads.bin')))).toBeLessThan(1e-5);
    // …and the check can fail: the gradients are not vanishing.
    expect(Math.max(...ours.map(Math.abs))).toBeGreaterThan(1e-3);

    const before = flat(model.variables);
    tf.train.sgd(LR).applyGradients(grads);
    const after = flat(model.variables);
    const peerAfter = readFloat32File(join(dir, 'after_step.bin'));
    let worst = 0;
    for (let i = 0; i < after.length; i++) worst = Math.max(worst, Math.abs(after[i] - peerAfter[i]));
    expect(worst / LR).toBeLessThan(1e-4);
    expect(maxRelativeError(after, before)).toBeGreaterThan(1e-4);
    tf.dispose([value, ...Object.values(grads), ...Object.values(batch)]);
    model.dispose();
  });
});

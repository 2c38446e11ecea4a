import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { initBackend, IntraOpPool, intraOpPool, simdHelperSwitch } from '../../../compute/src';
import { PhccModel, randomPatchMask, TINY_MODEL } from '../network';
import { AdamW, balancedClassWeights, DEFAULT_SSL_WEIGHTING, finetuneStep, sslStep } from '.';

/**
 * `--wasm-threads 2` (issue #19): an SSL step and a fine-tune step with every splittable kernel call
 * shared between two threads give the weights one thread gives, bit for bit (each output element
 * is computed by the same instructions in the same order, whichever thread computes it).
 */
beforeAll(async () => {
  const info = await initBackend({ backend: 'wasm', threads: 2 });
  expect(info.threads).toBe(2);
});

afterAll(() => {
  IntraOpPool.minWork = 1 << 19;
  simdHelperSwitch.intraOp = true;
});

function train(threaded: boolean): { weights: Float32Array[]; losses: number[] } {
  simdHelperSwitch.intraOp = threaded;
  // Split even the tiny model's calls, so every kernel path that can split does.
  IntraOpPool.minWork = threaded ? 0 : Infinity;
  const config = { ...TINY_MODEL, dims: [8, 16, 16], depths: [1, 1, 1], phases: 2 };
  const model = PhccModel.create(config, 3);
  const optimizer = new AdamW(model.params);
  const rng = new Rng(5);
  const { imageSize: s, inChannels: c, phases } = model.config;
  const images = Float32Array.from({ length: 4 * s * s * c }, () => rng.normal());
  const ssl = sslStep(
    model,
    optimizer,
    { images, mask: randomPatchMask(rng, 4, model.grid, model.config.maskRatio), count: 4 },
    DEFAULT_SSL_WEIGHTING,
    1e-3,
  );
  const patients = Float32Array.from({ length: 3 * phases * s * s * c }, () => rng.normal());
  const ft = finetuneStep(
    model,
    optimizer,
    { patients, labels: Float32Array.from([0, 1, 1]), count: 3 },
    { classWeights: balancedClassWeights(1, 2), encoderLrScale: 0.5 },
    1e-3,
  );
  const weights = model.params.getWeights().map((w) => Float32Array.from(w.values));
  optimizer.dispose();
  model.dispose();
  return { weights, losses: [ssl.loss, ft.loss] };
}

describe('training steps on two intra-op threads', () => {
  it('give one thread’s losses and weights bit for bit, with the calls really split', () => {
    const pool = intraOpPool(tf.backend())!;
    const one = train(false);
    const before = pool.counts.split;
    const two = train(true);
    expect(pool.counts.split - before).toBeGreaterThan(50);
    expect(two.losses).toEqual(one.losses);
    expect(two.weights.length).toBe(one.weights.length);
    two.weights.forEach((w, i) =>
      expect(Buffer.from(w.buffer).equals(Buffer.from(one.weights[i].buffer))).toBe(true),
    );
  });
});

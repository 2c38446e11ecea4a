import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { initBackend, maskedDenseSwitch } from '../../../compute/src';
import { PhccModel, randomPatchMask, TINY_MODEL } from '../network';
import { DEFAULT_SSL_WEIGHTING } from './losses';
import { gradientTensors, sslBatchLoss, trainableParts } from './steps';

/**
 * The masked (SSL) encoder with its pointwise layers on the visible rows only, and the decoder's
 * last pwconv2 and prediction on the masked (scored) rows only (maskedDense, issue #19), give the
 * loss and every gradient of the dense layers they replace — whose dropped rows were zeroed or
 * weighted 0 downstream — and really run the row gathers: blocks' pwconv1/pwconv2 and a
 * stage's projection (a third stage at the patch stride has one).
 */
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

function model(): PhccModel {
  const m = PhccModel.create({ ...TINY_MODEL, dims: [8, 16, 16], depths: [1, 1, 1], phases: 2 }, 3);
  const rng = new Rng(9);
  // Off the initial values: GRN γ, β and the biases nonzero, so a masked row's bias would show.
  m.params.setWeights(
    m.params.getWeights().map((w) => ({ ...w, values: w.values.map((v) => v + 0.1 * rng.normal()) })),
  );
  return m;
}

async function sslRun(m: PhccModel, rowSkipping: boolean) {
  const rng = new Rng(4);
  const { imageSize: s, inChannels: c } = m.config;
  const images = Float32Array.from({ length: 3 * s * s * c }, () => rng.normal());
  const lossFn = sslBatchLoss(
    m,
    { images, mask: randomPatchMask(rng, 3, m.grid, m.config.maskRatio), count: 3 },
    DEFAULT_SSL_WEIGHTING,
  );
  const saved = maskedDenseSwitch.enabled;
  maskedDenseSwitch.enabled = rowSkipping;
  try {
    let result: { loss: number; grads: Map<string, tf.Tensor> } | undefined;
    const profile = await tf.profile(() => {
      result = gradientTensors(m, lossFn, trainableParts('ssl'));
    });
    const { loss, grads } = result!;
    const names = [...grads.keys()].sort();
    const flat = names.map((n) => grads.get(n)!.dataSync() as Float32Array);
    tf.dispose([...grads.values()]);
    // One row gather per masked layer's forward (the backward's is a scatter's gradient).
    const gathers = profile.kernels.filter((k) => k.name === 'PhccGatherRows').length;
    return { loss, names, flat, masked: gathers / 2 };
  } finally {
    maskedDenseSwitch.enabled = saved;
  }
}

describe('masked SSL step: pointwise layers on the rows that count only', () => {
  it('gives the dense layers’ SSL loss and gradients, through the masked kernel', async () => {
    const m = model();
    const skipped = await sslRun(m, true);
    const dense = await sslRun(m, false);
    // Encoder: three blocks × two pointwise layers + stage 3's projection; decoder: its block's
    // pwconv2 and the prediction layer (scored on the masked patches only).
    expect(skipped.masked).toBe(9);
    expect(dense.masked).toBe(0);
    expect(Math.abs(skipped.loss - dense.loss) / dense.loss).toBeLessThan(1e-6);
    expect(skipped.names).toEqual(dense.names);
    let worst = 0;
    skipped.names.forEach((_name, i) => {
      const a = skipped.flat[i];
      const b = dense.flat[i];
      const scale = Math.max(...b.map(Math.abs));
      // Every trained tensor has a gradient here (the check would pass trivially on zeros).
      expect(scale).toBeGreaterThan(0);
      for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j] - b[j]) / scale);
    });
    expect(worst).toBeLessThan(1e-5);
    m.dispose();
  });
});

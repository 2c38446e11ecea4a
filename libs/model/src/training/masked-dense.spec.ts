import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { initBackend, maskedDenseSwitch } from '../../../compute/src';
import { keptRowsBlockSwitch, PhccModel, randomPatchMask, TINY_MODEL } from '../network';
import { DEFAULT_SSL_WEIGHTING } from './losses';
import { gradientTensors, sslBatchLoss, trainableParts } from './steps';

/**
 * The masked (SSL) encoder with its pointwise layers on the visible rows only, and the decoder's
 * last pwconv2 and prediction on the masked (scored) rows only (maskedDense, issue #19), give the
 * loss and every gradient of the dense layers they replace — whose dropped rows were zeroed or
 * weighted 0 downstream — and really run the row gathers: blocks' pwconv1/pwconv2 and a
 * stage's projection (a third stage at the patch stride has one). A block whose samples all keep
 * the same rows runs on them alone (applyBlockOnKeptRows: the sparse depthwise conv gives the
 * kept rows, everything after it runs on them): the same loss, bit for bit, and the same gradients.
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

type Mode = 'kept-rows block' | 'per-layer rows' | 'dense';

async function sslRun(m: PhccModel, mode: Mode) {
  const rng = new Rng(4);
  const { imageSize: s, inChannels: c } = m.config;
  const images = Float32Array.from({ length: 3 * s * s * c }, () => rng.normal());
  const lossFn = sslBatchLoss(
    m,
    { images, mask: randomPatchMask(rng, 3, m.grid, m.config.maskRatio), count: 3 },
    DEFAULT_SSL_WEIGHTING,
  );
  const saved = [maskedDenseSwitch.enabled, keptRowsBlockSwitch.enabled];
  maskedDenseSwitch.enabled = mode !== 'dense';
  keptRowsBlockSwitch.enabled = mode === 'kept-rows block';
  try {
    let result: { loss: number; grads: Map<string, tf.Tensor> } | undefined;
    const profile = await tf.profile(() => {
      result = gradientTensors(m, lossFn, trainableParts('ssl'));
    });
    const { loss, grads } = result!;
    const names = [...grads.keys()].sort();
    const flat = names.map((n) => grads.get(n)!.dataSync() as Float32Array);
    tf.dispose([...grads.values()]);
    const count = (name: string) => profile.kernels.filter((k) => k.name === name).length;
    // Row gathers forward and backward (a scatter's gradient), and sparse depthwise convs forward.
    return { loss, names, flat, gathers: count('PhccGatherRows'), sparse: count('PhccDepthwiseKept') };
  } finally {
    [maskedDenseSwitch.enabled, keptRowsBlockSwitch.enabled] = saved;
  }
}

describe('masked SSL step: pointwise layers on the rows that count only', () => {
  function expectSameGradients(a: Awaited<ReturnType<typeof sslRun>>, b: Awaited<ReturnType<typeof sslRun>>) {
    expect(a.names).toEqual(b.names);
    let worst = 0;
    a.names.forEach((_name, i) => {
      const scale = Math.max(...b.flat[i].map(Math.abs));
      // Every trained tensor has a gradient here (the check would pass trivially on zeros).
      expect(scale).toBeGreaterThan(0);
      for (let j = 0; j < a.flat[i].length; j++)
        worst = Math.max(worst, Math.abs(a.flat[i][j] - b.flat[i][j]) / scale);
    });
    return worst;
  }

  it('gives the dense layers’ SSL loss and gradients, through the masked kernel', async () => {
    const m = model();
    const skipped = await sslRun(m, 'per-layer rows');
    const dense = await sslRun(m, 'dense');
    // Encoder: three blocks × two pointwise layers + stage 3's projection; decoder: its block's
    // pwconv2 and the prediction layer (scored on the masked patches only).
    // One gather per masked layer forward, one backward (its scatter's gradient).
    expect(skipped.gathers).toBe(2 * 9);
    expect(skipped.sparse).toBe(0);
    expect(dense.gathers).toBe(0);
    expect(Math.abs(skipped.loss - dense.loss) / dense.loss).toBeLessThan(1e-6);
    expect(expectSameGradients(skipped, dense)).toBeLessThan(1e-5);
    m.dispose();
  });

  it('runs each encoder block on its kept rows, from a sparse depthwise conv', async () => {
    const m = model();
    const block = await sslRun(m, 'kept-rows block');
    const perLayer = await sslRun(m, 'per-layer rows');
    // Each encoder block's depthwise conv gives its kept rows (three sparse convs); gathers:
    // stage 3's projection and the decoder's two forward, and the gradients of their scatters
    // and of the three blocks' scatters.
    expect(block.sparse).toBe(3);
    expect(block.gathers).toBe(3 + 3 + 3);
    // The depthwise conv, LayerNorm, pwconv1, GELU, GRN and pwconv2 compute the same values on
    // the same rows …
    expect(block.loss).toBe(perLayer.loss);
    // … and only the order of LayerNorm's γ/β sums over rows changes.
    const worst = expectSameGradients(block, perLayer);
    expect(worst).toBeLessThan(1e-6);
    m.dispose();
  });
});

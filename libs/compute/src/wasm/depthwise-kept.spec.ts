import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import {
  errorsAgainstCpu,
  gradientsOn,
  HostTensor,
  patchKeepMap,
  randomHostTensor,
  withNudgedKernel,
} from '../gradient-check';
import { depthwiseKept, isDepthwiseKeptFused } from '../ops/depthwise-kept';
import { initBackend } from '../select';
import { PhccDepthwiseKept } from './kernels/PhccDepthwiseKept';
import { PhccDepthwiseKeptGrad } from './kernels/PhccDepthwiseKeptGrad';
import { simdHelperSwitch } from './simd/helpers';

/**
 * The sparse depthwise conv (ops/depthwise-kept.ts: the kept rows of depthwise(x ⊙ keep) + b,
 * kernels PhccDepthwiseKept and PhccDepthwiseKeptGrad) on wasm against that definition by
 * autodiff on cpu — value, dx, dW, db — for the keep maps the SSL encoder makes (patch blocks of
 * 4×4, 2×2 and single pixels), 3×3, 5×5 and 7×7 filters, 4- and 16-channel passes, an x that is
 * not zero where it is dropped, a soft keep map, none and every pixel kept, on both helper builds; plus mutation
 * checks that the comparison can fail.
 */
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** The definition, in tfjs's own ops: the kept rows of depthwise(x ⊙ keep) + b. */
const definition = (keep: HostTensor) => (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
  const masked = tf.mul(x, tf.tensor(keep.values, keep.shape)) as tf.Tensor4D;
  const y = tf.add(tf.depthwiseConv2d(masked, w as tf.Tensor4D, 1, 'same'), b);
  const rows = [...keep.values.keys()].filter((i) => keep.values[i] !== 0);
  return tf.gather(tf.reshape(y, [-1, x.shape[3] as number]), tf.tensor1d(rows, 'int32'));
};
const ours = (keep: HostTensor) => (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
  depthwiseKept(
    x as tf.Tensor4D,
    w as tf.Tensor4D,
    b,
    tf.tensor4d(keep.values, keep.shape as [number, number, number, number]),
  );

/** Max relative errors of ours on wasm against the definition on cpu: value, dx, dW, db. */
const errors = (xs: HostTensor[], keep: HostTensor, seed: number) =>
  errorsAgainstCpu(
    definition(keep) as (...t: tf.Tensor[]) => tf.Tensor,
    ours(keep) as (...t: tf.Tensor[]) => tf.Tensor,
    xs,
    seed,
  );

/** x (zero at the dropped pixels unless `dirty`), filter and bias. */
function inputs(seed: number, xShape: number[], k: number, keep: HostTensor, dirty = false): HostTensor[] {
  const rng = new Rng(seed);
  const x = randomHostTensor(rng, xShape);
  const c = xShape[3];
  if (!dirty) x.values.forEach((_, i) => (x.values[i] *= keep.values[Math.floor(i / c)]));
  return [x, randomHostTensor(rng, [k, k, c, 1]), randomHostTensor(rng, [c])];
}

describe.each([
  ['FMA', true],
  ['no FMA', false],
])(
  'sparse depthwise conv on wasm (%s) matches the kept rows of depthwise(x ⊙ keep) + b on cpu',
  (_n, fma) => {
    beforeAll(() => {
      simdHelperSwitch.fma = fma;
    });
    afterAll(() => {
      simdHelperSwitch.fma = true;
    });
    const cases: [string, number[], number, (rng: Rng) => HostTensor][] = [
      [
        '4×4 patch blocks (stage 1), 5×5, 8 channels',
        [2, 12, 12, 8],
        5,
        (rng) => patchKeepMap(rng, 2, 3, 12, 0.5),
      ],
      [
        '2×2 patch blocks (stage 2), 5×5, 32 channels',
        [1, 8, 8, 32],
        5,
        (rng) => patchKeepMap(rng, 1, 4, 8, 0.5),
      ],
      [
        'single pixels (stage 3), 3×3, 16 channels',
        [2, 8, 8, 16],
        3,
        (rng) => patchKeepMap(rng, 2, 8, 8, 0.4),
      ],
      [
        '4×4 blocks, 7×7 (wider than a block), 4 channels',
        [2, 12, 12, 4],
        7,
        (rng) => patchKeepMap(rng, 2, 3, 12, 0.5),
      ],
      ['every pixel kept', [2, 8, 8, 8], 5, () => patchKeepMap(new Rng(1), 2, 4, 8, 1)],
    ];
    it.each(cases)('%s', async (_name, shape, k, makeKeep) => {
      const keep = makeKeep(new Rng(shape[1] + k));
      const xs = inputs(shape[3] * 7 + k, shape, k, keep);
      expect(
        isDepthwiseKeptFused(
          tf.zeros(shape),
          tf.zeros([k, k, shape[3], 1]),
          tf.zeros([...shape.slice(0, 3), 1]),
        ),
      ).toBe(true);
      for (const e of await errors(xs, keep, k)) expect(e).toBeLessThanOrEqual(TOLERANCE);
    });

    it('scales by a soft keep map (values other than 0 and 1) as the definition does', async () => {
      const keep = patchKeepMap(new Rng(4), 2, 3, 12, 0.5);
      keep.values.forEach((v, i) => (keep.values[i] = v * (0.25 + 0.5 * ((i * 7) % 3))));
      const xs = inputs(45, [2, 12, 12, 8], 5, keep);
      for (const e of await errors(xs, keep, 46)) expect(e).toBeLessThanOrEqual(TOLERANCE);
    });

    it('multiplies an x that is not zero where it is dropped by keep first', async () => {
      const keep = patchKeepMap(new Rng(3), 2, 3, 12, 0.5);
      const xs = inputs(40, [2, 12, 12, 8], 5, keep, true);
      for (const e of await errors(xs, keep, 41)) expect(e).toBeLessThanOrEqual(TOLERANCE);
    });
  },
);

describe('sparse depthwise conv, edges', () => {
  it('gives no rows and zero filter and bias gradients when nothing is kept', async () => {
    const keep: HostTensor = { shape: [2, 8, 8, 1], values: new Float32Array(128) };
    const xs = inputs(42, [2, 8, 8, 8], 5, keep);
    const grads = await gradientsOn(
      'wasm',
      (x, w, b) => tf.add(tf.sum(ours(keep)(x, w, b)), tf.mul(0, tf.sum(x))),
      xs,
      { shape: [], values: Float32Array.of(1) },
    );
    for (const g of grads) expect(g.every((v) => v === 0)).toBe(true);
  });

  it('rejects a keep map of another shape', () => {
    const x = tf.zeros([2, 8, 8, 8]) as tf.Tensor4D;
    expect(() => depthwiseKept(x, tf.zeros([5, 5, 8, 1]), tf.zeros([8]), tf.ones([2, 8, 4, 1]))).toThrow(
      /keep map \[2,8,4,1\] is not \[2,8,8, 1\]/,
    );
  });
});

describe('mutation checks: the comparison above fails on a wrong sparse depthwise kernel', () => {
  it.each([
    ['the kept rows (y)', PhccDepthwiseKept, undefined, 0],
    ['dx', PhccDepthwiseKeptGrad, 'x', 1],
    ['dW', PhccDepthwiseKeptGrad, 'filter', 2],
  ] as [string, string, string | undefined, number][])('%s', async (_name, kernelName, part, caughtBy) => {
    const keep = patchKeepMap(new Rng(8), 2, 3, 12, 0.5);
    const xs = inputs(43, [2, 12, 12, 8], 5, keep);
    await withNudgedKernel(
      kernelName,
      TOLERANCE,
      async () => {
        expect((await errors(xs, keep, 44))[caughtBy]).toBeGreaterThan(TOLERANCE);
      },
      { part },
    );
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import {
  errorsAgainstCpu,
  gradientsOn,
  HostTensor,
  patchKeepMap,
  randomHostTensor,
  withMutantKernel,
  withNudgedKernel,
} from '../gradient-check';
import { fusedDenseSwitch, maskedDense } from '../ops/dense';
import { initBackend } from '../select';
import { gatherRows, keptRows, scatterRows } from './kept-rows';
import { PhccDense } from './kernels/PhccDense';
import { PhccDenseGrad } from './kernels/PhccDenseGrad';
import { PhccGatherRows } from './kernels/PhccGatherRows';
import { PhccScatterRows } from './kernels/PhccScatterRows';

/**
 * The masked dense layer (ops/dense.ts `maskedDense`: row gather, dense, row scatter — kernels
 * PhccGatherRows, PhccDense, PhccScatterRows — and their gradients): keep ⊙ (x · W + b) computed on
 * the kept rows only, against that definition by autodiff on the cpu backend — value, dx, dW, db —
 * for the keep maps the SSL encoder makes (whole patch blocks), scattered single rows, none and all
 * kept; plus mutation checks that the comparison can fail.
 */
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const definition = (keep: HostTensor) => (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
  const [k, n] = w.shape as [number, number];
  const y = tf.reshape(tf.add(tf.matMul(tf.reshape(x, [-1, k]), w), b), [...x.shape.slice(0, -1), n]);
  return tf.mul(y, tf.tensor(keep.values, keep.shape));
};
const ours = (keep: HostTensor) => (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
  maskedDense(x, w, b, tf.tensor(keep.values, keep.shape));

function rowKeep(shape: number[], pick: (row: number) => boolean): HostTensor {
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return {
    shape: [...shape.slice(0, -1), 1],
    values: Float32Array.from({ length: rows }, (_, i) => (pick(i) ? 1 : 0)),
  };
}

/** Max relative errors of ours on wasm against the definition on cpu: value, dx, dW, db. */
const errors = (xs: HostTensor[], keep: HostTensor, seed: number) =>
  errorsAgainstCpu(
    definition(keep) as (...t: tf.Tensor[]) => tf.Tensor,
    ours(keep) as (...t: tf.Tensor[]) => tf.Tensor,
    xs,
    seed,
  );

function inputs(seed: number, xShape: number[], outDim: number): HostTensor[] {
  const rng = new Rng(seed);
  const k = xShape[xShape.length - 1];
  return [randomHostTensor(rng, xShape), randomHostTensor(rng, [k, outDim]), randomHostTensor(rng, [outDim])];
}

describe('kept rows', () => {
  it('finds the runs and copies them both ways, zero between them', () => {
    const keep = Float32Array.from([0, 1, 1, 0, 0, 1, 0, 1]);
    const rows = keptRows(keep);
    expect(Array.from(rows.runs)).toEqual([1, 2, 5, 1, 7, 1]);
    expect(rows).toMatchObject({ kept: 4, total: 8 });
    const src = Float32Array.from({ length: 16 }, (_, i) => i + 1); // 8 rows × 2
    const compact = new Float32Array(8);
    gatherRows(src, 2, rows, compact);
    expect(Array.from(compact)).toEqual([3, 4, 5, 6, 11, 12, 15, 16]);
    const back = new Float32Array(16).fill(NaN);
    scatterRows(compact, 2, rows, back);
    expect(Array.from(back)).toEqual([0, 0, 3, 4, 5, 6, 0, 0, 0, 0, 11, 12, 0, 0, 15, 16]);
    expect(keptRows(new Float32Array(3))).toMatchObject({ kept: 0, total: 3 });
  });

  it('copies the same between views of one buffer (the wasm heap: copyWithin) as between two', () => {
    const keep = Float32Array.from({ length: 40 }, (_, i) => Number(i % 7 < 3 || i === 39));
    const rows = keptRows(keep);
    const heap = new Float32Array(1 + 40 * 3 + rows.kept * 3 + 40 * 3);
    const src = heap.subarray(1, 1 + 120); // an offset view, as tensors in the heap are
    src.forEach((_, i) => (src[i] = i + 0.5));
    const compact = heap.subarray(121, 121 + rows.kept * 3);
    const back = heap.subarray(121 + rows.kept * 3).fill(NaN);
    gatherRows(src, 3, rows, compact);
    scatterRows(compact, 3, rows, back);
    const compactApart = new Float32Array(rows.kept * 3);
    const backApart = new Float32Array(120).fill(NaN);
    gatherRows(Float32Array.from(src), 3, rows, compactApart);
    scatterRows(compactApart, 3, rows, backApart);
    expect(Array.from(compact)).toEqual(Array.from(compactApart));
    expect(Array.from(back)).toEqual(Array.from(backApart));
    expect(back[0]).toBe(0.5);
    expect(back[3 * 3]).toBe(0);
  });
});

describe('masked dense on wasm matches keep ⊙ (x · W + b) on cpu', () => {
  const cases: [string, number[], number, (rng: Rng, shape: number[]) => HostTensor][] = [
    ['patch blocks 4×4 (stage 1), 8 → 16', [3, 16, 16, 8], 16, (rng) => patchKeepMap(rng, 3, 4, 16, 0.4)],
    ['patch blocks 1×1 (stage 3), 16 → 8', [2, 4, 4, 16], 8, (rng) => patchKeepMap(rng, 2, 4, 4, 0.4)],
    [
      'single scattered rows, not a multiple of 4, 5 → 3',
      [3, 7, 5],
      3,
      (_r, s) => rowKeep(s, (i) => i % 3 === 1),
    ],
    ['every row kept', [2, 4, 4, 8], 8, (_r, s) => rowKeep(s, () => true)],
    ['no row kept', [2, 4, 4, 8], 8, (_r, s) => rowKeep(s, () => false)],
  ];
  it.each(cases)('%s', async (_name, shape, outDim, makeKeep) => {
    const xs = inputs(shape.length * 17 + outDim, shape, outDim);
    const keep = makeKeep(new Rng(outDim), shape);
    const kept = keep.values.reduce((a, v) => a + v, 0);
    const errs = await errors(xs, keep, 5);
    if (kept === 0) {
      // Everything is zero: the relative error is |ours| / 1e-12, so ask for exact zeros.
      errs.forEach((e) => expect(e).toBe(0));
    } else {
      errs.forEach((e) => expect(e).toBeLessThanOrEqual(TOLERANCE));
    }
  });

  it('skips the same rows with the one-dispatch dense layer off (the composed layer between)', async () => {
    const xs = inputs(30, [2, 8, 8, 8], 16);
    const keep = patchKeepMap(new Rng(1), 2, 4, 8, 0.4);
    fusedDenseSwitch.enabled = false;
    try {
      for (const e of await errors(xs, keep, 4)) expect(e).toBeLessThanOrEqual(TOLERANCE);
      await tf.setBackend('wasm');
      const profile = await tf.profile(() => {
        tf.tidy(() =>
          ours(keep)(...(xs.map((h) => tf.tensor(h.values, h.shape)) as [tf.Tensor, tf.Tensor, tf.Tensor])),
        );
      });
      expect(profile.kernels.filter((k) => k.name === PhccGatherRows)).toHaveLength(1);
    } finally {
      fusedDenseSwitch.enabled = true;
    }
  });

  it('gathers once and scatters once each way, the dense layer between on the kept rows', async () => {
    const xs = inputs(31, [2, 8, 8, 8], 8);
    const keep = patchKeepMap(new Rng(2), 2, 4, 8, 0.4);
    const kept = keep.values.reduce((a, v) => a + v, 0);
    await tf.setBackend('wasm');
    const profile = await tf.profile(() => {
      tf.tidy(() => {
        const [x, w, b] = xs.map((h) => tf.tensor(h.values, h.shape));
        tf.grads((v: tf.Tensor, k: tf.Tensor) => tf.sum(ours(keep)(v, k, b)))([x, w]);
      });
    });
    const calls = (name: string) => profile.kernels.filter((k) => k.name === name);
    // Forward gather of x and backward gather of dy; forward scatter of y and backward of dx.
    expect(calls(PhccGatherRows)).toHaveLength(2);
    expect(calls(PhccScatterRows)).toHaveLength(2);
    expect(calls(PhccDense).map((k) => k.inputShapes[0])).toEqual([[kept, 8]]);
    expect(calls(PhccDenseGrad)).toHaveLength(2);
  });

  it('rejects a keep map that does not have one value per row', () => {
    const [x, w, b] = inputs(32, [2, 4, 4, 8], 8).map((h) => tf.tensor(h.values, h.shape));
    expect(() => maskedDense(x, w, b, tf.ones([2, 4, 2, 1]))).toThrow(/one value per row/);
    tf.dispose([x, w, b]);
  });

  it('leaves no wasm memory behind after a gradient', async () => {
    const xs = inputs(33, [2, 8, 8, 8], 8);
    const keep = patchKeepMap(new Rng(3), 2, 4, 8, 0.4);
    const dy = randomHostTensor(new Rng(34), [2, 8, 8, 8]);
    const f = ours(keep) as (...t: tf.Tensor[]) => tf.Tensor;
    await gradientsOn('wasm', f, xs, dy);
    const before = tf.engine().findBackend('wasm')!.numDataIds();
    await gradientsOn('wasm', f, xs, dy);
    expect(tf.engine().findBackend('wasm')!.numDataIds()).toBe(before);
  });
});

describe('mutation checks: the comparison above fails on a wrong masked kernel', () => {
  it.each([
    ['gather (y)', PhccGatherRows, undefined, 0],
    ['scatter (y)', PhccScatterRows, undefined, 0],
    ['dense on the kept rows, dx', PhccDenseGrad, 'x', 1],
    ['dense on the kept rows, dW', PhccDenseGrad, 'kernel', 2],
    ['dense on the kept rows, db', PhccDenseGrad, 'bias', 3],
  ] as [string, string, string | undefined, number][])('%s', async (_name, kernelName, part, caughtBy) => {
    const xs = inputs(35, [2, 8, 8, 8], 16);
    const keep = patchKeepMap(new Rng(6), 2, 4, 8, 0.4);
    await withNudgedKernel(
      kernelName,
      TOLERANCE,
      async () => {
        expect((await errors(xs, keep, 36))[caughtBy]).toBeGreaterThan(TOLERANCE);
      },
      { part },
    );
    for (const e of await errors(xs, keep, 36)) expect(e).toBeLessThanOrEqual(TOLERANCE);
  });

  it('a scatter that left the dropped rows unwritten (not zeroed) is caught', async () => {
    const xs = inputs(37, [2, 8, 8, 8], 8);
    const keep = patchKeepMap(new Rng(7), 2, 4, 8, 0.4);
    // What an uninitialised output could hold at a dropped row: anything but zero.
    const dropped = keep.values.indexOf(0);
    const unwritten = (view: Float32Array, out: tf.TensorInfo) => {
      view[dropped * out.shape[out.shape.length - 1]] = 1;
    };
    await withMutantKernel(PhccScatterRows, unwritten, async () => {
      expect((await errors(xs, keep, 38))[0]).toBeGreaterThan(TOLERANCE);
    });
  });
});

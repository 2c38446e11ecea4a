import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import {
  gradientsOn,
  HostTensor,
  maxRelativeError,
  randomHostTensor,
  withNudgedKernel,
} from '../gradient-check';
import { gelu, isMaskedGeluFused, maskedGelu, maskedGeluSwitch } from '../ops/gelu';
import { initBackend } from '../select';
import { fastGeluSwitch } from './kernels/gelu-helpers';
import { PhccMaskedGelu } from './kernels/PhccMaskedGelu';
import { PhccMaskedGeluGrad } from './kernels/PhccMaskedGeluGrad';

/**
 * The masked GELU kernel (kernels/PhccMaskedGelu.ts) and its gradient: the value and the gradient
 * of x and of the keep map against autodiff of gelu(x) · keep on the cpu backend; bit for bit the
 * same as the two ops it replaces on wasm (what keeps the model's numbers unchanged); and
 * mutation checks (a kernel output nudged by 10× the tolerance must fail the check).
 */
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** x over every row, a keep map with `pattern(row)` (0 or 1) per row. */
function inputs(seed: number, shape: number[], pattern: (row: number) => number): HostTensor[] {
  const x = randomHostTensor(new Rng(seed), shape);
  x.values.forEach((v, i) => (x.values[i] = 3 * v));
  const keepShape = [...shape.slice(0, -1), 1];
  const rows = keepShape.reduce((a, b) => a * b, 1);
  return [x, { shape: keepShape, values: Float32Array.from({ length: rows }, (_, r) => pattern(r)) }];
}

const definition = (x: tf.Tensor, keep: tf.Tensor) => tf.mul(gelu(x), keep);

/** Max relative error on wasm against the definition on cpu: the value, dx, dkeep. */
async function errors(xs: HostTensor[], seed: number): Promise<number[]> {
  const run = async (backend: string, f: (x: tf.Tensor, k: tf.Tensor) => tf.Tensor) => {
    await tf.setBackend(backend);
    const out = tf.tidy(() => f(tf.tensor(xs[0].values, xs[0].shape), tf.tensor(xs[1].values, xs[1].shape)));
    const values = (await out.data()) as Float32Array;
    out.dispose();
    return values;
  };
  const cpuOut = await run('cpu', definition);
  const wasmOut = await run('wasm', maskedGelu);
  const dy = randomHostTensor(new Rng(seed), xs[0].shape);
  const wasm = await gradientsOn('wasm', (x, k) => maskedGelu(x, k), xs, dy);
  const cpu = await gradientsOn('cpu', definition, xs, dy);
  await tf.setBackend('wasm');
  return [maxRelativeError(wasmOut, cpuOut), ...cpu.map((ref, i) => maxRelativeError(wasm[i], ref))];
}

function fusedOnWasm(xs: HostTensor[]): boolean {
  return tf.tidy(() =>
    isMaskedGeluFused(tf.tensor(xs[0].values, xs[0].shape), tf.tensor(xs[1].values, xs[1].shape)),
  );
}

const cases: [string, number[], (row: number) => number][] = [
  ['patch runs, 16 channels', [2, 4, 4, 16], (r) => ((r >> 1) % 3 === 0 ? 0 : 1)],
  ['first and last rows masked, 6 channels (SIMD tail)', [1, 3, 5, 6], (r) => (r === 0 || r === 14 ? 0 : 1)],
  ['every row kept', [2, 2, 2, 8], () => 1],
  ['every row masked', [2, 2, 2, 8], () => 0],
  ['rank 2, alternating rows', [9, 4], (r) => r % 2],
];

describe.each([
  ['σ-form helpers', true],
  ['previous helpers (PHCC_FAST_GELU=0)', false],
])('masked GELU on wasm matches gelu(x) · keep on cpu, %s', (_helpers, fast) => {
  const savedFast = fastGeluSwitch.fast;
  beforeAll(() => (fastGeluSwitch.fast = fast));
  afterAll(() => (fastGeluSwitch.fast = savedFast));
  it.each(cases)('%s', async (_name, shape, pattern) => {
    const xs = inputs(shape.length * 31 + shape[shape.length - 1], shape, pattern);
    await tf.setBackend('wasm');
    expect(fusedOnWasm(xs)).toBe(true);
    for (const e of await errors(xs, 3)) expect(e).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('masked GELU on wasm against the two ops it replaces', () => {
  it('gives the same value and dx, bit for bit (up to the sign of zero)', async () => {
    const xs = inputs(7, [2, 8, 8, 12], (r) => ((r >> 2) % 2 === 0 ? 1 : 0));
    const dy = randomHostTensor(new Rng(8), xs[0].shape);
    await tf.setBackend('wasm');
    const both = (f: (x: tf.Tensor, k: tf.Tensor) => tf.Tensor) => gradientsOn('wasm', f, xs, dy);
    const value = (f: (x: tf.Tensor, k: tf.Tensor) => tf.Tensor) =>
      tf.tidy(() =>
        Array.from(f(tf.tensor(xs[0].values, xs[0].shape), tf.tensor(xs[1].values, xs[1].shape)).dataSync()),
      );
    const signless = (a: ArrayLike<number>) => Array.from(a, (v) => v + 0);
    expect(signless(value(maskedGelu))).toEqual(signless(value(definition)));
    const [dxFused] = await both(maskedGelu);
    const [dxTwoOps] = await both(definition);
    expect(dxFused.some((v) => v !== 0)).toBe(true);
    expect(signless(dxFused)).toEqual(signless(dxTwoOps));
  });
});

describe('masked GELU outside the kernel', () => {
  it.each([
    ['σ-form helpers (checked in wasm)', true],
    ['previous helpers (checked in JS)', false],
  ])('refuses a keep map that is not 0/1, naming the row, and frees its output: %s', (_h, fast) => {
    const savedFast = fastGeluSwitch.fast;
    fastGeluSwitch.fast = fast;
    try {
      const x = tf.ones([1, 2, 3, 4]);
      const keep = tf.tensor4d([1, 1, 0, 0.5, NaN, 1], [1, 2, 3, 1]);
      const backend = tf.engine().findBackend('wasm')!;
      const before = backend.numDataIds();
      expect(() => maskedGelu(x, keep)).toThrow('PhccMaskedGelu: keep map value 0.5 at row 3 is not 0 or 1');
      const dy = tf.ones([1, 2, 3, 4]);
      expect(() => tf.engine().runKernel(PhccMaskedGeluGrad, { x, dy, keep })).toThrow(
        'PhccMaskedGeluGrad: keep map value 0.5 at row 3 is not 0 or 1',
      );
      const nanFirst = tf.tensor4d([1, NaN, 0, 1, 1, 1], [1, 2, 3, 1]);
      expect(() => maskedGelu(x, nanFirst)).toThrow(
        'PhccMaskedGelu: keep map value NaN at row 1 is not 0 or 1',
      );
      expect(backend.numDataIds()).toBe(before + 2);
      tf.dispose([x, keep, dy, nanFirst]);
    } finally {
      fastGeluSwitch.fast = savedFast;
    }
  });

  it('runs the two ops for a keep map of another shape, or with the switch off', async () => {
    const perChannel = tf.tidy(() => isMaskedGeluFused(tf.ones([2, 3, 4]), tf.ones([2, 3, 4])));
    expect(perChannel).toBe(false);
    const xs = inputs(9, [2, 3, 3, 8], (r) => r % 2);
    maskedGeluSwitch.enabled = false;
    try {
      expect(fusedOnWasm(xs)).toBe(false);
      for (const e of await errors(xs, 4)) expect(e).toBeLessThanOrEqual(TOLERANCE);
    } finally {
      maskedGeluSwitch.enabled = true;
    }
  });

  it('leaves no wasm memory behind after a gradient', async () => {
    const xs = inputs(10, [2, 4, 4, 8], (r) => r % 3 && 1);
    const dy = randomHostTensor(new Rng(10), xs[0].shape);
    await gradientsOn('wasm', maskedGelu, xs, dy);
    const before = tf.engine().findBackend('wasm')!.numDataIds();
    await gradientsOn('wasm', maskedGelu, xs, dy);
    expect(tf.engine().findBackend('wasm')!.numDataIds()).toBe(before);
  });
});

describe('mutation checks: the comparison above fails on a wrong kernel', () => {
  it.each([
    ['masked GELU y', PhccMaskedGelu, 0],
    ['masked GELU dx', PhccMaskedGeluGrad, 1],
  ] as [string, string, number][])('%s', async (_name, kernelName, caughtBy) => {
    const xs = inputs(12, [2, 4, 4, 16], (r) => ((r >> 1) % 3 === 0 ? 0 : 1));
    await withNudgedKernel(kernelName, TOLERANCE, async () => {
      expect((await errors(xs, 13))[caughtBy]).toBeGreaterThan(TOLERANCE);
    });
    for (const e of await errors(xs, 13)) expect(e).toBeLessThanOrEqual(TOLERANCE);
  });
});

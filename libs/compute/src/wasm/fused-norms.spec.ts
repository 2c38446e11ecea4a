import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import {
  gradientsOn,
  HostTensor,
  maxRelativeError,
  randomHostTensor,
  withNudgedKernel,
} from '../gradient-check';
import { fusedNormSwitch } from '../ops/fused-norm-switch';
import { grn, isGrnFused } from '../ops/grn';
import { isLayerNormFused, layerNorm } from '../ops/layer-norm';
import { initBackend } from '../select';
import { PhccGrn } from './kernels/PhccGrn';
import { PhccGrnGrad } from './kernels/PhccGrnGrad';
import { PhccLayerNorm } from './kernels/PhccLayerNorm';
import { PhccLayerNormGrad } from './kernels/PhccLayerNormGrad';
import { simdHelperSwitch } from './simd/helpers';

/**
 * The fused LayerNorm and GRN kernels (values and gradients of every input) against autodiff of
 * their plain definitions on the cpu backend (independent of both closed-form backwards), the
 * composed fallback the same way, and mutation checks: each kernel output nudged by 10× the tolerance
 * must make the same check fail, so the comparison cannot pass vacuously.
 */
const TOLERANCE = 1e-4;
const EPS = 1e-6;

type Op = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
const lnOp: Op = (x, g, b) => layerNorm(x, g, b, EPS);
const grnOp: Op = (x, g, b) => grn(x as tf.Tensor4D, g, b, EPS);

/** The definitions, differentiated by tfjs's autodiff on cpu: the reference. */
const plainOps = new Map<Op, Op>([
  [
    lnOp,
    (x, g, b) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, EPS))), g), b);
    },
  ],
  [
    grnOp,
    (x, g, b) => {
      const gx = tf.sqrt(tf.add(tf.sum(tf.square(x), [1, 2], true), 1e-12));
      const nx = tf.div(gx, tf.add(tf.mean(gx, -1, true), EPS));
      return tf.add(tf.add(tf.mul(g, tf.mul(x, nx)), b), x);
    },
  ],
]);

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** x scaled and offset per channel (LayerNorm must remove both), γ and β away from 1 and 0. */
function inputs(seed: number, shape: number[]): HostTensor[] {
  const rng = new Rng(seed);
  const x = randomHostTensor(rng, shape);
  const c = shape[shape.length - 1];
  x.values.forEach((v, i) => (x.values[i] = v * (1 + (i % c)) + 3 * ((i % c) - c / 2)));
  const gamma = randomHostTensor(rng, [c]);
  const beta = randomHostTensor(rng, [c]);
  return [x, gamma, beta];
}

async function forwardOn(backend: string, f: Op, xs: HostTensor[]): Promise<Float32Array> {
  await tf.setBackend(backend);
  const out = tf.tidy(() =>
    f(...(xs.map((h) => tf.tensor(h.values, h.shape)) as [tf.Tensor, tf.Tensor, tf.Tensor])),
  );
  const values = (await out.data()) as Float32Array;
  out.dispose();
  return values;
}

/** Max relative error of `f` on wasm against its definition on cpu: the output, then each input's gradient. */
async function errors(f: Op, xs: HostTensor[], seed: number): Promise<number[]> {
  const plain = plainOps.get(f)!;
  const cpuOut = await forwardOn('cpu', plain, xs);
  const wasmOut = await forwardOn('wasm', f, xs);
  const shape = xs[0].shape;
  const dy = randomHostTensor(new Rng(seed + 1), shape);
  const wasm = await gradientsOn('wasm', (...ts: tf.Tensor[]) => f(ts[0], ts[1], ts[2]), xs, dy);
  const cpu = await gradientsOn('cpu', (...ts: tf.Tensor[]) => plain(ts[0], ts[1], ts[2]), xs, dy);
  await tf.setBackend('wasm');
  return [maxRelativeError(wasmOut, cpuOut), ...cpu.map((ref, i) => maxRelativeError(wasm[i], ref))];
}

/** Whether `f` on these inputs takes the fused kernels on wasm (so the check tests them). */
function fusedOnWasm(fused: Op, xs: HostTensor[]): boolean {
  return tf.tidy(
    () =>
      fused(
        ...(xs.map((h) => tf.tensor(h.values, h.shape)) as [tf.Tensor, tf.Tensor, tf.Tensor]),
      ) as unknown as boolean,
  );
}

const lnFused: Op = (x, g, b) => isLayerNormFused(x, g, b) as unknown as tf.Tensor;
const grnFused: Op = (x, g, b) => isGrnFused(x, g, b) as unknown as tf.Tensor;

const layerNormCases: [string, number[]][] = [
  ['NHWC block norm, 8 channels', [2, 5, 7, 8]],
  ['300 rows of 4 (dγ, dβ over more than one 256-row block)', [3, 100, 4]],
  ['head tokens, 128 channels', [4, 6, 128]],
  ['final norm, 256 channels, 2-D', [9, 256]],
];

const grnCases: [string, number[]][] = [
  ['8 channels, odd map', [2, 5, 7, 8]],
  ['stage-1 shape (hidden 64), batch 3', [3, 16, 16, 64]],
  ['one image, 1×1 map', [1, 1, 1, 12]],
];

describe('fused LayerNorm on wasm matches the composed ops on cpu', () => {
  it.each(layerNormCases)('%s', async (_name, shape) => {
    const xs = inputs(
      shape.reduce((a, b) => a * 7 + b, 1),
      shape,
    );
    await tf.setBackend('wasm');
    expect(fusedOnWasm(lnFused, xs)).toBe(true);
    for (const e of await errors(lnOp, xs, 5)) expect(e).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('fused GRN on wasm matches the composed ops on cpu', () => {
  it.each(grnCases)('%s', async (_name, shape) => {
    const xs = inputs(
      shape.reduce((a, b) => a * 11 + b, 2),
      shape,
    );
    await tf.setBackend('wasm');
    expect(fusedOnWasm(grnFused, xs)).toBe(true);
    for (const e of await errors(grnOp, xs, 9)) expect(e).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('the composed fallback on wasm', () => {
  it('runs for channels not a multiple of 4, and matches cpu', async () => {
    const ln = inputs(3, [2, 3, 5, 6]);
    await tf.setBackend('wasm');
    expect(fusedOnWasm(lnFused, ln)).toBe(false);
    for (const e of await errors(lnOp, ln, 1)) expect(e).toBeLessThanOrEqual(TOLERANCE);
    const g = inputs(4, [2, 3, 5, 6]);
    expect(fusedOnWasm(grnFused, g)).toBe(false);
    for (const e of await errors(grnOp, g, 2)) expect(e).toBeLessThanOrEqual(TOLERANCE);
  });

  it.each([
    ['without the SIMD helpers', () => Object.assign(simdHelperSwitch, { enabled: false })],
    ['with the switch off', () => Object.assign(fusedNormSwitch, { enabled: false })],
  ] as [string, () => void][])('runs %s', async (_name, turnOff) => {
    const saved = [{ ...simdHelperSwitch }, { ...fusedNormSwitch }] as const;
    try {
      turnOff();
      const xs = inputs(8, [2, 4, 4, 8]);
      await tf.setBackend('wasm');
      expect(fusedOnWasm(lnFused, xs)).toBe(false);
      expect(fusedOnWasm(grnFused, xs)).toBe(false);
      for (const e of await errors(lnOp, xs, 3)) expect(e).toBeLessThanOrEqual(TOLERANCE);
      for (const e of await errors(grnOp, xs, 4)) expect(e).toBeLessThanOrEqual(TOLERANCE);
    } finally {
      Object.assign(simdHelperSwitch, saved[0]);
      Object.assign(fusedNormSwitch, saved[1]);
    }
  });
});

describe('fused kernels free their intermediates', () => {
  it('leaves no wasm memory behind after a LayerNorm and a GRN gradient', async () => {
    const xs = inputs(6, [2, 4, 4, 8]);
    const dy = randomHostTensor(new Rng(6), [2, 4, 4, 8]);
    const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => grnOp(lnOp(x, g, b), g, b);
    await gradientsOn('wasm', f, xs, dy);
    const before = tf.engine().findBackend('wasm')!.numDataIds();
    await gradientsOn('wasm', f, xs, dy);
    expect(tf.engine().findBackend('wasm')!.numDataIds()).toBe(before);
  });
});

describe('mutation checks: the comparisons above fail on a wrong kernel', () => {
  // [kernel, output, which error must exceed the tolerance: 0 the value, 1 + i input i's gradient]
  const mutants: [string, Op, number[], string, number, number][] = [
    ['LayerNorm y', lnOp, [2, 5, 7, 8], PhccLayerNorm, 0, 0],
    ['LayerNorm (mean, rstd) → dx', lnOp, [2, 5, 7, 8], PhccLayerNorm, 1, 1],
    ['LayerNorm dx', lnOp, [2, 5, 7, 8], PhccLayerNormGrad, 0, 1],
    ['LayerNorm dγ', lnOp, [2, 5, 7, 8], PhccLayerNormGrad, 1, 2],
    ['LayerNorm dβ', lnOp, [2, 5, 7, 8], PhccLayerNormGrad, 2, 3],
    ['GRN y', grnOp, [2, 5, 7, 8], PhccGrn, 0, 0],
    ['GRN norms → dx', grnOp, [2, 5, 7, 8], PhccGrn, 1, 1],
    ['GRN denominators → dx', grnOp, [2, 5, 7, 8], PhccGrn, 2, 1],
    ['GRN dx', grnOp, [2, 5, 7, 8], PhccGrnGrad, 0, 1],
    ['GRN dγ', grnOp, [2, 5, 7, 8], PhccGrnGrad, 1, 2],
    ['GRN dβ', grnOp, [2, 5, 7, 8], PhccGrnGrad, 2, 3],
  ];
  it.each(mutants.map(([name, ...rest]) => [name, ...rest] as const))(
    '%s',
    async (_name, op, shape, kernelName, output, caughtBy) => {
      const xs = inputs(12, shape);
      await withNudgedKernel(
        kernelName,
        TOLERANCE,
        async () => {
          const errs = await errors(op, xs, 13);
          expect(errs[caughtBy]).toBeGreaterThan(TOLERANCE);
        },
        { output },
      );
      // And the real kernel, restored, passes the same check.
      for (const e of await errors(op, xs, 13)) expect(e).toBeLessThanOrEqual(TOLERANCE);
    },
  );
});

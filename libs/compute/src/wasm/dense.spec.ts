import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import {
  gradientsOn,
  HostTensor,
  maxRelativeError,
  randomHostTensor,
  withNudgedKernel,
} from '../gradient-check';
import { dense, fusedDenseSwitch, isDenseFused } from '../ops/dense';
import { initBackend } from '../select';
import { timeInnerKernels } from './wasm-ops';
import { PhccDense } from './kernels/PhccDense';
import { PhccDenseGrad } from './kernels/PhccDenseGrad';

/**
 * The one-dispatch dense layer (kernels/PhccDense.ts, PhccDenseGrad.ts): value and the gradients
 * of x, W and b against autodiff of x · W + b on the cpu backend; bit for bit the composed op on
 * wasm (same inner kernels); and mutation checks (an output nudged by 10× the tolerance must fail).
 */
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

afterEach(() => {
  fusedDenseSwitch.enabled = true;
});

type Op = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
const definition: Op = (x, w, b) => {
  const [k, n] = w.shape as [number, number];
  return tf.reshape(tf.add(tf.matMul(tf.reshape(x, [-1, k]), w), b), [...x.shape.slice(0, -1), n]);
};

function inputs(seed: number, xShape: number[], outDim: number): HostTensor[] {
  const rng = new Rng(seed);
  const k = xShape[xShape.length - 1];
  return [randomHostTensor(rng, xShape), randomHostTensor(rng, [k, outDim]), randomHostTensor(rng, [outDim])];
}

const tensors = (xs: HostTensor[]) =>
  xs.map((h) => tf.tensor(h.values, h.shape)) as [tf.Tensor, tf.Tensor, tf.Tensor];

/** Max relative error on wasm against the definition on cpu: the value, dx, dW, db. */
async function errors(xs: HostTensor[], seed: number): Promise<number[]> {
  const run = async (backend: string, f: Op) => {
    await tf.setBackend(backend);
    const out = tf.tidy(() => f(...tensors(xs)));
    const values = (await out.data()) as Float32Array;
    out.dispose();
    return values;
  };
  const cpuOut = await run('cpu', definition);
  const wasmOut = await run('wasm', dense);
  const outShape = [...xs[0].shape.slice(0, -1), xs[1].shape[1]];
  const dy = randomHostTensor(new Rng(seed), outShape);
  const wasm = await gradientsOn('wasm', (x, w, b) => dense(x, w, b), xs, dy);
  const cpu = await gradientsOn('cpu', definition, xs, dy);
  await tf.setBackend('wasm');
  return [maxRelativeError(wasmOut, cpuOut), ...cpu.map((ref, i) => maxRelativeError(wasm[i], ref))];
}

const cases: [string, number[], number][] = [
  ['NHWC pointwise, 8 → 32', [2, 4, 4, 8], 32],
  ['rows not a multiple of 4, 5 → 3', [3, 7, 5], 3],
  ['2-D head layer, 64 → 1', [6, 64], 1],
  // Large enough for our GEMM, so the bias is added in its registers (`gemmRowsBias`); the
  // second with k over one 256-wide chunk, so after the last chunk only.
  ['NHWC pointwise on our GEMM, 48 → 64', [4, 16, 16, 48], 64],
  ['k over one GEMM chunk, 320 → 16', [2, 8, 8, 320], 16],
];

/** Which inner kernels one forward ran (BatchMatMul and Add unless the bias epilogue was taken). */
function innerKernelsOfForward(xs: HostTensor[]): string[] {
  timeInnerKernels(true);
  tf.tidy(() => dense(...tensors(xs)).dataSync());
  return [...timeInnerKernels(false).keys()].sort();
}

describe('one-dispatch dense on wasm matches x · W + b on cpu', () => {
  it.each(cases)('%s', async (_name, shape, outDim) => {
    const xs = inputs(shape.length * 13 + outDim, shape, outDim);
    await tf.setBackend('wasm');
    expect(tf.tidy(() => isDenseFused(...tensors(xs)))).toBe(true);
    for (const e of await errors(xs, 3)) expect(e).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('one-dispatch dense against the composed op on wasm', () => {
  it.each([
    ['on XNNPACK', [2, 4, 4, 12], 24, ['Add', 'BatchMatMul', 'Reshape']],
    ['on our GEMM, bias in its registers', [4, 16, 16, 48], 64, ['Reshape']],
    ['on our GEMM over two k-chunks', [2, 8, 8, 320], 16, ['Reshape']],
  ] as const)(
    '%s: the same value and gradients, bit for bit, in at least 6 fewer dispatches',
    async (_name, xShape, n, inner) => {
      const xs = inputs(21, [...xShape], n);
      const dy = randomHostTensor(new Rng(22), [...xShape.slice(0, -1), n]);
      expect(innerKernelsOfForward(xs)).toEqual(inner);
      await tf.setBackend('wasm');
      const once = async (fused: boolean) => {
        fusedDenseSwitch.enabled = fused;
        const value = tf.tidy(() => Array.from(dense(...tensors(xs)).dataSync()));
        const grads = (await gradientsOn('wasm', dense, xs, dy)).map((g) => Array.from(g));
        const profile = await tf.profile(() => {
          tf.tidy(() =>
            tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(dense(x, w, b)))(tensors(xs)),
          );
        });
        const dispatches = profile.kernels.filter(
          (k) => !['Identity', 'Sum', 'Fill', 'unnamed scope'].includes(k.name),
        );
        return { value, grads, dispatches: dispatches.length };
      };
      const fused = await once(true);
      const composed = await once(false);
      expect(fused.value).toEqual(composed.value);
      expect(fused.grads).toEqual(composed.grads);
      // tf.sum and its gradient's Reshape + Tile are the rest of the graph, both ways.
      expect(composed.dispatches - fused.dispatches).toBeGreaterThanOrEqual(6);
    },
  );

  it('computes only the gradients asked for (a frozen layer: x only)', async () => {
    const xs = inputs(23, [2, 3, 3, 8], 4);
    await tf.setBackend('wasm');
    const profile = await tf.profile(() => {
      tf.tidy(() => {
        const [x, w, b] = tensors(xs);
        tf.grad((v: tf.Tensor) => tf.sum(dense(v, w, b)))(x);
      });
    });
    expect(profile.kernels.filter((k) => k.name === PhccDenseGrad)).toHaveLength(1);
  });

  it('leaves no wasm memory behind after a gradient', async () => {
    const xs = inputs(24, [2, 4, 4, 8], 8);
    const dy = randomHostTensor(new Rng(24), [2, 4, 4, 8]);
    await gradientsOn('wasm', dense, xs, dy);
    const before = tf.engine().findBackend('wasm')!.numDataIds();
    await gradientsOn('wasm', dense, xs, dy);
    expect(tf.engine().findBackend('wasm')!.numDataIds()).toBe(before);
  });
});

describe('mutation checks: the comparison above fails on a wrong kernel', () => {
  it.each([
    ['dense y', PhccDense, undefined, 0],
    ['dense dx', PhccDenseGrad, 'x', 1],
    ['dense dW', PhccDenseGrad, 'kernel', 2],
    ['dense db', PhccDenseGrad, 'bias', 3],
  ] as [string, string, string | undefined, number][])('%s', async (_name, kernelName, part, caughtBy) => {
    const xs = inputs(25, [2, 4, 4, 8], 16);
    await withNudgedKernel(
      kernelName,
      TOLERANCE,
      async () => {
        expect((await errors(xs, 26))[caughtBy]).toBeGreaterThan(TOLERANCE);
      },
      { part },
    );
    for (const e of await errors(xs, 26)) expect(e).toBeLessThanOrEqual(TOLERANCE);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../common/src';

/** A tensor given as plain data, so the same values can be made on two backends. */
export interface HostTensor {
  shape: number[];
  values: Float32Array;
}

export function randomHostTensor(rng: Rng, shape: number[]): HostTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = rng.normal();
  return { shape, values };
}

/**
 * Gradients of sum(f(xs) · dy) with respect to every x, computed on `backend`: a random dy
 * exercises every output element's path, unlike the implicit all-ones dy.
 */
export async function gradientsOn(
  backend: string,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: HostTensor[],
  dy: HostTensor,
): Promise<Float32Array[]> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const grads = tf.tidy(() => {
      const xs = inputs.map((h) => tf.tensor(h.values, h.shape));
      return tf.grads((...args: tf.Tensor[]) => f(...args))(xs, tf.tensor(dy.values, dy.shape));
    });
    const values = await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>));
    tf.dispose(grads);
    return values;
  } finally {
    await tf.setBackend(previous);
  }
}

/**
 * max|a − b| / max(max|b|, 1e-12): the error relative to the reference gradient's scale. An
 * elementwise ratio would blow up on entries that cancel to ~0 in float32 on both sides.
 */
export function maxRelativeError(actual: Float32Array, reference: Float32Array): number {
  if (actual.length !== reference.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - reference[i]));
    scale = Math.max(scale, Math.abs(reference[i]));
  }
  return Number.isNaN(diff) ? Infinity : diff / Math.max(scale, 1e-12);
}

/** Which output a mutant changes (kernels with several), and for which calls. */
export interface MutantOptions {
  output?: number;
  applies?: (args: Parameters<tf.KernelFunc>[0]) => boolean;
}

/**
 * Runs `body` with `kernelName` on wasm replaced by a mutant: the real kernel, then `mutate` on
 * one output's wasm memory (for the calls `applies` accepts), restoring the real kernel after.
 * Mutation checks use it to show that a comparison can fail on a wrong kernel.
 */
export async function withMutantKernel(
  kernelName: string,
  mutate: (out: Float32Array, info: tf.TensorInfo) => void,
  body: () => Promise<void>,
  { output = 0, applies = () => true }: MutantOptions = {},
): Promise<void> {
  const real = tf.getKernel(kernelName, 'wasm');
  if (!real) throw new Error(`${kernelName} is not registered on wasm`);
  const mutant: tf.KernelFunc = (args) => {
    const result = real.kernelFunc(args) as tf.TensorInfo | tf.TensorInfo[];
    if (!applies(args)) return result;
    const out = Array.isArray(result) ? result[output] : result;
    const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
    mutate(heap.typedArrayFromHeap(out), out);
    return result;
  };
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: mutant });
  try {
    await body();
  } finally {
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(real);
  }
}

/** A mutation: the largest entry moved by `relative` of itself (at least of 1e-3). */
export function nudgeLargest(relative: number): (out: Float32Array) => void {
  return (view) => {
    let at = 0;
    view.forEach((v, i) => (at = Math.abs(v) > Math.abs(view[at]) ? i : at));
    view[at] += relative * Math.max(Math.abs(view[at]), 1e-3);
  };
}

/**
 * The usual mutant: output `output`'s largest entry nudged by 10 × `tolerance`, in the calls whose
 * `part` attribute (PhccDenseGrad's) is `part` when one is given — just past what a check allows.
 */
export function withNudgedKernel(
  kernelName: string,
  tolerance: number,
  body: () => Promise<void>,
  { part, output }: { part?: string; output?: number } = {},
): Promise<void> {
  return withMutantKernel(kernelName, nudgeLargest(10 * tolerance), body, {
    output,
    applies: (args) => part === undefined || (args.attrs as { part?: string }).part === part,
  });
}

/**
 * A [B, R, R, 1] keep map from a random [B, G, G] patch grid (each cell kept with probability
 * `keptFraction`), each cell an (R/G)×(R/G) block, as MaskPyramid builds it.
 */
export function patchKeepMap(
  rng: Rng,
  batch: number,
  grid: number,
  resolution: number,
  keptFraction: number,
): HostTensor {
  const factor = resolution / grid;
  const values = new Float32Array(batch * resolution * resolution);
  for (let b = 0; b < batch; b++)
    for (let gy = 0; gy < grid; gy++)
      for (let gx = 0; gx < grid; gx++) {
        if (!rng.bernoulli(keptFraction)) continue;
        for (let y = 0; y < factor; y++)
          for (let x = 0; x < factor; x++)
            values[(b * resolution + gy * factor + y) * resolution + gx * factor + x] = 1;
      }
  return { shape: [batch, resolution, resolution, 1], values };
}

/**
 * Max relative errors of `ours` on wasm against `reference` on cpu, on the same inputs: the value,
 * then the gradient of each input for a random dy of the output's shape (seeded).
 */
export async function errorsAgainstCpu(
  reference: (...t: tf.Tensor[]) => tf.Tensor,
  ours: (...t: tf.Tensor[]) => tf.Tensor,
  xs: HostTensor[],
  seed: number,
): Promise<number[]> {
  const value = async (backend: string, f: (...t: tf.Tensor[]) => tf.Tensor) => {
    await tf.setBackend(backend);
    const out = tf.tidy(() => f(...xs.map((h) => tf.tensor(h.values, h.shape))));
    const result = { values: (await out.data()) as Float32Array, shape: out.shape };
    out.dispose();
    return result;
  };
  const cpuOut = await value('cpu', reference);
  const wasmOut = await value('wasm', ours);
  if (wasmOut.shape.join() !== cpuOut.shape.join())
    throw new Error(`ours gave [${wasmOut.shape}], the reference [${cpuOut.shape}]`);
  const dy = randomHostTensor(new Rng(seed), cpuOut.shape);
  const wasm = await gradientsOn('wasm', ours, xs, dy);
  const cpu = await gradientsOn('cpu', reference, xs, dy);
  await tf.setBackend('wasm');
  return [
    maxRelativeError(wasmOut.values, cpuOut.values),
    ...cpu.map((ref, i) => maxRelativeError(wasm[i], ref)),
  ];
}

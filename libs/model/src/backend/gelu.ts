import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { simdHelpers } from './simd/helpers';
import { replaceWasmKernel, WasmOps } from './wasm-ops';

/**
 * GELU (tanh form) as one fused wasm kernel forward and one backward. Composed from tfjs ops it
 * is ≈ 8 elementwise kernels forward and ≈ 15 backward, each a pass over the activation, with a
 * slow generic tanh: 123 ms forward + backward on a [16, 32, 32, 128] activation, the largest
 * item of a pHCC-SSL step after the matmuls. The kernels exist on wasm only, and only while the
 * SIMD helpers are on; `fusedGelu` returns undefined otherwise and callers compose the ops.
 */
const FORWARD = 'PhccGelu';
const BACKWARD = 'PhccGeluGrad';

const forward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const helpers = simdHelpers(backend);
  if (!helpers) throw new Error(`${FORWARD} needs the wasm SIMD helpers`);
  const ops = new WasmOps(backend);
  const y = ops.empty(x.shape);
  helpers.geluForward(ops.pointer(x), ops.pointer(y), tf.util.sizeFromShape(x.shape));
  return ops.finish(y);
};

const backward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const helpers = simdHelpers(backend);
  if (!helpers) throw new Error(`${BACKWARD} needs the wasm SIMD helpers`);
  const ops = new WasmOps(backend);
  const dx = ops.empty(x.shape);
  helpers.geluBackward(ops.pointer(x), ops.pointer(dy), ops.pointer(dx), tf.util.sizeFromShape(x.shape));
  return ops.finish(dx);
};

/** Registers the fused kernels on wasm (called with the other replacements). */
export function registerFusedGelu(): void {
  replaceWasmKernel(FORWARD, forward);
  replaceWasmKernel(BACKWARD, backward);
}

// customGrad's parameter type lists inputs and the save function in one rest array.
type CustomGradFunc = Parameters<typeof tf.customGrad>[0];

const geluOp = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: tf.engine().runKernel(FORWARD, { x }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.engine().runKernel(BACKWARD, { x: saved[0], dy }) as tf.Tensor,
  };
}) as unknown as CustomGradFunc) as (x: tf.Tensor) => tf.Tensor;

/** GELU through the fused kernels, or undefined where they are not available. */
export function fusedGelu(x: tf.Tensor): tf.Tensor | undefined {
  if (x.dtype !== 'float32' || tf.getBackend() !== 'wasm' || !tf.getKernel(FORWARD, 'wasm')) return undefined;
  if (!simdHelpers(tf.backend())) return undefined;
  return geluOp(x);
}

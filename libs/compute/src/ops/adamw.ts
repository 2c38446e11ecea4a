import * as tf from '@tensorflow/tfjs-core';
import { AdamWHyper, PhccAdamW } from '../wasm/kernels/PhccAdamW';
import { heapPointer, simdHelpers } from '../wasm/simd/helpers';

export type { AdamWHyper } from '../wasm/kernels/PhccAdamW';

/**
 * Switch for AdamW on the wasm heap (`adamwStep`): `PHCC_WASM_ADAMW=0` (or the before/after bench
 * setting `enabled`) keeps the moments in JS arrays and updates there, as before issue #19's
 * change. The same bits either way (tested).
 */
export const wasmAdamWSwitch = { enabled: process.env.PHCC_WASM_ADAMW !== '0' };

/** Whether `adamwStep` and `squaredNorm` run here: wasm with its SIMD helpers, switched on. */
export function wasmAdamWAvailable(): boolean {
  return (
    wasmAdamWSwitch.enabled &&
    tf.getBackend() === 'wasm' &&
    tf.getKernel(PhccAdamW, 'wasm') !== undefined &&
    simdHelpers(tf.backend()) !== undefined
  );
}

/**
 * One AdamW step of one parameter: the new weights (a new tensor), with the moments m and v
 * updated in place (kernels/PhccAdamW.ts: they must be tensors nothing else holds). wasm only.
 */
export function adamwStep(
  param: tf.Tensor,
  grad: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  hyper: AdamWHyper,
): tf.Tensor {
  return tf.engine().runKernel(PhccAdamW, { param, grad, m, v }, { ...hyper }) as tf.Tensor;
}

/**
 * Σ g² over every tensor, in float64 and in the order given (one running sum, as the JS gradient
 * norm adds them, so the same bits), read where the gradients lie. wasm only.
 */
export function squaredNorm(grads: Iterable<tf.Tensor>): number {
  const backend = tf.backend();
  const helpers = simdHelpers(backend);
  if (!helpers) throw new Error('squaredNorm needs the wasm SIMD helpers');
  let sum = 0;
  for (const g of grads) {
    if (g.dtype !== 'float32') throw new Error(`squaredNorm: a ${g.dtype} gradient`);
    sum = helpers.sumSquares(heapPointer(backend, g), g.size, sum);
  }
  return sum;
}

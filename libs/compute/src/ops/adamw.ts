import * as tf from '@tensorflow/tfjs-core';
import { AdamWHyper, PhccAdamW } from '../wasm/kernels/PhccAdamW';
import { heapPointer, simdHelpers } from '../wasm/simd/helpers';
import { ADAMW_HYPER } from '../wasm/simd/optimizer-wat';

export type { AdamWHyper } from '../wasm/kernels/PhccAdamW';

/**
 * Switch for AdamW on the wasm heap (`adamwSteps`): `PHCC_WASM_ADAMW=0` (or the before/after bench
 * setting `enabled`) keeps the moments in JS arrays and updates there, as before issue #19's
 * change. The same bits either way (tested).
 */
export const wasmAdamWSwitch = { enabled: process.env.PHCC_WASM_ADAMW !== '0' };

/** Whether `adamwSteps` and `squaredNorm` run here: wasm with its SIMD helpers, switched on. */
export function wasmAdamWAvailable(): boolean {
  return (
    wasmAdamWSwitch.enabled &&
    tf.getBackend() === 'wasm' &&
    tf.getKernel(PhccAdamW, 'wasm') !== undefined &&
    simdHelpers(tf.backend()) !== undefined
  );
}

/** One parameter's part of an AdamW update on the heap. */
export interface AdamWItem {
  param: tf.Tensor;
  grad: tf.Tensor;
  /** The moments: tensors only the optimiser holds, written in place. */
  m: tf.Tensor;
  v: tf.Tensor;
  hyper: AdamWHyper;
}

/**
 * One AdamW step of every item as one dispatch: each parameter's new weights (new tensors, in
 * the items' order), with the moments updated in place (kernels/PhccAdamW.ts). wasm only.
 */
export function adamwSteps(items: readonly AdamWItem[]): tf.Tensor[] {
  if (items.length === 0) return [];
  const inputs = items.flatMap((item) => [item.param, item.grad, item.m, item.v]);
  const hyper = items.flatMap((item) => ADAMW_HYPER.map((name) => item.hyper[name]));
  // Inputs as an array, as tfjs's own Concat and Pack take theirs.
  return tf.engine().runKernel(PhccAdamW, inputs as unknown as tf.NamedTensorMap, { hyper }) as tf.Tensor[];
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

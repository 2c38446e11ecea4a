import * as tf from '@tensorflow/tfjs-core';
import { ParamStore } from '../network/params';

/**
 * Every weight of a store in one flat buffer, in the store's definition order: how the main
 * thread hands its current model to gradient replicas each step. A SharedArrayBuffer costs one
 * copy in and one per replica out, whatever the number of replicas.
 */
export function readWeights(store: ParamStore, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(new SharedArrayBuffer(store.count() * 4));
  if (out.length !== store.count())
    throw new Error(`weights buffer holds ${out.length} values, the model ${store.count()}`);
  let offset = 0;
  for (const variable of store.variables()) {
    out.set(variable.dataSync() as Float32Array, offset);
    offset += variable.size;
  }
  return out;
}

/**
 * Overwrites the weights of `store` from a buffer `readWeights` wrote (same model config).
 * With `previous` (what the store holds now, in the same layout), parameters whose values did not
 * change (a frozen encoder, the part a stage does not train) keep their tensors, and with them
 * whatever the backend caches per weight tensor (wasm keys its packed XNNPACK operators by it).
 * Returns the values the store now holds (a private copy).
 */
export function writeWeights(
  store: ParamStore,
  weights: Float32Array,
  previous?: Float32Array,
): Float32Array {
  if (weights.length !== store.count())
    throw new Error(`weights buffer holds ${weights.length} values, the model ${store.count()}`);
  // A copy: the buffer is the main thread's, rewritten every step (and the cpu backend would keep
  // a view of whatever array a tensor was made from).
  const current = weights.slice();
  let offset = 0;
  for (const variable of store.variables()) {
    const end = offset + variable.size;
    if (!previous || !sameValues(previous, current, offset, end)) {
      const values = tf.tensor(current.subarray(offset, end), variable.shape, 'float32');
      variable.assign(values);
      values.dispose();
    }
    offset = end;
  }
  return current;
}

function sameValues(a: Float32Array, b: Float32Array, begin: number, end: number): boolean {
  for (let i = begin; i < end; i++) if (a[i] !== b[i]) return false;
  return true;
}

import * as tf from '@tensorflow/tfjs-core';

/** The part of tfjs-backend-wasm's BackendWasm used here (its class is not re-exported typed). */
interface WasmHeapView {
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/**
 * Copies a float32 tensor's values into `target` from `offset`, without the fresh array
 * `dataSync` returns: on wasm straight from a view of the heap. A step that downloads its
 * gradients every time (a data-parallel replica: 3.5 MB of them for pHCC-SSL) then allocates
 * nothing the garbage collector must chase, which it did about once a step.
 */
export function readInto(t: tf.Tensor, target: Float32Array, offset = 0): void {
  if (t.dtype !== 'float32') throw new Error(`readInto: a ${t.dtype} tensor`);
  if (offset + t.size > target.length)
    throw new Error(`readInto: ${t.size} values do not fit at ${offset} of ${target.length}`);
  const backend = tf.backend();
  if (tf.getBackend() === 'wasm' && 'typedArrayFromHeap' in backend) {
    target.set((backend as unknown as WasmHeapView).typedArrayFromHeap(t), offset);
    return;
  }
  target.set(t.dataSync() as Float32Array, offset);
}

import * as tf from '@tensorflow/tfjs-core';
import { WeightCodecError } from '../../../weights/src';
import type { NamedArray } from '../../../weights/src';

/**
 * The only place the codec meets tfjs: everything else in codec/ stays tfjs-free so the
 * coordinator can decode, check and aggregate weights without loading a backend. Values are
 * always copied across, because tfjs's cpu backend keeps (and hands out) the very Float32Array
 * it was given: sharing it would let in-place arithmetic on named arrays change a live tensor.
 */

/** Tensors (a name → tensor map, or named variables) as float32 named arrays, read synchronously. */
export function tensorsToNamedArrays(tensors: tf.NamedTensorMap | readonly tf.Variable[]): NamedArray[] {
  return entriesOf(tensors).map(([name, tensor]) => ({
    name,
    shape: [...tensor.shape],
    values: toFloat32Copy(tensor.dataSync(), name, tensor.dtype),
  }));
}

/** As `tensorsToNamedArrays`, but reads with `data()` so GPU backends need not block. */
export async function tensorsToNamedArraysAsync(
  tensors: tf.NamedTensorMap | readonly tf.Variable[],
): Promise<NamedArray[]> {
  const entries = entriesOf(tensors);
  const data = await Promise.all(entries.map(([, tensor]) => tensor.data()));
  return entries.map(([name, tensor], i) => ({
    name,
    shape: [...tensor.shape],
    values: toFloat32Copy(data[i], name, tensor.dtype),
  }));
}

/** Named arrays as new float32 tensors, keyed by name; the caller disposes them. */
export function namedArraysToTensors(arrays: readonly NamedArray[]): tf.NamedTensorMap {
  const tensors: tf.NamedTensorMap = {};
  for (const { name, shape, values } of arrays) {
    if (name in tensors) {
      disposeAll(tensors);
      throw new WeightCodecError(`weights: tensor "${name}" given twice`, 'DUPLICATE_NAME', name);
    }
    tensors[name] = tf.tensor(values.slice(), shape, 'float32');
  }
  return tensors;
}

function entriesOf(tensors: tf.NamedTensorMap | readonly tf.Variable[]): [string, tf.Tensor][] {
  if (Array.isArray(tensors)) return (tensors as readonly tf.Variable[]).map((v) => [v.name, v]);
  return Object.entries(tensors as tf.NamedTensorMap);
}

function toFloat32Copy(data: unknown, name: string, dtype: tf.DataType): Float32Array {
  if (data instanceof Float32Array) return data.slice();
  if (data instanceof Int32Array || data instanceof Uint8Array) return Float32Array.from(data);
  throw new WeightCodecError(
    `weights: tensor "${name}" has dtype ${dtype}, not a numeric one`,
    'UNKNOWN_DTYPE',
    name,
  );
}

function disposeAll(tensors: tf.NamedTensorMap): void {
  for (const tensor of Object.values(tensors)) tensor.dispose();
}

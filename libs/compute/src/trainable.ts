import * as tf from '@tensorflow/tfjs-core';

/**
 * The contract between a network and the trainers (single-process and worker data-parallel).
 * The Model issue implements it for pHCC-SSL; `reference-cnn.ts` is the benchmark's instance.
 */
export interface TrainableModel {
  /** Trainable weights, in a fixed order: the order gradients travel between workers. */
  readonly variables: tf.Variable[];
  /**
   * Mean loss over the batch's first axis. Data parallelism relies on "mean over samples": a
   * shard's gradient weighted by its share of the batch sums to the full batch's gradient, so
   * layers that couple samples (batch norm) would break that equivalence.
   */
  loss(batch: Record<string, tf.Tensor>): tf.Scalar;
  dispose(): void;
}

/** Builds a model from a plain-JSON config; what a worker module exports as `createTrainable`. */
export type TrainableFactory<Config = unknown> = (config: Config) => TrainableModel;

/** A batch as plain typed arrays, so it can cross a worker boundary and be split into shards. */
export interface HostArray {
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}
export type HostBatch = Record<string, HostArray>;

export function toTensors(batch: HostBatch): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, a] of Object.entries(batch)) out[name] = tf.tensor(a.values, a.shape, a.dtype);
  return out;
}

/** Rows [begin, end) of every array in the batch (first axis = samples). */
export function sliceBatch(batch: HostBatch, begin: number, end: number): HostBatch {
  const out: HostBatch = {};
  for (const [name, a] of Object.entries(batch)) {
    const rowSize = a.shape.slice(1).reduce((p, q) => p * q, 1);
    out[name] = {
      shape: [end - begin, ...a.shape.slice(1)],
      dtype: a.dtype,
      values: a.values.slice(begin * rowSize, end * rowSize),
    };
  }
  return out;
}

export function batchSize(batch: HostBatch): number {
  const sizes = new Set(Object.values(batch).map((a) => a.shape[0]));
  if (sizes.size !== 1)
    throw new Error(`batch arrays disagree on the number of samples: ${[...sizes].join(', ')}`);
  return [...sizes][0];
}

/** Every variable's values concatenated in `variables` order (the wire format of weights). */
export function flattenVariables(variables: tf.Variable[]): Float32Array {
  const total = variables.reduce((n, v) => n + v.size, 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const v of variables) {
    out.set(v.dataSync() as Float32Array, offset);
    offset += v.size;
  }
  return out;
}

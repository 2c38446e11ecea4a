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

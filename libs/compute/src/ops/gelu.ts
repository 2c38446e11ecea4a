import * as tf from '@tensorflow/tfjs-core';
import { PhccGelu } from '../wasm/kernels/PhccGelu';
import { PhccGeluGrad } from '../wasm/kernels/PhccGeluGrad';
import { simdHelpers } from '../wasm/simd/helpers';

// customGrad's parameter type lists inputs and the save function in one rest array.
type CustomGradFunc = Parameters<typeof tf.customGrad>[0];

const geluOp = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: tf.engine().runKernel(PhccGelu, { x }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.engine().runKernel(PhccGeluGrad, { x: saved[0], dy }) as tf.Tensor,
  };
}) as unknown as CustomGradFunc) as (x: tf.Tensor) => tf.Tensor;

/** GELU through the fused kernels, or undefined where they are not available. */
export function fusedGelu(x: tf.Tensor): tf.Tensor | undefined {
  if (x.dtype !== 'float32' || tf.getBackend() !== 'wasm' || !tf.getKernel(PhccGelu, 'wasm'))
    return undefined;
  if (!simdHelpers(tf.backend())) return undefined;
  return geluOp(x);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh form (wasm has no erf gradient): one fused kernel each way on wasm with the SIMD
 * helpers, else built from ops every backend can differentiate.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  const fused = fusedGelu(x);
  if (fused) return fused;
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), GELU_C);
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

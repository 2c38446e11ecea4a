import * as tf from '@tensorflow/tfjs-core';
import { PhccDense } from '../wasm/kernels/PhccDense';
import { DensePart, PhccDenseGrad } from '../wasm/kernels/PhccDenseGrad';
import { gatherRows, rowKernelsAvailable, scatterRows } from './rows';

/**
 * Switch for the one-dispatch dense layer: `PHCC_FUSED_DENSE=0` (or the before/after bench
 * setting `enabled`) runs the composed Reshape · BatchMatMul · Add · Reshape instead.
 */
export const fusedDenseSwitch = { enabled: process.env.PHCC_FUSED_DENSE !== '0' };

/**
 * Switch for the masked encoder's row skipping (`maskedDense` in its pointwise layers):
 * `PHCC_MASKED_DENSE=0` (or the before/after bench setting `enabled`) runs them dense on every row
 * and zeroes downstream, as before issue #19's change. Same results either way (tested).
 */
export const maskedDenseSwitch = { enabled: process.env.PHCC_MASKED_DENSE !== '0' };

/**
 * PhccDense's gradient in tfjs's gradient registry: one PhccDenseGrad dispatch per input, each a
 * thunk the engine calls only for inputs on the path to what is differentiated.
 */
function registerDenseGradient(): void {
  if (tf.getGradient(PhccDense)) return;
  tf.registerGradient({
    kernelName: PhccDense,
    inputsToSave: ['x', 'kernel'],
    gradFunc: (dy, saved) => {
      const [x, kernel] = saved;
      const grad = (part: DensePart) => () =>
        tf.engine().runKernel(PhccDenseGrad, { dy: dy as tf.Tensor, x, kernel }, { part }) as tf.Tensor;
      return { x: grad('x'), kernel: grad('kernel'), bias: grad('bias') };
    },
  });
}

/** Whether the one-dispatch dense layer runs (wasm, float32, W [K, N], b [N]). */
export function isDenseFused(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor): boolean {
  return (
    fusedDenseSwitch.enabled &&
    x.dtype === 'float32' &&
    x.rank >= 2 &&
    kernel.rank === 2 &&
    x.shape[x.rank - 1] === kernel.shape[0] &&
    bias.rank === 1 &&
    bias.size === kernel.shape[1] &&
    tf.getBackend() === 'wasm' &&
    tf.getKernel(PhccDense, 'wasm') !== undefined
  );
}

/**
 * Dense over the last axis of x [..., K] with W [K, N] and b [N] (pointwise 1×1 convolution on
 * NHWC maps): one dispatch each way per input on wasm (kernels/PhccDense.ts, the same inner
 * kernels as the composed op), else Reshape · matMul · add · Reshape.
 */
export function dense(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  if (isDenseFused(x, kernel, bias)) {
    registerDenseGradient();
    return tf.engine().runKernel(PhccDense, { x, kernel, bias }) as tf.Tensor;
  }
  return tf.tidy(() => {
    const [inDim, outDim] = kernel.shape;
    const y = tf.add(tf.matMul(tf.reshape(x, [-1, inDim]), kernel), bias);
    return tf.reshape(y, [...x.shape.slice(0, -1), outDim]);
  });
}

/**
 * keep ⊙ (x · W + b): a dense layer whose rows where `keep` is 0 are zero, for x [..., K] and a
 * keep map of x's leading shape then 1 (MaskPyramid's [B, R, R, 1]). On wasm only the kept rows
 * are computed, forward and backward: gather them, the dense layer on the compact matrix, scatter
 * back (ops/rows.ts; the gradients gather dy and scatter dx the same way). The masked SSL step's
 * pointwise layers, whose dropped rows are zeroed or unscored downstream. Elsewhere: `dense` × map.
 */
export function maskedDense(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor, keep: tf.Tensor): tf.Tensor {
  if (keep.size * x.shape[x.rank - 1] !== x.size)
    throw new Error(
      `maskedDense: keep map [${keep.shape}] does not have one value per row of x [${x.shape}]`,
    );
  return tf.tidy(() => {
    // The row kernels do not depend on the one-dispatch dense layer: with `fusedDenseSwitch` off
    // the compact rows go through the composed layer, so each switch measures its own change.
    if (!rowKernelsAvailable(x, keep)) return tf.mul(dense(x, kernel, bias), keep);
    const compact = dense(gatherRows(x, keep), kernel, bias);
    return scatterRows(compact, keep, [...x.shape.slice(0, -1), kernel.shape[1] as number]);
  });
}

import * as tf from '@tensorflow/tfjs-core';
import { PhccGelu } from '../wasm/kernels/PhccGelu';
import { PhccGeluGrad } from '../wasm/kernels/PhccGeluGrad';
import { PhccMaskedGelu } from '../wasm/kernels/PhccMaskedGelu';
import { PhccMaskedGeluGrad } from '../wasm/kernels/PhccMaskedGeluGrad';
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

/**
 * Switch for the masked GELU kernel: `PHCC_MASKED_GELU=0` (or the before/after bench setting
 * `enabled`) runs GELU and the mask multiply as two ops instead, as the fused-norm switch does.
 */
export const maskedGeluSwitch = { enabled: process.env.PHCC_MASKED_GELU !== '0' };

/**
 * PhccMaskedGelu's gradient, registered with tfjs's gradient registry rather than through
 * customGrad: each input's gradient is a thunk the engine calls only for inputs on the path to
 * what is differentiated, so the keep map's (never needed in training) costs nothing.
 */
function registerMaskedGeluGradient(): void {
  if (tf.getGradient(PhccMaskedGelu)) return;
  tf.registerGradient({
    kernelName: PhccMaskedGelu,
    inputsToSave: ['x', 'keep'],
    gradFunc: (dy, saved) => {
      const [x, keep] = saved;
      const dyT = dy as tf.Tensor;
      return {
        x: () => tf.engine().runKernel(PhccMaskedGeluGrad, { x, dy: dyT, keep }) as tf.Tensor,
        keep: () => tf.sum(tf.mul(dyT, gelu(x)), -1, true),
      };
    },
  });
}

/** Whether the masked GELU kernel can run (wasm with the SIMD helpers, float32, keep [..., 1]). */
export function isMaskedGeluFused(x: tf.Tensor, keep: tf.Tensor): boolean {
  return (
    maskedGeluSwitch.enabled &&
    x.dtype === 'float32' &&
    keep.dtype === 'float32' &&
    keep.rank === x.rank &&
    keep.shape[keep.rank - 1] === 1 &&
    x.shape.slice(0, -1).every((n, i) => keep.shape[i] === n) &&
    tf.getBackend() === 'wasm' &&
    tf.getKernel(PhccMaskedGelu, 'wasm') !== undefined &&
    simdHelpers(tf.backend()) !== undefined
  );
}

/**
 * gelu(x) · keep for a 0/1 keep map of one value per position (x [..., C], keep [..., 1]): the
 * masked SSL encoder's zeroing after GELU. One kernel each way on wasm, computing GELU on kept
 * rows only (kernels/PhccMaskedGelu.ts); elsewhere, and for a keep map of other shape, the two ops.
 */
export function maskedGelu(x: tf.Tensor, keep: tf.Tensor): tf.Tensor {
  if (!isMaskedGeluFused(x, keep)) return tf.tidy(() => tf.mul(gelu(x), keep));
  registerMaskedGeluGradient();
  return tf.engine().runKernel(PhccMaskedGelu, { x, keep }) as tf.Tensor;
}

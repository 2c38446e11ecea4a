import * as tf from '@tensorflow/tfjs-core';
import { PhccLayerNorm } from '../wasm/kernels/PhccLayerNorm';
import { PhccLayerNormGrad } from '../wasm/kernels/PhccLayerNormGrad';
import { simdHelpers } from '../wasm/simd/helpers';
import { fusedNormSwitch } from './fused-norm-switch';

// customGrad's parameter type lists inputs and the save function in one rest array.
type CustomGradFunc = Parameters<typeof tf.customGrad>[0];
type LayerNormOp = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;

const opsByEpsilon = new Map<number, { fused: LayerNormOp; composed: LayerNormOp }>();

/** The two LayerNorm ops for one ε (customGrad fixes its inputs, so ε is bound here). */
function layerNormOps(epsilon: number): { fused: LayerNormOp; composed: LayerNormOp } {
  let ops = opsByEpsilon.get(epsilon);
  if (!ops) {
    ops = { fused: fusedOp(epsilon), composed: composedOp(epsilon) };
    opsByEpsilon.set(epsilon, ops);
  }
  return ops;
}

/** One kernel each way (kernels/PhccLayerNorm.ts, PhccLayerNormGrad.ts). */
function fusedOp(epsilon: number): LayerNormOp {
  return tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, stats] = tf.engine().runKernel(PhccLayerNorm, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
    save([x, stats, gamma]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, s, g] = saved;
        return tf.engine().runKernel(PhccLayerNormGrad, { x: input, dy, gamma: g, stats: s }) as tf.Tensor[];
      },
    };
  }) as unknown as CustomGradFunc) as LayerNormOp;
}

/**
 * LayerNorm from ops every backend has, with its backward written out: autodiff of the forward's
 * nine ops recorded ≈ 25 kernels per norm (each broadcast's Sum, Reshape and Cast), the closed
 * form below 13: with g = dy·γ, dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)), dγ = Σ dy · x̂, dβ = Σ dy.
 */
function composedOp(epsilon: number): LayerNormOp {
  return tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const channels = x.shape[x.shape.length - 1];
    const centred = tf.sub(x, tf.mean(x, -1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), epsilon));
    const normed = tf.mul(centred, rstd);
    save([normed, rstd, gamma]);
    return {
      value: tf.add(tf.mul(normed, gamma), beta),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, r, g] = saved;
        const scaled = tf.mul(dy, g);
        const meanScaled = tf.mean(scaled, -1, true);
        const meanProjected = tf.mean(tf.mul(scaled, xHat), -1, true);
        const dx = tf.mul(tf.sub(tf.sub(scaled, meanScaled), tf.mul(xHat, meanProjected)), r);
        const rows = [-1, channels];
        const dGamma = tf.sum(tf.reshape(tf.mul(dy, xHat), rows), 0);
        const dBeta = tf.sum(tf.reshape(dy, rows), 0);
        return [dx, dGamma, dBeta];
      },
    };
  }) as unknown as CustomGradFunc) as LayerNormOp;
}

/** Whether the fused kernels can run this LayerNorm (wasm with the SIMD helpers, channels % 4 = 0). */
export function isLayerNormFused(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): boolean {
  const channels = x.shape[x.shape.length - 1];
  return (
    fusedNormSwitch.enabled &&
    x.dtype === 'float32' &&
    channels % 4 === 0 &&
    gamma.size === channels &&
    beta.size === channels &&
    tf.getBackend() === 'wasm' &&
    tf.getKernel(PhccLayerNorm, 'wasm') !== undefined &&
    simdHelpers(tf.backend()) !== undefined
  );
}

/**
 * LayerNorm over the last (channel) axis with affine γ, β ([C] each): one fused kernel each way
 * on wasm with the SIMD helpers, else composed from ops every backend can run.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  const ops = layerNormOps(epsilon);
  return isLayerNormFused(x, gamma, beta) ? ops.fused(x, gamma, beta) : ops.composed(x, gamma, beta);
}

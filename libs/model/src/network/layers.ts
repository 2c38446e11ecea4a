import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { ParamStore } from './params';

/**
 * Functional building blocks over a ParamStore. Each `define*` registers the named variables a
 * layer needs; the matching `apply*` reads them by the same prefix. Keeping definition and use
 * apart lets one encoder definition serve masked SSL, fine-tuning and Grad-CAM.
 */

const LN_EPS = 1e-6;

export function defineLayerNorm(store: ParamStore, prefix: string, dim: number): void {
  store.addConstant(`${prefix}/gamma`, [dim], 1, { isNorm: true });
  store.addConstant(`${prefix}/beta`, [dim], 0, { isNorm: true });
}

// customGrad's parameter type lists inputs and the save function in one rest array.
type CustomGradFunc = Parameters<typeof tf.customGrad>[0];

/**
 * LayerNorm with its backward written out: autodiff of the forward's nine ops recorded ≈ 25
 * kernels per norm (each broadcast's Sum, Reshape and Cast), the closed form below 11:
 * with g = dy·γ, dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)), dγ = Σ dy · x̂, dβ = Σ dy.
 */
const layerNormOp = tf.customGrad(((
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  save: tf.GradSaveFunc,
) => {
  const channels = x.shape[x.shape.length - 1];
  const centred = tf.sub(x, tf.mean(x, -1, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), LN_EPS));
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
}) as unknown as CustomGradFunc) as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;

/** LayerNorm over the last (channel) axis: per-sample statistics, so nothing to average across sites. */
export function layerNorm(store: ParamStore, prefix: string, x: tf.Tensor): tf.Tensor {
  return layerNormOp(x, store.get(`${prefix}/gamma`), store.get(`${prefix}/beta`));
}

export function defineDense(
  store: ParamStore,
  prefix: string,
  inDim: number,
  outDim: number,
  rng: Rng,
): void {
  store.addNormal(`${prefix}/kernel`, [inDim, outDim], rng);
  store.addConstant(`${prefix}/bias`, [outDim], 0);
}

/** Dense over the last axis, any leading shape (pointwise 1×1 convolution on NHWC maps). */
export function dense(store: ParamStore, prefix: string, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const kernel = store.get(`${prefix}/kernel`);
    const inDim = kernel.shape[0];
    const outDim = kernel.shape[1];
    const flat = tf.reshape(x, [-1, inDim]);
    const y = tf.add(tf.matMul(flat, kernel), store.get(`${prefix}/bias`));
    return tf.reshape(y, [...x.shape.slice(0, -1), outDim] as number[]);
  });
}

export function defineConv(
  store: ParamStore,
  prefix: string,
  kernel: number,
  inDim: number,
  outDim: number,
  rng: Rng,
): void {
  store.addNormal(`${prefix}/kernel`, [kernel, kernel, inDim, outDim], rng);
  store.addConstant(`${prefix}/bias`, [outDim], 0);
}

/** Non-overlapping k×k convolution with stride k (stem and downsampling layers). */
export function patchConv(store: ParamStore, prefix: string, x: tf.Tensor4D, stride: number): tf.Tensor4D {
  return tf.tidy(() =>
    tf.add(
      tf.conv2d(x, store.get(`${prefix}/kernel`) as tf.Tensor4D, stride, 'valid'),
      store.get(`${prefix}/bias`),
    ),
  );
}

export function defineDepthwise(
  store: ParamStore,
  prefix: string,
  kernel: number,
  dim: number,
  rng: Rng,
): void {
  store.addNormal(`${prefix}/kernel`, [kernel, kernel, dim, 1], rng);
  store.addConstant(`${prefix}/bias`, [dim], 0);
}

export function depthwise(store: ParamStore, prefix: string, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() =>
    tf.add(
      tf.depthwiseConv2d(x, store.get(`${prefix}/kernel`) as tf.Tensor4D, 1, 'same'),
      store.get(`${prefix}/bias`),
    ),
  );
}

export function defineGrn(store: ParamStore, prefix: string, dim: number): void {
  // Zero-initialised as in ConvNeXt V2: GRN starts as the identity.
  store.addConstant(`${prefix}/gamma`, [dim], 0, { isNorm: true });
  store.addConstant(`${prefix}/beta`, [dim], 0, { isNorm: true });
}

/**
 * Global Response Normalisation (ConvNeXt V2): per-sample channel competition, no batch
 * statistics — safe under federated averaging and identical in training and inference.
 * Zeroed (masked) positions add nothing to the spatial L2 norm, so masking cannot leak here.
 */
export function grn(store: ParamStore, prefix: string, x: tf.Tensor4D): tf.Tensor4D {
  return grnOp(x, store.get(`${prefix}/gamma`), store.get(`${prefix}/beta`)) as tf.Tensor4D;
}

/**
 * GRN with its backward in closed form, as LayerNorm's: y = γ·x·n + β + x with g = ‖x‖ over space
 * per channel and n = g / (mean_c g + ε). With s = Σ_hw dy·γ·x (= ∂L/∂n) and d = mean_c g + ε:
 * ∂L/∂g = s/d − mean_c(s·g)/d², dx = dy·(γ·n + 1) + x·(∂L/∂g)/g, dγ = Σ dy·x·n, dβ = Σ dy.
 */
const grnOp = tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
  const norms = tf.sqrt(tf.add(tf.sum(tf.square(x), [1, 2], true), 1e-12));
  const denom = tf.add(tf.mean(norms, -1, true), LN_EPS);
  const scale = tf.div(norms, denom);
  save([x, norms, denom, scale, gamma]);
  return {
    value: tf.add(tf.add(tf.mul(gamma, tf.mul(x, scale)), beta), x),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [input, g, d, n, gam] = saved;
      const channels = input.shape[3] as number;
      const dyX = tf.mul(dy, input);
      const dScale = tf.mul(tf.sum(dyX, [1, 2], true), gam);
      const dNorms = tf.sub(tf.div(dScale, d), tf.div(tf.mean(tf.mul(dScale, g), -1, true), tf.square(d)));
      const dx = tf.add(tf.mul(dy, tf.add(tf.mul(gam, n), 1)), tf.mul(input, tf.div(dNorms, g)));
      const dGamma = tf.sum(tf.reshape(tf.mul(dyX, n), [-1, channels]), 0);
      const dBeta = tf.sum(tf.reshape(dy, [-1, channels]), 0);
      return [dx, dGamma, dBeta];
    },
  };
}) as unknown as CustomGradFunc) as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;

import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import {
  dense as computeDense,
  depthwiseKept,
  gatherRows,
  isDepthwiseKeptFused,
  maskedDense,
  grn as computeGrn,
  layerNorm as computeLayerNorm,
} from '../../../compute/src';
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

/**
 * LayerNorm over the last (channel) axis: per-sample statistics, so nothing to average across
 * sites. One fused kernel each way on wasm, closed-form composed ops elsewhere (compute/ops).
 */
export function layerNorm(store: ParamStore, prefix: string, x: tf.Tensor): tf.Tensor {
  return computeLayerNorm(x, store.get(`${prefix}/gamma`), store.get(`${prefix}/beta`), LN_EPS);
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

/**
 * Dense over the last axis, any leading shape (pointwise 1×1 convolution on NHWC maps): one
 * dispatch each way on wasm, the composed Reshape · matMul · add · Reshape elsewhere (compute/ops).
 * With `keep` (a MaskPyramid map), the rows it drops are zero and, on wasm, never computed.
 */
export function dense(store: ParamStore, prefix: string, x: tf.Tensor, keep?: tf.Tensor): tf.Tensor {
  const kernel = store.get(`${prefix}/kernel`);
  const bias = store.get(`${prefix}/bias`);
  return keep ? maskedDense(x, kernel, bias, keep) : computeDense(x, kernel, bias);
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

/**
 * The rows `keep` keeps of `depthwise` on a map that is zero at the dropped pixels (a masked
 * encoder block's input), [kept, C]: on wasm only those pixels are computed (the sparse
 * depthwise conv, compute/ops/depthwise-kept.ts), else every pixel and then the row gather.
 */
export function depthwiseOnKeptRows(
  store: ParamStore,
  prefix: string,
  x: tf.Tensor4D,
  keep: tf.Tensor4D,
): tf.Tensor2D {
  const kernel = store.get(`${prefix}/kernel`) as tf.Tensor4D;
  if (isDepthwiseKeptFused(x, kernel, keep))
    return depthwiseKept(x, kernel, store.get(`${prefix}/bias`), keep);
  return gatherRows(depthwise(store, prefix, x), keep);
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
 * One fused kernel each way on wasm, closed-form composed ops elsewhere (compute/ops/grn.ts).
 */
export function grn(store: ParamStore, prefix: string, x: tf.Tensor4D): tf.Tensor4D {
  return computeGrn(x, store.get(`${prefix}/gamma`), store.get(`${prefix}/beta`), LN_EPS);
}

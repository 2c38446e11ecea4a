import * as tf from '@tensorflow/tfjs-core';
import type { WasmKernelConfig } from './kernel-config';
import { batchMatMulConfig } from './kernels/BatchMatMul';
import { castConfig } from './kernels/Cast';
import { conv2DConfig } from './kernels/Conv2D';
import { conv2DBackpropFilterConfig } from './kernels/Conv2DBackpropFilter';
import { conv2DBackpropInputConfig } from './kernels/Conv2DBackpropInput';
import { depthwiseConv2dNativeConfig } from './kernels/DepthwiseConv2dNative';
import { depthwiseConv2dNativeBackpropFilterConfig } from './kernels/DepthwiseConv2dNativeBackpropFilter';
import { depthwiseConv2dNativeBackpropInputConfig } from './kernels/DepthwiseConv2dNativeBackpropInput';
import { identityConfig } from './kernels/Identity';
import { phccAdamWConfig } from './kernels/PhccAdamW';
import { phccDenseConfig } from './kernels/PhccDense';
import { phccDepthwiseKeptConfig } from './kernels/PhccDepthwiseKept';
import { phccDepthwiseKeptGradConfig } from './kernels/PhccDepthwiseKeptGrad';
import { phccDenseGradConfig } from './kernels/PhccDenseGrad';
import { phccGeluConfig } from './kernels/PhccGelu';
import { phccGeluGradConfig } from './kernels/PhccGeluGrad';
import { phccGrnConfig } from './kernels/PhccGrn';
import { phccGrnGradConfig } from './kernels/PhccGrnGrad';
import { phccLayerNormConfig } from './kernels/PhccLayerNorm';
import { phccLayerNormGradConfig } from './kernels/PhccLayerNormGrad';
import { phccGatherRowsConfig } from './kernels/PhccGatherRows';
import { phccMaskedGeluConfig } from './kernels/PhccMaskedGelu';
import { phccScatterRowsConfig } from './kernels/PhccScatterRows';
import { phccMaskedGeluGradConfig } from './kernels/PhccMaskedGeluGrad';
import { sliceConfig } from './kernels/Slice';
import { sumConfig } from './kernels/Sum';
import { unsortedSegmentSumConfig } from './kernels/UnsortedSegmentSum';

/**
 * Every wasm kernel of ours, one file each under kernels/ (as tfjs-backend-wasm's own
 * register_all_kernels.ts lists its kernels): kernels the wasm backend lacks (training fails
 * without them), kernels it runs slowly, rebuilt from its fast forward kernels and our SIMD
 * helpers, and the fused GELU (also masked), LayerNorm, GRN, dense layer, row gather/scatter, sparse depthwise conv and AdamW step it does not have. `phcc-fed bench train` reports these names as
 * replaced. Registered in this order.
 */
export const WASM_KERNEL_CONFIGS: readonly WasmKernelConfig[] = [
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  unsortedSegmentSumConfig,
  identityConfig,
  castConfig,
  sliceConfig,
  conv2DConfig,
  depthwiseConv2dNativeConfig,
  batchMatMulConfig,
  sumConfig,
  phccGeluConfig,
  phccGeluGradConfig,
  phccMaskedGeluConfig,
  phccMaskedGeluGradConfig,
  phccLayerNormConfig,
  phccLayerNormGradConfig,
  phccGrnConfig,
  phccGrnGradConfig,
  phccDenseConfig,
  phccDenseGradConfig,
  phccGatherRowsConfig,
  phccScatterRowsConfig,
  phccDepthwiseKeptConfig,
  phccDepthwiseKeptGradConfig,
  phccAdamWConfig,
];

let registered = false;

/**
 * Installs our kernels on the wasm backend (idempotent: a wrapping kernel must wrap wasm's
 * original, never itself). The gradient functions of tfjs stay untouched: they call these kernel
 * names, so the cpu and tensorflow backends keep their own kernels and the tests can compare
 * against them.
 */
export function registerWasmKernels(): void {
  if (registered) return;
  for (const config of WASM_KERNEL_CONFIGS) {
    let kernelFunc: tf.KernelFunc;
    if ('wrap' in config) {
      const original = tf.getKernel(config.kernelName, config.backendName);
      if (!original) throw new Error(`wasm backend has no ${config.kernelName} kernel to wrap`);
      kernelFunc = config.wrap(original.kernelFunc);
    } else {
      kernelFunc = config.kernelFunc;
    }
    replaceWasmKernel(config.kernelName, kernelFunc);
  }
  registered = true;
}

/** Replaces (or adds) a wasm kernel; tfjs refuses to register a name twice. */
function replaceWasmKernel(kernelName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
}

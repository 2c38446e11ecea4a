import {
  conv2DBackpropFilter,
  conv2DBackpropInput,
  depthwiseBackpropFilter,
  depthwiseBackpropInput,
} from './conv-backprop';
import * as tf from '@tensorflow/tfjs-core';
import { makeConv2D } from './conv-forward';
import { makeDepthwiseConv2D } from './depthwise-forward';
import { registerFusedGelu } from './gelu';
import { shareIdentity } from './identity';
import { makeBatchMatMul } from './matmul';
import { unsortedSegmentSum } from './segment-sum';
import { makeSum } from './sum';
import { replaceWasmKernel } from './wasm-ops';

/**
 * Kernels the wasm backend lacks (training fails without them) or has but runs slowly, each
 * rebuilt from wasm's fast forward kernels. Names are tfjs kernel names; the list is what
 * `phcc-fed bench train` reports as replaced.
 */
export const WASM_REPLACEMENT_KERNELS = {
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  UnsortedSegmentSum: unsortedSegmentSum,
  Identity: shareIdentity,
} as const;

/** Replacements that wrap wasm's own kernel (which they still call in the fast case). */
export const WASM_WRAPPED_KERNELS = {
  Conv2D: makeConv2D,
  DepthwiseConv2dNative: makeDepthwiseConv2D,
  BatchMatMul: makeBatchMatMul,
  Sum: makeSum,
} as const;

let registered = false;

/**
 * Installs the replacement kernels on the wasm backend (idempotent). The gradient functions of
 * tfjs stay untouched: they call these kernel names, so the cpu and tensorflow backends keep
 * their own kernels and the tests can compare against them.
 */
export function registerWasmGradients(): void {
  if (registered) return;
  for (const [name, kernelFunc] of Object.entries(WASM_REPLACEMENT_KERNELS)) {
    replaceWasmKernel(name, kernelFunc);
  }
  for (const [name, wrap] of Object.entries(WASM_WRAPPED_KERNELS)) {
    const original = tf.getKernel(name, 'wasm');
    if (!original) throw new Error(`wasm backend has no ${name} kernel to wrap`);
    replaceWasmKernel(name, wrap(original.kernelFunc));
  }
  registerFusedGelu();
  registered = true;
}

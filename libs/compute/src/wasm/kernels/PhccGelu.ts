import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';
import { GeluCalls, geluPasses } from './gelu-helpers';

/**
 * GELU (tanh form) forward as one fused wasm kernel, a kernel of our own (tfjs has no GELU).
 * Composed from tfjs ops it is ≈ 8 elementwise kernels forward and ≈ 15 backward, each a pass over
 * the activation, with a slow generic tanh: 123 ms forward + backward on a [16, 32, 32, 128]
 * activation, the largest item of a pHCC-SSL step after the matmuls. The kernel exists on wasm
 * only and needs the SIMD helpers; `fusedGelu` (ops/gelu.ts) is the op that runs it.
 */
export const PhccGelu = 'PhccGelu';

const geluForward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const helpers: GeluCalls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccGelu} needs the wasm SIMD helpers`);
  const ops = new WasmOps(backend);
  const y = ops.empty(x.shape);
  geluPasses(helpers).forward(ops.pointer(x), ops.pointer(y), tf.util.sizeFromShape(x.shape));
  return ops.finish(y);
};

export const phccGeluConfig: ReplacementKernelConfig = {
  kernelName: PhccGelu,
  backendName: 'wasm',
  kernelFunc: geluForward,
};

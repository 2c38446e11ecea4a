import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';
import { GeluCalls, geluPasses } from './gelu-helpers';

/** The gradient of `PhccGelu` (kernels/PhccGelu.ts) as one fused wasm kernel: dx from x and dy. */
export const PhccGeluGrad = 'PhccGeluGrad';

const geluBackward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const helpers: GeluCalls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccGeluGrad} needs the wasm SIMD helpers`);
  const ops = new WasmOps(backend);
  const dx = ops.empty(x.shape);
  geluPasses(helpers).backward(
    ops.pointer(x),
    ops.pointer(dy),
    ops.pointer(dx),
    tf.util.sizeFromShape(x.shape),
  );
  return ops.finish(dx);
};

export const phccGeluGradConfig: ReplacementKernelConfig = {
  kernelName: PhccGeluGrad,
  backendName: 'wasm',
  kernelFunc: geluBackward,
};

import { Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { conv2dFilterGradIm2col } from '../conv-filter-im2col';
import type { ConvAttrs } from '../conv-attrs';
import { checkAttrs, padInfo } from '../conv-phases';
import type { ReplacementKernelConfig } from '../kernel-config';
import { WasmOps } from '../wasm-ops';

/**
 * dW of a conv as one GEMM over an im2col buffer (conv-filter-im2col.ts); wasm ships no
 * Conv2DBackpropFilter at all, so a CNN cannot train on it as shipped.
 * Calls: the `FilterGradCalls` SIMD helpers (im2col and panel packing, GEMM, row extraction).
 */
const conv2DBackpropFilter: KernelFunc = ({ inputs, attrs, backend }) => {
  const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  checkAttrs('Conv2DBackpropFilter', a);
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const info = padInfo(x.shape as [number, number, number, number], a.filterShape, a, false);
  const ops = new WasmOps(backend);
  const stride: [number, number] = [info.strideHeight, info.strideWidth];
  const pad: [number, number] = [info.padInfo.top, info.padInfo.left];
  return ops.finish(conv2dFilterGradIm2col(ops, x, dy, a.filterShape, stride, pad));
};

export const conv2DBackpropFilterConfig: ReplacementKernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter,
};

import { Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvAttrs } from '../conv-attrs';
import { checkAttrs, padInfo, transposedConv } from '../conv-phases';
import type { ReplacementKernelConfig } from '../kernel-config';
import { WasmOps } from '../wasm-ops';

/**
 * dx of a conv as s×s stride-1 forward `Conv2D`s (so our GEMM, kernels/Conv2D.ts) with flipped,
 * strided sub-filters, interleaved into dx (conv-phases.ts). wasm's own kernel is several times
 * slower than its forward conv.
 * Calls: the `TransposedConvCalls` SIMD helpers (fillZero, interleavePhase).
 */
const conv2DBackpropInput: KernelFunc = ({ inputs, attrs, backend }) => {
  const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  checkAttrs('Conv2DBackpropInput', a);
  const dy = inputs.dy as TensorInfo;
  const filter = inputs.filter as TensorInfo;
  const info = padInfo(a.inputShape, filter.shape as [number, number, number, number], a, false);
  const ops = new WasmOps(backend);
  const dx = transposedConv(
    ops,
    dy,
    filter,
    a.inputShape,
    [info.strideHeight, info.strideWidth],
    info.padInfo.top,
    info.padInfo.left,
    false,
  );
  return ops.finish(dx);
};

export const conv2DBackpropInputConfig: ReplacementKernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput,
};

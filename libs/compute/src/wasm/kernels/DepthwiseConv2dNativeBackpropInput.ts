import { DepthwiseConv2dNativeBackpropInput } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvAttrs } from '../conv-attrs';
import { checkAttrs, padInfo, transposedConv } from '../conv-phases';
import type { ReplacementKernelConfig } from '../kernel-config';
import { WasmOps } from '../wasm-ops';

/**
 * dx of a depthwise conv: the same phase split as Conv2DBackpropInput, with depthwise forward
 * convs (so kernels/DepthwiseConv2dNative.ts at stride 1); wasm has no such kernel.
 * Calls: the `TransposedConvCalls` SIMD helpers (fillZero, interleavePhase).
 */
const depthwiseBackpropInput: KernelFunc = ({ inputs, attrs, backend }) => {
  const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  checkAttrs('DepthwiseConv2dNativeBackpropInput', a);
  const dy = inputs.dy as TensorInfo;
  const filter = inputs.filter as TensorInfo;
  const [, , cin, mult] = filter.shape;
  const info = padInfo(a.inputShape, filter.shape as [number, number, number, number], a, true);
  const ops = new WasmOps(backend);
  // Each of the Cin·mult dy channels convolves with its own flipped tap set; the mult
  // contributions to one input channel are then summed.
  const spread = transposedConv(
    ops,
    dy,
    filter,
    [a.inputShape[0], a.inputShape[1], a.inputShape[2], cin * mult],
    [info.strideHeight, info.strideWidth],
    info.padInfo.top,
    info.padInfo.left,
    true,
  );
  if (mult === 1) return ops.finish(spread);
  const grouped = ops.reshape(spread, [...a.inputShape.slice(0, 3), cin, mult]);
  const dx = ops.run('Sum', { x: grouped }, { axis: [4], keepDims: false });
  return ops.finish(dx);
};

export const depthwiseConv2dNativeBackpropInputConfig: ReplacementKernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput,
};

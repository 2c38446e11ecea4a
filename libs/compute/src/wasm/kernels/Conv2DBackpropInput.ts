import { Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvAttrs } from '../conv-attrs';
import { checkAttrs, padInfo, transposedConv } from '../conv-phases';
import { PatchifyCalls, patchifyInputGrad, patchifyInputGradFits } from '../conv-patchify';
import type { ReplacementKernelConfig } from '../kernel-config';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * dx of a conv as s×s stride-1 forward `Conv2D`s (so our GEMM, kernels/Conv2D.ts) with flipped,
 * strided sub-filters, interleaved into dx (conv-phases.ts). wasm's own kernel is several times
 * slower than its forward conv.
 * Patchify convs (stride = kernel, no padding: the model's downsampling) are one row GEMM per
 * output row and filter row instead, written straight into dx (conv-patchify.ts).
 * Calls: the `TransposedConvCalls` SIMD helpers (fillZero, interleavePhase), `PatchifyCalls`.
 */
const conv2DBackpropInput: KernelFunc = ({ inputs, attrs, backend }) => {
  const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  checkAttrs('Conv2DBackpropInput', a);
  const dy = inputs.dy as TensorInfo;
  const filter = inputs.filter as TensorInfo;
  const info = padInfo(a.inputShape, filter.shape as [number, number, number, number], a, false);
  const ops = new WasmOps(backend);
  const helpers: PatchifyCalls | undefined = simdHelpers(backend);
  const [n, h, w, cin] = a.inputShape;
  const [kh, kw, , cout] = filter.shape;
  const geometry = {
    n,
    h,
    w,
    cin,
    ho: info.outHeight,
    wo: info.outWidth,
    kh,
    kw,
    cout,
    stride: [info.strideHeight, info.strideWidth] as [number, number],
    pad: [info.padInfo.top, info.padInfo.left] as [number, number],
  };
  if (helpers && dy.dtype === 'float32' && patchifyInputGradFits(geometry)) {
    return ops.finish(patchifyInputGrad(helpers, ops, dy, filter, geometry));
  }
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

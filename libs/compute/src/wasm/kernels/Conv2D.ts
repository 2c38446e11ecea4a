import { backend_util, Conv2D } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvAttrs } from '../conv-attrs';
import { ConvGemmCalls, ConvGeometry, convGemm } from '../conv-gemm';
import { PatchifyCalls, patchifyForward, patchifyForwardFits } from '../conv-patchify';
import type { WrappingKernelConfig } from '../kernel-config';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * Forward Conv2D for wasm as our packed GEMM: out[pixels, Cout] = im2col(x)[pixels, kh·kw·Cin] ·
 * W[kh·kw·Cin, Cout], the im2col packed four output pixels at a time (their channel runs
 * transposed in registers) and W into 8-column panels. XNNPACK's conv has no FMA in this build
 * and ran the reference CNN's 3×3 layers at 12–24 GFLOP/s, against 13–33 here (min of 8, same
 * process). Dilated or NCHW convs, fewer than 8 output channels, and any call without the SIMD
 * helpers go to wasm's own kernel. The input gradient's phase convs (conv-phases.ts) call
 * Conv2D, so they run on this GEMM too.
 * Patchify convs (stride = kernel, no padding: the model's stem and downsampling) skip the
 * im2col and read x in place (conv-patchify.ts).
 * Calls: `convGemm` (conv-gemm.ts) and its `ConvGemmCalls` SIMD helpers, `patchifyForward` and its
 * `PatchifyCalls`.
 */
function makeConv2D(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const filter = args.inputs.filter as TensorInfo;
    const attrs = args.attrs as unknown as ConvAttrs;
    const helpers: (ConvGemmCalls & PatchifyCalls) | undefined = simdHelpers(args.backend);
    const dilations = attrs.dilations ?? 1;
    const dilated = typeof dilations === 'number' ? dilations !== 1 : dilations.some((d) => d !== 1);
    // Fewer than 8 output channels would leave most of each 8-column panel empty (e.g. the input
    // gradient of a 4-channel stem): XNNPACK is faster there.
    if (
      !helpers ||
      dilated ||
      (attrs.dataFormat ?? 'NHWC') !== 'NHWC' ||
      x.dtype !== 'float32' ||
      filter.shape[3] < 8
    ) {
      return original(args);
    }
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const ops = new WasmOps(args.backend);
    const [n, h, w, cin] = x.shape;
    const [kh, kw, , cout] = filter.shape;
    const { outHeight: ho, outWidth: wo } = info;
    const geometry: ConvGeometry = {
      n,
      h,
      w,
      cin,
      ho,
      wo,
      kh,
      kw,
      cout,
      stride: [info.strideHeight, info.strideWidth],
      pad: [info.padInfo.top, info.padInfo.left],
    };
    if (patchifyForwardFits(geometry)) return ops.finish(patchifyForward(helpers, ops, x, filter, geometry));
    return ops.finish(ops.reshape(convGemm(helpers, ops, x, filter, geometry), [n, ho, wo, cout]));
  };
}

export const conv2DConfig: WrappingKernelConfig = {
  kernelName: Conv2D,
  backendName: 'wasm',
  wrap: makeConv2D,
};

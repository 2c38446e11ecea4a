import { backend_util, DepthwiseConv2dNative } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvAttrs } from '../conv-attrs';
import type { WrappingKernelConfig } from '../kernel-config';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/** The SIMD helper this kernel calls (signature in simd/helpers.ts). */
type Calls = Pick<SimdHelpers, 'depthwiseForward'>;

const isOne = (v: number | [number, number] | undefined) =>
  v === undefined || (typeof v === 'number' ? v === 1 : v[0] === 1 && v[1] === 1);

/**
 * Forward depthwise conv for wasm, stride 1 and multiplier 1 with channels a multiple of 4 (every
 * pHCC-SSL block, and the input gradient's single phase): channels in SIMD lanes, the sums in
 * registers, four adjacent output pixels at a time where all their column taps are inside the
 * image (one filter load per tap feeds four multiply-adds), border pixels one at a time over
 * their in-image taps. XNNPACK's depthwise kernel ran a 7×7, 48-channel layer at 1.6 GFLOP/s in
 * this build. Other shapes go to wasm's own kernel.
 */
function makeDepthwiseConv2D(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const filter = args.inputs.filter as TensorInfo;
    const attrs = args.attrs as unknown as ConvAttrs;
    const helpers: Calls | undefined = simdHelpers(args.backend);
    const [, , cin, mult] = filter.shape;
    if (
      !helpers ||
      mult !== 1 ||
      cin % 4 !== 0 ||
      !isOne(attrs.strides) ||
      !isOne(attrs.dilations) ||
      (attrs.dataFormat ?? 'NHWC') !== 'NHWC' ||
      x.dtype !== 'float32'
    ) {
      return original(args);
    }
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      1,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      true,
      'channelsLast',
    );
    const ops = new WasmOps(args.backend);
    const [n, h, w] = x.shape;
    const out = ops.empty([n, info.outHeight, info.outWidth, cin]);
    helpers.depthwiseForward(
      ops.pointer(x),
      ops.pointer(filter),
      ops.pointer(out),
      n,
      h,
      w,
      cin,
      info.outHeight,
      info.outWidth,
      filter.shape[0],
      filter.shape[1],
      info.padInfo.top,
      info.padInfo.left,
    );
    return ops.finish(out);
  };
}

export const depthwiseConv2dNativeConfig: WrappingKernelConfig = {
  kernelName: DepthwiseConv2dNative,
  backendName: 'wasm',
  wrap: makeDepthwiseConv2D,
};

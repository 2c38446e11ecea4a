import { DepthwiseConv2dNativeBackpropFilter } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvAttrs } from '../conv-attrs';
import { checkAttrs, padInfo } from '../conv-phases';
import type { ReplacementKernelConfig } from '../kernel-config';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * dW of a depthwise conv; wasm has no such kernel. The fast case is one SIMD pass; otherwise the
 * batch and channel axes are swapped, so the contraction over batch × output positions becomes
 * the per-channel contraction of a forward depthwise conv whose "filter" is dy, dilated by the
 * stride.
 */

/** The SIMD helpers this kernel calls (signatures in simd/helpers.ts). */
type Calls = Pick<SimdHelpers, 'fillZero' | 'depthwiseFilterGrad'>;

/**
 * The input rows a filter-gradient conv reads: the forward conv covered
 * padBefore + (k + s·(outLen−1)) rows; rows past that were never used (cropped), missing ones
 * are zero padding.
 */
function filterGradWindow(
  inLen: number,
  outLen: number,
  k: number,
  s: number,
  padBefore: number,
): [number, number, number] {
  const needed = k + s * (outLen - 1);
  const after = needed - inLen - padBefore;
  if (after >= 0) return [inLen, padBefore, after];
  return [inLen + after, padBefore, 0];
}

const depthwiseBackpropFilter: KernelFunc = ({ inputs, attrs, backend }) => {
  const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  checkAttrs('DepthwiseConv2dNativeBackpropFilter', a);
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const [batch, inH, inW, cin] = x.shape;
  const [, dyH, dyW, dyC] = dy.shape;
  const [kh, kw, , mult] = a.filterShape;
  const info = padInfo(x.shape as [number, number, number, number], a.filterShape, a, true);
  const ops = new WasmOps(backend);
  const helpers: Calls | undefined = simdHelpers(backend);
  if (helpers && mult === 1 && cin % 4 === 0 && info.strideHeight === 1 && info.strideWidth === 1) {
    // Channels in SIMD lanes, tap by tap with the sums in registers: ≈ 8× the axis-swapped conv
    // below on the model's 5×5 layers (which runs XNNPACK's depthwise kernel over B·C "channels").
    const dw = ops.empty([kh, kw, cin, 1]);
    helpers.fillZero(ops.pointer(dw), kh * kw * cin);
    helpers.depthwiseFilterGrad(
      ops.pointer(x),
      ops.pointer(dy),
      ops.pointer(dw),
      batch,
      inH,
      inW,
      cin,
      dyH,
      dyW,
      kh,
      kw,
      info.padInfo.top,
      info.padInfo.left,
    );
    return ops.finish(dw);
  }
  // One image whose B·C·mult channels are (batch, channel) pairs; dy is the per-channel filter.
  const [rows, padT, padB] = filterGradWindow(inH, dyH, kh, info.strideHeight, info.padInfo.top);
  const [cols, padL, padR] = filterGradWindow(inW, dyW, kw, info.strideWidth, info.padInfo.left);
  let xs = ops.slice(x, [0, 0, 0, 0], [batch, rows, cols, cin]);
  if (mult > 1) {
    // Repeat each input channel mult times so channel c·mult+m meets dy channel c·mult+m.
    xs = ops.reshape(
      ops.run('Tile', { x: ops.reshape(xs, [batch, rows, cols, cin, 1]) }, { reps: [1, 1, 1, 1, mult] }),
      [batch, rows, cols, dyC],
    );
  }
  const xImage = ops.reshape(ops.transpose(xs, [1, 2, 0, 3]), [1, rows, cols, batch * dyC]);
  const dyFilter = ops.reshape(ops.transpose(dy, [1, 2, 0, 3]), [dyH, dyW, batch * dyC, 1]);
  const perPair = ops.run(
    'DepthwiseConv2dNative',
    { x: xImage, filter: dyFilter },
    {
      strides: [1, 1],
      dilations: [info.strideHeight, info.strideWidth],
      pad: [
        [0, 0],
        [padT, padB],
        [padL, padR],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
  const summed = ops.run(
    'Sum',
    { x: ops.reshape(perPair, [kh, kw, batch, dyC]) },
    { axis: [2], keepDims: false },
  );
  return ops.finish(ops.reshape(summed, [kh, kw, cin, mult]));
};

export const depthwiseConv2dNativeBackpropFilterConfig: ReplacementKernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter,
};

import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { conv2dFilterGradIm2col } from './conv-filter-im2col';
import { simdHelpers } from './simd/helpers';
import { WasmOps } from './wasm-ops';

/**
 * Conv2D and depthwise-conv backprops for the wasm backend, written as forward convolutions so
 * they run on XNNPACK's fast forward kernels (wasm ships no Conv2DBackpropFilter at all, and a
 * backprop-input several times slower than its forward conv).
 *
 * Backprop-input with stride s is split into s×s "phases": input rows j = s·m + r only receive
 * taps k ≡ r + padTop (mod s), so each phase is a stride-1 convolution of dy with a strided,
 * flipped sub-filter. Unlike dilating dy with zeros, this does no multiply-by-zero work.
 * Backprop-filter is a matmul over an im2col buffer (conv-filter-im2col.ts). The depthwise
 * filter gradient swaps the batch and channel axes instead, so the contraction over batch ×
 * output positions becomes the per-channel contraction of a forward depthwise conv whose
 * "filter" is dy, dilated by the stride.
 */

type PadAttr = backend_util.ExplicitPadding | 'same' | 'valid' | number;

interface ConvBackpropAttrs {
  strides: number | [number, number];
  pad: PadAttr;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: number | [number, number];
}

function pair(v: number | [number, number] | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : v;
}

function checkAttrs(kernel: string, attrs: ConvBackpropAttrs): void {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${kernel} on wasm supports only NHWC (got ${attrs.dataFormat})`);
  }
  const [dh, dw] = pair(attrs.dilations, 1);
  if (dh !== 1 || dw !== 1) {
    throw new Error(`${kernel} on wasm supports only dilation 1 (got ${dh}×${dw})`);
  }
}

/** Rows of dy (and the zero padding around them) that one output phase reads. */
interface PhaseAxis {
  taps: number; // T: taps of the sub-filter
  firstTap: number; // k0
  cropBegin: number;
  cropSize: number;
  padBefore: number;
  padAfter: number;
}

function phaseAxis(
  r: number,
  s: number,
  padBefore: number,
  k: number,
  outLen: number,
  dyLen: number,
): PhaseAxis {
  const firstTap = (((r + padBefore) % s) + s) % s;
  const taps = firstTap >= k ? 0 : Math.ceil((k - firstTap) / s);
  const c = (r + padBefore - firstTap) / s;
  const offset = c - taps + 1;
  const end = offset + outLen + taps - 1;
  const cropBegin = Math.max(0, offset);
  const cropEnd = Math.min(dyLen, end);
  return {
    taps,
    firstTap,
    cropBegin,
    cropSize: cropEnd - cropBegin,
    padBefore: Math.max(0, -offset),
    padAfter: Math.max(0, end - dyLen),
  };
}

/**
 * One phase's sub-filter, flipped in space and laid out for the forward kernel: taps
 * k0 + s·t of the filter, in reverse order. `conv`: [Th, Tw, Cout, Cin] (in/out swapped);
 * depthwise: [Th, Tw, Cin·mult, 1]. Done in JS: filters are small, and wasm's Reverse and
 * StridedSlice are slow generic loops.
 */
function phaseFilter(
  w: Float32Array,
  shape: number[],
  k0: [number, number],
  s: [number, number],
  taps: [number, number],
  depthwise: boolean,
): { shape: number[]; values: Float32Array } {
  const [, kw, a, b] = shape; // conv: a = Cin, b = Cout; depthwise: a = Cin, b = mult
  const [th, tw] = taps;
  const out = new Float32Array(th * tw * a * b);
  let o = 0;
  for (let ty = 0; ty < th; ty++) {
    const ky = k0[0] + s[0] * (th - 1 - ty);
    for (let tx = 0; tx < tw; tx++) {
      const kx = k0[1] + s[1] * (tw - 1 - tx);
      const base = (ky * kw + kx) * a * b;
      if (depthwise) {
        out.set(w.subarray(base, base + a * b), o);
        o += a * b;
      } else {
        for (let co = 0; co < b; co++) {
          for (let ci = 0; ci < a; ci++) out[o++] = w[base + ci * b + co];
        }
      }
    }
  }
  return { shape: depthwise ? [th, tw, a * b, 1] : [th, tw, b, a], values: out };
}

/**
 * dx of a (depthwise) conv as s×s stride-1 forward convs whose outputs interleave into dx.
 * `outChannels` is dx's channel count as the forward kernel produces it (Cin·mult for depthwise).
 */
function transposedConv(
  ops: WasmOps,
  dy: TensorInfo,
  filter: TensorInfo,
  outShape: [number, number, number, number],
  strides: [number, number],
  padTop: number,
  padLeft: number,
  depthwise: boolean,
): TensorInfo {
  const [batch, inH, inW, outC] = outShape;
  const [sh, sw] = strides;
  const [kh, kw] = filter.shape;
  const [, dyH, dyW] = dy.shape;
  const mh = Math.ceil(inH / sh);
  const mw = Math.ceil(inW / sw);
  const weights = ops.read(filter);
  const phases: { ry: number; rx: number; out: TensorInfo }[] = [];
  for (let ry = 0; ry < sh; ry++) {
    for (let rx = 0; rx < sw; rx++) {
      const ay = phaseAxis(ry, sh, padTop, kh, mh, dyH);
      const ax = phaseAxis(rx, sw, padLeft, kw, mw, dyW);
      if (ay.taps === 0 || ax.taps === 0 || ay.cropSize <= 0 || ax.cropSize <= 0) continue; // stays zero
      const sub = phaseFilter(
        weights,
        filter.shape,
        [ay.firstTap, ax.firstTap],
        strides,
        [ay.taps, ax.taps],
        depthwise,
      );
      const dyPhase = ops.slice(
        dy,
        [0, ay.cropBegin, ax.cropBegin, 0],
        [batch, ay.cropSize, ax.cropSize, dy.shape[3]],
      );
      const out = ops.run(
        depthwise ? 'DepthwiseConv2dNative' : 'Conv2D',
        { x: dyPhase, filter: ops.fromValues(sub.shape, sub.values) },
        {
          strides: [1, 1],
          dilations: [1, 1],
          pad: [
            [0, 0],
            [ay.padBefore, ay.padAfter],
            [ax.padBefore, ax.padAfter],
            [0, 0],
          ],
          dataFormat: 'NHWC',
        },
      );
      phases.push({ ry, rx, out });
    }
  }
  if (sh === 1 && sw === 1 && phases.length === 1) {
    return ops.slice(phases[0].out, [0, 0, 0, 0], outShape);
  }
  // Interleave: rows of C contiguous floats (wasm's 6-D Transpose, the tensor-op way to do
  // it, is a slow generic loop). Every position is written once when no phase was skipped.
  const dx = ops.empty(outShape);
  const helpers = simdHelpers(ops.backend);
  if (helpers) {
    if (phases.length < sh * sw) helpers.fillZero(ops.pointer(dx), batch * inH * inW * outC);
    for (const { ry, rx, out } of phases) {
      helpers.interleavePhase(
        ops.pointer(out),
        ops.pointer(dx),
        batch,
        mh,
        mw,
        outC,
        inH,
        inW,
        sh,
        sw,
        ry,
        rx,
      );
    }
    return dx;
  }
  const dst = ops.view(dx);
  if (phases.length < sh * sw) dst.fill(0);
  for (const { ry, rx, out } of phases) {
    const src = ops.view(out);
    for (let b = 0; b < batch; b++) {
      for (let my = 0; my < mh; my++) {
        const y = my * sh + ry;
        if (y >= inH) break;
        for (let mx = 0; mx < mw; mx++) {
          const x = mx * sw + rx;
          if (x >= inW) break;
          const from = ((b * mh + my) * mw + mx) * outC;
          dst.set(src.subarray(from, from + outC), ((b * inH + y) * inW + x) * outC);
        }
      }
    }
  }
  return dx;
}

function padInfo(
  inputShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvBackpropAttrs,
  depthwise: boolean,
): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
}

export const conv2DBackpropInput: KernelFunc = ({ inputs, attrs, backend }) => {
  const a = attrs as unknown as ConvBackpropAttrs & { inputShape: [number, number, number, number] };
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

export const conv2DBackpropFilter: KernelFunc = ({ inputs, attrs, backend }) => {
  const a = attrs as unknown as ConvBackpropAttrs & { filterShape: [number, number, number, number] };
  checkAttrs('Conv2DBackpropFilter', a);
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const info = padInfo(x.shape as [number, number, number, number], a.filterShape, a, false);
  const ops = new WasmOps(backend);
  const stride: [number, number] = [info.strideHeight, info.strideWidth];
  const pad: [number, number] = [info.padInfo.top, info.padInfo.left];
  return ops.finish(conv2dFilterGradIm2col(ops, x, dy, a.filterShape, stride, pad));
};

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

export const depthwiseBackpropInput: KernelFunc = ({ inputs, attrs, backend }) => {
  const a = attrs as unknown as ConvBackpropAttrs & { inputShape: [number, number, number, number] };
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

export const depthwiseBackpropFilter: KernelFunc = ({ inputs, attrs, backend }) => {
  const a = attrs as unknown as ConvBackpropAttrs & { filterShape: [number, number, number, number] };
  checkAttrs('DepthwiseConv2dNativeBackpropFilter', a);
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const [batch, inH, inW, cin] = x.shape;
  const [, dyH, dyW, dyC] = dy.shape;
  const [kh, kw, , mult] = a.filterShape;
  const info = padInfo(x.shape as [number, number, number, number], a.filterShape, a, true);
  const ops = new WasmOps(backend);
  const helpers = simdHelpers(backend);
  if (helpers && mult === 1 && cin % 4 === 0 && info.strideHeight === 1 && info.strideWidth === 1) {
    // Channels in SIMD lanes, one pass over the pixels: ≈ 8× the axis-swapped conv below on the
    // model's 5×5 layers (which runs XNNPACK's depthwise kernel over B·C "channels").
    const dw = ops.empty([kh, kw, cin, 1]);
    const part = ops.empty([kh * kw * cin]);
    helpers.fillZero(ops.pointer(dw), kh * kw * cin);
    helpers.fillZero(ops.pointer(part), kh * kw * cin);
    helpers.depthwiseFilterGrad(
      ops.pointer(x),
      ops.pointer(dy),
      ops.pointer(dw),
      ops.pointer(part),
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

import { backend_util } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvAttrs } from './conv-attrs';
import { SimdHelpers, simdHelpers } from './simd/helpers';
import { WasmOps } from './wasm-ops';

/**
 * What the conv and depthwise-conv backprop kernels (kernels/*Backprop*.ts) share: their attrs,
 * and the input gradient written as forward convolutions so it runs on the fast forward kernels
 * (wasm ships a backprop-input several times slower than its forward conv).
 *
 * Backprop-input with stride s is split into s×s "phases": input rows j = s·m + r only receive
 * taps k ≡ r + padTop (mod s), so each phase is a stride-1 convolution of dy with a strided,
 * flipped sub-filter. Unlike dilating dy with zeros, this does no multiply-by-zero work.
 */

/** The SIMD helpers `transposedConv` calls (signatures in simd/helpers.ts). */
export type TransposedConvCalls = Pick<SimdHelpers, 'fillZero' | 'interleavePhase'>;

function pair(v: number | [number, number] | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : v;
}

export function checkAttrs(kernel: string, attrs: ConvAttrs): void {
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
export function transposedConv(
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
  const helpers: TransposedConvCalls | undefined = simdHelpers(ops.backend);
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

export function padInfo(
  inputShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvAttrs,
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

import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { scatterRows } from '../kept-rows';
import { WasmOps } from '../wasm-ops';
import {
  DepthwiseKeptCalls,
  DepthwiseKeptGeometry,
  depthwiseKeptGeometry,
  depthwiseKeptHelpers,
  zeroAtDropped,
} from './PhccDepthwiseKept';

/**
 * One input's gradient of `PhccDepthwiseKept` (kernels/PhccDepthwiseKept.ts), `part` naming which,
 * from dy [kept, C]:
 * - 'x': dx [B, H, W, C] at the kept pixels (the dropped ones get 0: x ⊙ keep is what the conv
 *   reads), the transposed conv of dy spread back over its pixels, computed at the kept pixels only;
 * - 'filter': Σ over the kept output pixels of dy · x at each tap;
 * - 'bias': Σ over the kept rows of dy.
 */
export const PhccDepthwiseKeptGrad = 'PhccDepthwiseKeptGrad';

export type DepthwiseKeptPart = 'x' | 'filter' | 'bias';

/** dy [kept, C] spread over [B, H, W, C], zero at the dropped pixels. */
function spread(ops: WasmOps, dy: TensorInfo, g: DepthwiseKeptGeometry): TensorInfo {
  const full = ops.empty([g.n, g.h, g.w, g.c]);
  scatterRows(ops.view(dy), g.c, g.rows, ops.view(full));
  return full;
}

/** The filter turned by 180° in the plane: what a stride-1 conv's input gradient convolves with. */
function flipped(ops: WasmOps, filter: TensorInfo, g: DepthwiseKeptGeometry): TensorInfo {
  const w = ops.read(filter);
  const out = new Float32Array(w.length);
  const taps = g.kh * g.kw;
  for (let t = 0; t < taps; t++) out.set(w.subarray(t * g.c, (t + 1) * g.c), (taps - 1 - t) * g.c);
  return ops.fromValues(filter.shape, out);
}

function inputGradient(
  ops: WasmOps,
  helpers: DepthwiseKeptCalls,
  dy: TensorInfo,
  filter: TensorInfo,
  keep: TensorInfo,
  g: DepthwiseKeptGeometry,
): TensorInfo {
  const dyFull = spread(ops, dy, g);
  const turned = flipped(ops, filter, g);
  const dx = ops.empty([g.n, g.h, g.w, g.c]);
  // Mode 2: the kept pixels in place, zeros at the dropped ones. A turned 'same' filter pads
  // by what the forward padded after.
  helpers.depthwiseForwardKept(
    ops.pointer(dyFull),
    ops.pointer(turned),
    ops.pointer(dx),
    ops.pointer(keep),
    0,
    2,
    g.n,
    g.h,
    g.w,
    g.c,
    g.h,
    g.w,
    g.kh,
    g.kw,
    g.kh - 1 - g.padT,
    g.kw - 1 - g.padL,
  );
  return dx;
}

function filterGradient(
  ops: WasmOps,
  helpers: DepthwiseKeptCalls,
  x: TensorInfo,
  dy: TensorInfo,
  keep: TensorInfo,
  g: DepthwiseKeptGeometry,
): TensorInfo {
  const sparse = zeroAtDropped(ops, helpers, x, keep, g);
  // Only kept pixels of dy are read: their rows spread in place (the others are skipped).
  const dyFull = spread(ops, dy, g);
  const dw = ops.empty([g.kh, g.kw, g.c, 1]);
  helpers.fillZero(ops.pointer(dw), g.kh * g.kw * g.c);
  helpers.depthwiseFilterGradKeptChannels(
    ops.pointer(sparse),
    ops.pointer(dyFull),
    ops.pointer(dw),
    ops.pointer(keep),
    g.n,
    g.h,
    g.w,
    g.c,
    g.h,
    g.w,
    g.kh,
    g.kw,
    g.padT,
    g.padL,
    0,
    g.c,
  );
  return dw;
}

const depthwiseKeptBackward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, x, filter, keep } = inputs as Record<'dy' | 'x' | 'filter' | 'keep', TensorInfo>;
  const part = (attrs as { part: DepthwiseKeptPart }).part;
  const ops = new WasmOps(backend);
  if (part === 'bias') return ops.finish(ops.run('Sum', { x: dy }, { axis: [0], keepDims: false }));
  const helpers = depthwiseKeptHelpers(backend, PhccDepthwiseKeptGrad);
  const g = depthwiseKeptGeometry(ops, x, filter, keep, PhccDepthwiseKeptGrad);
  if (dy.shape.length !== 2 || dy.shape[0] !== g.rows.kept || dy.shape[1] !== g.c)
    throw new Error(`${PhccDepthwiseKeptGrad}: dy [${dy.shape}] is not [${g.rows.kept}, ${g.c}]`);
  if (part === 'x') return ops.finish(inputGradient(ops, helpers, dy, filter, keep, g));
  if (part === 'filter') return ops.finish(filterGradient(ops, helpers, x, dy, keep, g));
  throw new Error(`${PhccDepthwiseKeptGrad}: part must be x, filter or bias, not ${String(part)}`);
};

export const phccDepthwiseKeptGradConfig: ReplacementKernelConfig = {
  kernelName: PhccDepthwiseKeptGrad,
  backendName: 'wasm',
  kernelFunc: depthwiseKeptBackward,
};

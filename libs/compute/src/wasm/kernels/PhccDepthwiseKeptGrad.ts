import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { WasmOps } from '../wasm-ops';
import {
  DepthwiseKeptCalls,
  DepthwiseKeptGeometry,
  depthwiseKeptGeometry,
  depthwiseKeptHelpers,
  keptConv,
  zeroAtDropped,
} from './PhccDepthwiseKept';

/**
 * One input's gradient of `PhccDepthwiseKept` (kernels/PhccDepthwiseKept.ts), `part` naming which,
 * from dy [kept, C] and `spread`, its rows spread over the map ([B, H, W, C], zero at the dropped
 * pixels: PhccScatterRows of dy, made once for both parts by the op's gradient,
 * ops/depthwise-kept.ts). The kernels read `spread`; dy's shape says how many rows were kept:
 * - 'x': dx [B, H, W, C] at the kept pixels (the dropped ones get 0: x ⊙ keep is what the conv
 *   reads), the conv of dy with the turned filter, computed at the kept pixels only (and scaled
 *   by keep when it is soft);
 * - 'filter': Σ over the kept output pixels of dy · x at each tap.
 * The bias gradient is dy's column sum, an op of its own.
 */
export const PhccDepthwiseKeptGrad = 'PhccDepthwiseKeptGrad';

export type DepthwiseKeptPart = 'x' | 'filter';

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
  const turned = flipped(ops, filter, g);
  const dx = ops.empty([g.n, g.h, g.w, g.c]);
  // Mode 2: the kept pixels in place, zeros at the dropped ones. A turned 'same' filter pads
  // by what the forward padded after.
  keptConv(ops, helpers, [dy, turned, dx, keep], 0, 2, g, [g.kh - 1 - g.padT, g.kw - 1 - g.padL]);
  // d(x ⊙ keep)/dx: keep itself, 1 at every kept pixel of a hard mask.
  return g.rows.binary ? dx : ops.run('Multiply', { a: dx, b: keep });
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
  const dw = ops.empty([g.kh, g.kw, g.c, 1]);
  helpers.fillZero(ops.pointer(dw), g.kh * g.kw * g.c);
  const [xp, dyp, dwp, keepp] = [sparse, dy, dw, keep].map((t) => ops.pointer(t));
  const { n, h, w, c, kh, kw, padT, padL } = g;
  helpers.depthwiseFilterGradKeptChannels(xp, dyp, dwp, keepp, n, h, w, c, h, w, kh, kw, padT, padL, 0, c);
  return dw;
}

const depthwiseKeptBackward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, spread, x, filter, keep } = inputs as Record<
    'dy' | 'spread' | 'x' | 'filter' | 'keep',
    TensorInfo
  >;
  const part = (attrs as { part: DepthwiseKeptPart }).part;
  const ops = new WasmOps(backend);
  const helpers = depthwiseKeptHelpers(backend, PhccDepthwiseKeptGrad);
  const g = depthwiseKeptGeometry(ops, x, filter, keep, PhccDepthwiseKeptGrad);
  if (dy.shape.join() !== `${g.rows.kept},${g.c}` || spread.shape.join() !== x.shape.join())
    throw new Error(
      `${PhccDepthwiseKeptGrad}: dy [${dy.shape}] and its spread [${spread.shape}] are not [${g.rows.kept}, ${g.c}] and [${x.shape}]`,
    );
  if (part === 'x') return ops.finish(inputGradient(ops, helpers, spread, filter, keep, g));
  if (part === 'filter') return ops.finish(filterGradient(ops, helpers, x, spread, keep, g));
  throw new Error(`${PhccDepthwiseKeptGrad}: part must be x or filter, not ${String(part)}`);
};

export const phccDepthwiseKeptGradConfig: ReplacementKernelConfig = {
  kernelName: PhccDepthwiseKeptGrad,
  backendName: 'wasm',
  kernelFunc: depthwiseKeptBackward,
};

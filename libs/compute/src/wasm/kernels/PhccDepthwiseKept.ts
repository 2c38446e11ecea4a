import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { keptImageStarts, KeptRows, keptRowsOf } from '../kept-rows';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * A sparse depthwise conv, as FCMAE's masked encoder has it: the rows a keep map keeps of
 * depthwise(x ⊙ keep) + b, for x [B, H, W, C] (C % 4 = 0), a 'same', stride-1, multiplier-1
 * filter [kh, kw, C, 1], b [C] and keep [B, H, W, 1]: a compact [kept, C] matrix, as
 * PhccGatherRows gives it. Only the kept pixels are computed (issue #19: a masked SSL block keeps
 * 26 of 64 patches, and its depthwise conv computed all 64). x is read as it is when keep is 0/1
 * and x is already zero at the dropped pixels (the masked encoder keeps it so), else multiplied
 * by keep first.
 * Its gradient is PhccDepthwiseKeptGrad; `depthwiseKept` (ops/depthwise-kept.ts) runs it.
 */
export const PhccDepthwiseKept = 'PhccDepthwiseKept';

/** The SIMD helpers the sparse depthwise kernels call (signatures in simd/helpers.ts). */
export type DepthwiseKeptCalls = Pick<
  SimdHelpers,
  'depthwiseForwardKept' | 'depthwiseFilterGradKeptChannels' | 'droppedNonzero' | 'fillZero'
>;

/** How a sparse depthwise call's tensors relate: sizes, 'same' padding and the kept rows. */
export interface DepthwiseKeptGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  padT: number;
  padL: number;
  rows: KeptRows;
}

export function depthwiseKeptGeometry(
  ops: WasmOps,
  x: TensorInfo,
  filter: TensorInfo,
  keep: TensorInfo,
  kernelName: string,
): DepthwiseKeptGeometry {
  const [n, h, w, c] = x.shape;
  const [kh, kw, fc, mult] = filter.shape;
  if (x.shape.length !== 4 || c % 4 !== 0 || fc !== c || mult !== 1)
    throw new Error(
      `${kernelName}: needs x [B, H, W, C] with C a multiple of 4 and a filter [kh, kw, C, 1], got [${x.shape}] and [${filter.shape}]`,
    );
  const rows = keptRowsOf(ops, keep, n * h * w, kernelName);
  // 'same' at stride 1: tfjs puts the odd pixel of padding after.
  return { n, h, w, c, kh, kw, padT: Math.floor((kh - 1) / 2), padL: Math.floor((kw - 1) / 2), rows };
}

/** The helpers, or an error naming the kernel: these kernels have no path without them. */
export function depthwiseKeptHelpers(backend: unknown, kernelName: string): DepthwiseKeptCalls {
  const helpers: DepthwiseKeptCalls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${kernelName} needs the wasm SIMD helpers`);
  return helpers;
}

/**
 * Maps already found zero at every pixel a keep map drops: x's data → that map's data. The
 * forward and the filter gradient read the same x, so the gradient does not scan it again
 * (tensors' data never change while they live; keyed by identity, gone with the tensor).
 */
const zeroWhereDropped = new WeakMap<object, object>();

/**
 * x ⊙ keep: x itself when keep is a hard (0/1) mask and x is already zero at every dropped pixel
 * (checked once, in one SIMD pass over those pixels), else the product.
 */
export function zeroAtDropped(
  ops: WasmOps,
  helpers: DepthwiseKeptCalls,
  x: TensorInfo,
  keep: TensorInfo,
  g: DepthwiseKeptGeometry,
): TensorInfo {
  if (g.rows.binary && (g.rows.kept === g.rows.total || zeroWhereDropped.get(x.dataId) === keep.dataId))
    return x;
  const dirty =
    !g.rows.binary || helpers.droppedNonzero(ops.pointer(x), ops.pointer(keep), g.rows.total, g.c);
  if (dirty) return ops.run('Multiply', { a: x, b: keep });
  zeroWhereDropped.set(x.dataId, keep.dataId);
  return x;
}

/**
 * `depthwiseForwardKept` on [src, filter, out, keep] with the geometry of `g` (the map is as large
 * as the output: 'same', stride 1), `pad` its top and left padding.
 */
export function keptConv(
  ops: WasmOps,
  helpers: DepthwiseKeptCalls,
  tensors: [src: TensorInfo, filter: TensorInfo, out: TensorInfo, keep: TensorInfo],
  starts: number,
  mode: number,
  g: DepthwiseKeptGeometry,
  pad: [number, number],
): void {
  const [src, filter, out, keep] = tensors.map((t) => ops.pointer(t));
  const { n, h, w, c, kh, kw } = g;
  helpers.depthwiseForwardKept(src, filter, out, keep, starts, mode, n, h, w, c, h, w, kh, kw, ...pad);
}

const depthwiseKeptForward: KernelFunc = ({ inputs, backend }) => {
  const { x, filter, bias, keep } = inputs as Record<'x' | 'filter' | 'bias' | 'keep', TensorInfo>;
  const ops = new WasmOps(backend);
  const helpers = depthwiseKeptHelpers(backend, PhccDepthwiseKept);
  const g = depthwiseKeptGeometry(ops, x, filter, keep, PhccDepthwiseKept);
  const sparse = zeroAtDropped(ops, helpers, x, keep, g);
  const starts = ops.fromValues([g.n], keptImageStarts(g.rows, g.n, g.h * g.w));
  const out = ops.empty([g.rows.kept, g.c]);
  keptConv(ops, helpers, [sparse, filter, out, keep], ops.pointer(starts), 1, g, [g.padT, g.padL]);
  return ops.finish(ops.run('Add', { a: out, b: bias }));
};

export const phccDepthwiseKeptConfig: ReplacementKernelConfig = {
  kernelName: PhccDepthwiseKept,
  backendName: 'wasm',
  kernelFunc: depthwiseKeptForward,
};

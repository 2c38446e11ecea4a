import type { TensorInfo } from '@tensorflow/tfjs-core';
import { GEMM_KC } from './conv-filter-im2col';
import type { ConvGeometry } from './conv-gemm';
import { SimdHelpers } from './simd/helpers';
import { WasmOps } from './wasm-ops';

/**
 * "Patchify" convs, whose stride equals the kernel with no padding and the image an exact
 * multiple of it (pHCC-SSL's 2×2 stride-2 stem and downsampling convs), need no im2col: the
 * patches of one output row, taken one filter row i at a time, are already a row-major matrix
 * in NHWC x ([wo, kw·cin], rows kw·cin floats apart), so our GEMM reads them in place.
 *
 * - forward: out_row = Σ_i x_row,i · W[i] (W[i] = the filter's row i as [kw·cin, cout]);
 * - input gradient: dx_row,i = dy_row · W[i]ᵀ, and since patches do not overlap every dx value
 *   is written once (no phase split, no interleave, no clearing pass).
 *
 * One GEMM call per output row and filter row (`patchifyForwardRows` / `patchifyInputGradRows`,
 * threads/split-jobs.ts, so intra-op threads take whole output rows); a row group is four output pixels, so wo must be
 * a multiple of 4, and C's rows are written in place, so its width (cout, or kw·cin for the
 * input gradient) must fill whole 8-column panels.
 */

/** The SIMD helpers the patchify paths call (signatures in simd/helpers.ts). */
export type PatchifyCalls = Pick<
  SimdHelpers,
  'packPanels8' | 'patchifyForwardRows' | 'patchifyInputGradRows'
>;

/** Whether `g` is a patchify conv our row GEMM can run in place (`width`: C's row width). */
function isPatchify(g: ConvGeometry, width: number): boolean {
  return (
    g.stride[0] === g.kh &&
    g.stride[1] === g.kw &&
    g.pad[0] === 0 &&
    g.pad[1] === 0 &&
    g.h === g.kh * g.ho &&
    g.w === g.kw * g.wo &&
    g.wo % 4 === 0 &&
    width % 8 === 0
  );
}

export const patchifyForwardFits = (g: ConvGeometry): boolean => isPatchify(g, g.cout);
export const patchifyInputGradFits = (g: ConvGeometry): boolean => isPatchify(g, g.kw * g.cin);

/** out [n, ho, wo, cout] of a patchify conv (check `patchifyForwardFits` first). */
export function patchifyForward(
  helpers: PatchifyCalls,
  ops: WasmOps,
  x: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const k = g.kw * g.cin;
  const panels = g.cout / 8;
  // W[i] is rows [i·kw·cin, (i+1)·kw·cin) of the filter as [kh·kw·cin, cout]: one panel set each.
  const bp = ops.empty([g.kh, panels, k, 8]);
  const panelBytes = panels * k * 8 * 4;
  for (let i = 0; i < g.kh; i++) {
    helpers.packPanels8(
      ops.pointer(filter) + i * k * g.cout * 4,
      ops.pointer(bp) + i * panelBytes,
      k,
      g.cout,
    );
  }
  const out = ops.empty([g.n, g.ho, g.wo, g.cout]);
  // Output row `row` reads input rows kh·row + i (b·h + kh·y + i, since h = kh·ho).
  helpers.patchifyForwardRows(
    ops.pointer(x),
    ops.pointer(out),
    ops.pointer(bp),
    g.n * g.ho,
    g.kh,
    g.w * g.cin * 4,
    g.wo * g.cout * 4,
    panelBytes,
    k,
    g.wo / 4,
    panels,
    GEMM_KC,
  );
  ops.dispose(bp);
  return out;
}

/** dx [n, h, w, cin] of a patchify conv from dy [n, ho, wo, cout] (check `patchifyInputGradFits`). */
export function patchifyInputGrad(
  helpers: PatchifyCalls,
  ops: WasmOps,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const k = g.kw * g.cin;
  const panels = k / 8;
  // W[i]ᵀ [cout, kw·cin], transposed in JS: filters are small.
  const w = ops.read(filter);
  const transposed = new Float32Array(w.length);
  for (let i = 0; i < g.kh; i++) {
    const base = i * k * g.cout;
    for (let r = 0; r < k; r++) {
      for (let co = 0; co < g.cout; co++) transposed[base + co * k + r] = w[base + r * g.cout + co];
    }
  }
  const wt = ops.fromValues([g.kh, g.cout, k], transposed);
  const bp = ops.empty([g.kh, panels, g.cout, 8]);
  const panelBytes = panels * g.cout * 8 * 4;
  for (let i = 0; i < g.kh; i++) {
    helpers.packPanels8(ops.pointer(wt) + i * g.cout * k * 4, ops.pointer(bp) + i * panelBytes, g.cout, k);
  }
  const dx = ops.empty([g.n, g.h, g.w, g.cin]);
  helpers.patchifyInputGradRows(
    ops.pointer(dy),
    ops.pointer(dx),
    ops.pointer(bp),
    g.n * g.ho,
    g.kh,
    g.wo * g.cout * 4,
    g.w * g.cin * 4,
    panelBytes,
    g.cout,
    g.wo / 4,
    panels,
    GEMM_KC,
  );
  ops.dispose(wt);
  ops.dispose(bp);
  return dx;
}

import type { TensorInfo } from '@tensorflow/tfjs-core';
import { GEMM_KC, im2colLimit } from './conv-filter-im2col';
import { SimdHelpers } from './simd/helpers';
import { WasmOps } from './wasm-ops';

/** The SIMD helpers `convGemm` calls (signatures in simd/helpers.ts). */
export type ConvGemmCalls = Pick<
  SimdHelpers,
  | 'fillZero'
  | 'packPanels8'
  | 'packConvRows4'
  | 'gemm'
  | 'gemmRows'
  | 'gemmRowsBias'
  | 'gemmTransA'
  | 'extractRows'
>;

/** A convolution's shape, as the GEMM packers take it (NHWC x, [kh, kw, cin, cout] filter). */
export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  ho: number;
  wo: number;
  kh: number;
  kw: number;
  cout: number;
  stride: [number, number];
  pad: [number, number];
}

/**
 * out [n·ho·wo, cout] = im2col(x) · W on our GEMM, in chunks of output pixels whose packed im2col
 * stays under `im2colLimit.packed`. A plain matmul A [rows, k] · B [k, n] is the 1×1 conv over one
 * image row of `rows` pixels with k channels.
 */
export function convGemm(
  helpers: ConvGemmCalls,
  ops: WasmOps,
  x: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const pixels = g.n * g.ho * g.wo;
  const k = g.kh * g.kw * g.cin;
  const groups = Math.ceil(pixels / 4);
  const panels = Math.ceil(g.cout / 8);
  const zeros = ops.empty([Math.ceil(g.cin / 4) * 4]);
  helpers.fillZero(ops.pointer(zeros), zeros.shape[0]);
  const bp = ops.empty([panels, k, 8]);
  helpers.packPanels8(ops.pointer(filter), ops.pointer(bp), k, g.cout);
  const c = ops.empty([groups * 4, panels * 8]);
  helpers.fillZero(ops.pointer(c), groups * 4 * panels * 8);
  // Pixels per chunk: a multiple of 4 whose packed im2col stays under the cap.
  const chunk = Math.max(4, Math.floor(im2colLimit.packed / k / 4) * 4);
  for (let p0 = 0; p0 < pixels; p0 += chunk) {
    const count = Math.min(chunk, pixels - p0);
    const chunkGroups = Math.ceil(count / 4);
    const ap = ops.empty([chunkGroups, k, 4]);
    helpers.packConvRows4(
      ops.pointer(x),
      ops.pointer(zeros),
      ops.pointer(ap),
      p0,
      count,
      g.h,
      g.w,
      g.cin,
      g.ho,
      g.wo,
      g.kh,
      g.kw,
      g.stride[0],
      g.stride[1],
      g.pad[0],
      g.pad[1],
    );
    const cRows = ops.pointer(c) + p0 * panels * 8 * 4;
    helpers.gemm(ops.pointer(ap), ops.pointer(bp), cRows, chunkGroups, panels, k, GEMM_KC);
    ops.dispose(ap);
  }
  if (groups * 4 === pixels && panels * 8 === g.cout) return ops.reshape(c, [pixels, g.cout]);
  const out = ops.empty([pixels, g.cout]);
  helpers.extractRows(ops.pointer(c), ops.pointer(out), 1, groups * 4, pixels, panels * 8, g.cout);
  return out;
}

/**
 * out [rows, n] = a [rows, k] · b [k, n] for rows a multiple of 4: a is read where it lies (no
 * packed copy: for the pointwise layers' thin shapes, k and n of 32–512, packing a and clearing C
 * were two extra passes over memory per product), only the small b is packed into panels.
 * With `bias` ([n], n a multiple of 8), out = a · b + bias, the bias added in the GEMM's registers
 * (`gemmRowsBias`): the bits of the product followed by a broadcast Add, one pass fewer.
 */
export function matmulRowMajor(
  helpers: ConvGemmCalls,
  ops: WasmOps,
  a: TensorInfo,
  b: TensorInfo,
  rows: number,
  k: number,
  n: number,
  bias?: TensorInfo,
): TensorInfo {
  if (rows % 4 !== 0) throw new Error(`matmulRowMajor: ${rows} rows is not a multiple of 4`);
  if (bias && n % 8 !== 0) throw new Error(`matmulRowMajor: a bias needs whole panels, not ${n} columns`);
  const panels = Math.ceil(n / 8);
  const bp = ops.empty([panels, k, 8]);
  helpers.packPanels8(ops.pointer(b), ops.pointer(bp), k, n);
  const c = ops.empty([rows, panels * 8]);
  const args = [
    ops.pointer(a),
    k * 4,
    ops.pointer(bp),
    ops.pointer(c),
    rows / 4,
    panels,
    k,
    GEMM_KC,
  ] as const;
  if (bias) helpers.gemmRowsBias(...args, ops.pointer(bias));
  else helpers.gemmRows(...args);
  if (panels * 8 === n) return c;
  const out = ops.empty([rows, n]);
  helpers.extractRows(ops.pointer(c), ops.pointer(out), 1, rows, rows, panels * 8, n);
  return out;
}

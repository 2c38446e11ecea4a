import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvGeometry } from './conv-gemm';
import { SimdHelpers, simdHelpers } from './simd/helpers';
import { WasmOps } from './wasm-ops';

/**
 * Largest im2col built at once, in float32 values; larger problems run in chunks (of whole
 * images for the filter gradient, of output pixels for the forward conv and matmul) whose
 * results are accumulated or placed side by side.
 * - `packed`: our GEMM's packed operand, 1 MiB, so each chunk is packed into L2 and consumed
 *   from there instead of making a round trip through memory (measured: a reference-CNN step
 *   231 ms with 1 MiB chunks against 270 ms with 64 MiB ones, same process, alternating).
 * - `values`: the XNNPACK fallback's colsᵀ, 64 MiB: XNNPACK's matmul is slower on short chunks.
 * Mutable so tests can force chunking on small shapes.
 */
export const im2colLimit = { values: 16 * 1024 * 1024, packed: 256 * 1024 };

/** k-chunk of the GEMM: a row group's Ap chunk (4 KiB) stays in L1 across all panels. */
export const GEMM_KC = 256;

/** The SIMD helpers the filter gradient calls (signatures in simd/helpers.ts). */
export type FilterGradCalls = Pick<
  SimdHelpers,
  'fillZero' | 'packIm2col4' | 'packPanels8' | 'gemm' | 'extractRows'
>;

/**
 * dW of a stride-s conv as one matmul, dW[kh·kw·Cin, Cout] = colsᵀ[kh·kw·Cin, K] · dy[K, Cout]
 * with K = N·Ho·Wo, done in chunks of whole images when colsᵀ would pass `im2colLimit`.
 * Strides and padding cost nothing here: they only change which x values the im2col copies.
 *
 * With the SIMD helpers, colsᵀ is packed four channels at a time straight from NHWC x, dy into
 * panels of eight output channels, and our own GEMM (FMA when the engine has relaxed SIMD)
 * accumulates every chunk into one result: 1.5–2× XNNPACK's matmul on these long-K shapes,
 * which its un-fused multiply-add and packing of the huge operand hold back. Without the
 * helpers, colsᵀ is written in JS and multiplied by XNNPACK.
 */
export function conv2dFilterGradIm2col(
  ops: WasmOps,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: [number, number, number, number],
  stride: [number, number],
  pad: [number, number],
): TensorInfo {
  const [n, h, w, cin] = x.shape;
  const [, ho, wo] = dy.shape;
  const [kh, kw] = filterShape;
  const geometry: Im2colGeometry = { n, h, w, cin, ho, wo, kh, kw, stride, pad };
  const helpers = simdHelpers(ops.backend);
  return helpers ? filterGradGemm(helpers, ops, x, dy, geometry) : filterGradXnnpack(ops, x, dy, geometry);
}

function imagesPerChunk(n: number, valuesPerImage: number, limit: number): number {
  return Math.max(1, Math.min(n, Math.floor(limit / valuesPerImage)));
}

function filterGradGemm(
  helpers: FilterGradCalls,
  ops: WasmOps,
  x: TensorInfo,
  dy: TensorInfo,
  g: Im2colGeometry,
): TensorInfo {
  const { n, h, w, cin, ho, wo, kh, kw } = g;
  const cout = dy.shape[3];
  const cinPad = Math.ceil(cin / 4) * 4;
  const groups = (kh * kw * cinPad) / 4;
  const panels = Math.ceil(cout / 8);
  const c = ops.empty([groups * 4, panels * 8]);
  helpers.fillZero(ops.pointer(c), groups * 4 * panels * 8);
  const chunk = imagesPerChunk(n, kh * kw * cinPad * ho * wo, im2colLimit.packed);
  for (let b0 = 0; b0 < n; b0 += chunk) {
    const nb = Math.min(chunk, n - b0);
    const k = nb * ho * wo;
    const ap = ops.empty([groups, k, 4]);
    const bp = ops.empty([panels, k, 8]);
    helpers.packIm2col4(
      ops.pointer(x),
      ops.pointer(ap),
      b0,
      nb,
      h,
      w,
      cin,
      ho,
      wo,
      kh,
      kw,
      g.stride[0],
      g.stride[1],
      g.pad[0],
      g.pad[1],
    );
    // dy's rows for these images start b0·Ho·Wo rows in: a pointer offset, no copy.
    helpers.packPanels8(ops.pointer(dy) + b0 * ho * wo * cout * 4, ops.pointer(bp), k, cout);
    helpers.gemm(ops.pointer(ap), ops.pointer(bp), ops.pointer(c), groups, panels, k, GEMM_KC);
    ops.dispose(ap);
    ops.dispose(bp);
  }
  if (cinPad === cin && panels * 8 === cout) return ops.reshape(c, [kh, kw, cin, cout]);
  const dw = ops.empty([kh, kw, cin, cout]);
  helpers.extractRows(ops.pointer(c), ops.pointer(dw), kh * kw, cinPad, cin, panels * 8, cout);
  return dw;
}

function filterGradXnnpack(ops: WasmOps, x: TensorInfo, dy: TensorInfo, g: Im2colGeometry): TensorInfo {
  const { n, cin, ho, wo, kh, kw } = g;
  const cout = dy.shape[3];
  const taps = kh * kw * cin;
  const chunk = imagesPerChunk(n, taps * ho * wo, im2colLimit.values);
  let sum: TensorInfo | undefined;
  for (let b0 = 0; b0 < n; b0 += chunk) {
    const nb = Math.min(chunk, n - b0);
    const k = nb * ho * wo;
    // colsᵀ on the left: XNNPACK then packs only the small dy.
    const colsT = ops.empty([1, taps, k]);
    fillJs(ops, x, colsT, g, b0, nb);
    const dyRows = nb === n ? dy : ops.slice(dy, [b0, 0, 0, 0], [nb, ho, wo, cout]);
    const part = ops.run(
      'BatchMatMul',
      { a: colsT, b: ops.reshape(dyRows, [1, k, cout]) },
      { transposeA: false, transposeB: false },
    );
    ops.dispose(colsT);
    if (sum) {
      const next = ops.run('Add', { a: sum, b: part });
      ops.dispose(sum);
      ops.dispose(part);
      sum = next;
    } else {
      sum = part;
    }
  }
  return ops.reshape(sum!, [kh, kw, cin, cout]);
}

/** A conv's shape without Cout, which the filter gradient takes from dy. */
type Im2colGeometry = Omit<ConvGeometry, 'cout'>;

/** The same colsᵀ from NHWC x in JS: one output column (K position) at a time. */
function fillJs(
  ops: WasmOps,
  x: TensorInfo,
  colsT: TensorInfo,
  g: Im2colGeometry,
  b0: number,
  nb: number,
): void {
  const { h, w, cin, ho, wo, kh, kw } = g;
  const [sh, sw] = g.stride;
  const [padT, padL] = g.pad;
  const k = nb * ho * wo;
  // Views after the last allocation: the heap may grow on allocation.
  const src = ops.view(x);
  const dst = ops.view(colsT);
  let row = 0;
  for (let b = b0; b < b0 + nb; b++) {
    for (let y = 0; y < ho; y++) {
      for (let xo = 0; xo < wo; xo++, row++) {
        let t = row;
        for (let i = 0; i < kh; i++) {
          const yy = y * sh + i - padT;
          const inY = yy >= 0 && yy < h;
          for (let j = 0; j < kw; j++) {
            const xx = xo * sw + j - padL;
            if (!inY || xx < 0 || xx >= w) {
              for (let c = 0; c < cin; c++, t += k) dst[t] = 0;
            } else {
              const s = ((b * h + yy) * w + xx) * cin;
              for (let c = 0; c < cin; c++, t += k) dst[t] = src[s + c];
            }
          }
        }
      }
    }
  }
}

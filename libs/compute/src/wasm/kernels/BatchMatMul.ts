import { BatchMatMul } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { conv2dFilterGradIm2col, GEMM_KC } from '../conv-filter-im2col';
import { ConvGemmCalls, convGemm, matmulRowMajor } from '../conv-gemm';
import type { WrappingKernelConfig } from '../kernel-config';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * BatchMatMul for wasm: its kernel is fast (XNNPACK) only for untransposed operands; with
 * transposeA or transposeB — every dense layer's backward pass — it falls to a loop ~15–20×
 * slower. Transposing explicitly first costs one memory pass. A broadcast right operand
 * (batch 1, e.g. a weight matrix) folds the left batch into rows: one large matmul instead of
 * wasm's slow per-batch loop. aᵀ · b (weight gradients) goes to the conv filter gradient's packer.
 * Calls: `convGemm` (conv-gemm.ts) and its `ConvGemmCalls` SIMD helpers; `conv2dFilterGradIm2col`.
 */
function makeBatchMatMul(original: KernelFunc): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const a = inputs.a as TensorInfo;
    const b = inputs.b as TensorInfo;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') {
      return original({ inputs, attrs, backend });
    }
    const ops = new WasmOps(backend);
    const a3 = as3d(ops, a);
    const b3 = as3d(ops, b);
    const helpers: ConvGemmCalls | undefined = simdHelpers(backend);
    if ((transposeA ? a3.shape[1] : a3.shape[2]) === 0) {
      // A product over nothing (a masked layer that keeps no row): zeros. wasm's own kernel
      // leaves such an output unwritten, and so would our GEMMs.
      const m = transposeA ? a3.shape[2] : a3.shape[1];
      const n = transposeB ? b3.shape[1] : b3.shape[2];
      const outer = a3.shape[0] >= b3.shape[0] ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
      return ops.finish(ops.zeros([...outer, m, n]));
    }
    if (helpers && transposeA && !transposeB && a3.shape[0] === 1 && b3.shape[0] === 1) {
      // aᵀ · b with a [K, M], b [K, N]: every dense layer's weight gradient (xᵀ · dy). A small
      // one is read in place (`gemmTransA`); a larger one is a 1×1 conv's filter gradient over K
      // one-pixel images, whose packer reads a's rows as they lie: no transpose of the large
      // operand (that transpose was ≈ 45 % of the matmul time in a pHCC-SSL step), chunked over
      // K so each packed chunk stays in L2.
      const [, k, m] = a3.shape;
      const n = b3.shape[2];
      if (m % 4 === 0 && n % 8 === 0 && m * n <= TRANS_A_MAX_OUTPUT) {
        // A small dW (stages 1–2's pointwise layers): both operands read in place, no packing.
        const out = ops.empty([m, n]);
        helpers.gemmTransA(
          ops.pointer(a3),
          m * 4,
          ops.pointer(b3),
          n * 4,
          ops.pointer(out),
          m / 4,
          n / 8,
          k,
          GEMM_KC,
        );
        return ops.finish(ops.reshape(out, [...a.shape.slice(0, -2), m, n]));
      }
      const x = ops.reshape(a3, [k, 1, 1, m]);
      const dy = ops.reshape(b3, [k, 1, 1, n]);
      const dw = conv2dFilterGradIm2col(ops, x, dy, [1, 1, m, n], [1, 1], [0, 0]);
      return ops.finish(ops.reshape(dw, [...a.shape.slice(0, -2), m, n]));
    }
    const batchA3 = a3.shape[0];
    if (
      helpers &&
      !transposeB &&
      batchA3 > 1 &&
      b3.shape[0] === batchA3 &&
      b3.shape[2] % 8 === 0 &&
      batchA3 * a3.shape[1] * a3.shape[2] * b3.shape[2] >= BATCHED_MIN_MACS &&
      (transposeA || a3.shape[1] % 4 === 0)
    ) {
      // A batch of products, each large enough for our GEMM (pHCC-SSL's region pooling,
      // [48, 64, 3]ᵀ · [48, 64, 256], and its gradient [48, 64, 3] · [48, 3, 256]): one GEMM per
      // batch item written into its slice of the output. XNNPACK took 4–12 ms for these
      // memory-bound products (K of 3 or M of 3), 3 % of a fine-tune step.
      const out = batchedProducts(helpers, ops, a3, b3, transposeA);
      return ops.finish(ops.reshape(out, [...a.shape.slice(0, -2), out.shape[1], out.shape[2]]));
    }
    const aN = transposeA ? ops.transpose(a3, [0, 2, 1]) : a3;
    const bN = transposeB ? ops.transpose(b3, [0, 2, 1]) : b3;
    const [batchA, m, k] = aN.shape;
    const [batchB, , n] = bN.shape;
    const outer = batchA >= batchB ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
    const noTranspose = { transposeA: false, transposeB: false };
    let out: TensorInfo;
    if (helpers && batchB === 1 && ourGemmTakes(batchA * m, k, n)) {
      // A [rows, k] · B [k, n] is a 1×1 conv over one image row of `rows` pixels with k channels.
      const rows = batchA * m;
      if (rows % 4 === 0) {
        out = ops.reshape(matmulRowMajor(helpers, ops, aN, bN, rows, k, n), [1, rows, n]);
      } else {
        const geometry = { n: 1, h: 1, w: rows, cin: k, ho: 1, wo: rows, kh: 1, kw: 1, cout: n };
        const flat = convGemm(helpers, ops, aN, bN, { ...geometry, stride: [1, 1], pad: [0, 0] });
        out = ops.reshape(flat, [1, rows, n]);
      }
    } else if (batchB === 1 && batchA > 1) {
      const rows = ops.reshape(aN, [1, batchA * m, k]);
      out = ops.runFunc('BatchMatMul', original, { a: rows, b: bN }, noTranspose);
    } else {
      out = ops.runFunc('BatchMatMul', original, { a: aN, b: bN }, noTranspose);
    }
    return ops.finish(ops.reshape(out, [...outer, m, n]));
  };
}

/**
 * Largest aᵀ·b output (m·n values) read in place by `gemmTransA` rather than packed first. Each k
 * step reads one row of each operand, so a row group meets the b rows of its whole k-chunk again
 * for every group: cheap while those rows are short (n ≤ 128 floats), but with rows of 1–2 KB the
 * chunk spans more pages than the TLB holds (our reading; not measured with counters) and the
 * packed copy wins. Measured alternated on the model's shapes (k·m·n): 49152·64·32 1.19–1.41×,
 * 12288·128·64 1.08–1.17×, 49152·32·64 and 12288·64·128 1.00–1.16× faster in place;
 * 3072·128·256 0.77–0.92× and 3072·256·512 0.69–0.86×.
 */
const TRANS_A_MAX_OUTPUT = 8192;

/** Below this many values in A, packing costs more than XNNPACK's lack of FMA (dense heads). */
const GEMM_MIN_VALUES = 16 * 1024;

/**
 * Whether a plain product A [rows, k] · B [k, n] runs on our GEMM here rather than XNNPACK's
 * (PhccDense asks too, so that its bias epilogue is taken exactly where the product is ours).
 */
export function ourGemmTakes(rows: number, k: number, n: number): boolean {
  return n >= 8 && rows * k >= GEMM_MIN_VALUES;
}
/** Batch items run through `batchedProducts` so far (tests check that the path was taken). */
export const batchedProductsRun = { items: 0 };

/** Multiply-adds of a whole batch below which tfjs's own batched matmul is left to it (attention's tiny products). */
const BATCHED_MIN_MACS = 1 << 20;

/**
 * out[i] = A[i] · B[i] (or A[i]ᵀ · B[i]) for every batch item, each on our GEMM with B[i] packed
 * into panels: A[i] read in place when its rows are a multiple of 4, else (transposed: A[i] is
 * [K, M]) packed in JS into M padded to whole row groups — small here, M of 3 — and the padding
 * rows dropped from the result.
 */
function batchedProducts(
  helpers: ConvGemmCalls,
  ops: WasmOps,
  a3: TensorInfo,
  b3: TensorInfo,
  transposeA: boolean,
): TensorInfo {
  const [batch, ar, ac] = a3.shape;
  const [, k, n] = b3.shape;
  const m = transposeA ? ac : ar;
  const panels = n / 8;
  const bp = ops.empty([panels, k, 8]);
  batchedProductsRun.items += batch;
  if (!transposeA) {
    const out = ops.empty([batch, m, n]);
    for (let i = 0; i < batch; i++) {
      helpers.packPanels8(ops.pointer(b3) + i * k * n * 4, ops.pointer(bp), k, n);
      const aAt = ops.pointer(a3) + i * m * k * 4;
      helpers.gemmRows(
        aAt,
        k * 4,
        ops.pointer(bp),
        ops.pointer(out) + i * m * n * 4,
        m / 4,
        panels,
        k,
        GEMM_KC,
      );
    }
    ops.dispose(bp);
    return out;
  }
  const groups = Math.ceil(m / 4);
  const ap = ops.empty([batch, groups, k, 4]);
  const c = ops.empty([batch, groups * 4, n]);
  helpers.fillZero(ops.pointer(c), batch * groups * 4 * n);
  // Ap[i][g][kk][r] = A[i][kk][4g + r], zero past M (views after the last allocation).
  const src = ops.view(a3);
  const dst = ops.view(ap);
  for (let i = 0, d = 0; i < batch; i++) {
    for (let g = 0; g < groups; g++) {
      for (let kk = 0; kk < k; kk++) {
        const row = (i * k + kk) * m;
        for (let r = 0; r < 4; r++, d++) dst[d] = 4 * g + r < m ? src[row + 4 * g + r] : 0;
      }
    }
  }
  for (let i = 0; i < batch; i++) {
    helpers.packPanels8(ops.pointer(b3) + i * k * n * 4, ops.pointer(bp), k, n);
    const apAt = ops.pointer(ap) + i * groups * k * 16;
    helpers.gemm(apAt, ops.pointer(bp), ops.pointer(c) + i * groups * 4 * n * 4, groups, panels, k, GEMM_KC);
  }
  ops.dispose(bp);
  ops.dispose(ap);
  if (groups * 4 === m) return c;
  const out = ops.empty([batch, m, n]);
  helpers.extractRows(ops.pointer(c), ops.pointer(out), batch, groups * 4, m, n, n);
  return out;
}

function as3d(ops: WasmOps, x: TensorInfo): TensorInfo {
  const r = x.shape.length;
  const batch = x.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  return ops.reshape(x, [batch, x.shape[r - 2], x.shape[r - 1]]);
}

export const batchMatMulConfig: WrappingKernelConfig = {
  kernelName: BatchMatMul,
  backendName: 'wasm',
  wrap: makeBatchMatMul,
};

import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { im2colLimit } from './conv-filter-im2col';
import { SimdHelpers, simdHelpers } from './simd/helpers';
import { WasmOps } from './wasm-ops';

/**
 * BatchMatMul for wasm: its kernel is fast (XNNPACK) only for untransposed operands; with
 * transposeA or transposeB — every dense layer's backward pass — it falls to a loop ~15–20×
 * slower. Transposing explicitly first costs one memory pass. A broadcast right operand
 * (batch 1, e.g. a weight matrix) folds the left batch into rows: one large matmul instead of
 * wasm's slow per-batch loop.
 */
export function makeBatchMatMul(original: KernelFunc): KernelFunc {
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
    const aN = transposeA ? ops.transpose(a3, [0, 2, 1]) : a3;
    const bN = transposeB ? ops.transpose(b3, [0, 2, 1]) : b3;
    const [batchA, m, k] = aN.shape;
    const [batchB, , n] = bN.shape;
    const outer = batchA >= batchB ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
    const noTranspose = { transposeA: false, transposeB: false };
    let out: TensorInfo;
    const helpers = simdHelpers(backend);
    if (helpers && batchB === 1 && n >= 8 && batchA * m * k >= GEMM_MIN_VALUES) {
      out = gemm(helpers, ops, aN, bN, batchA * m, k, n);
    } else if (batchB === 1 && batchA > 1) {
      const rows = ops.reshape(aN, [1, batchA * m, k]);
      out = ops.runFunc('BatchMatMul', original, { a: rows, b: bN }, noTranspose);
    } else {
      out = ops.runFunc('BatchMatMul', original, { a: aN, b: bN }, noTranspose);
    }
    return ops.finish(ops.reshape(out, [...outer, m, n]));
  };
}

/** Below this many values in A, packing costs more than XNNPACK's lack of FMA (dense heads). */
const GEMM_MIN_VALUES = 16 * 1024;

/**
 * A [rows, k] · B [k, n] on our packed FMA GEMM (simd/gemm-wat.ts): A is packed four rows at a
 * time by the forward-conv packer (a 1×1 conv over one image row of `rows` pixels with k
 * channels), B into 8-column panels. Pointwise layers (ConvNeXt MLPs, projections) are such
 * matmuls with rows = batch × pixels.
 */
function gemm(
  helpers: SimdHelpers,
  ops: WasmOps,
  a: TensorInfo,
  b: TensorInfo,
  rows: number,
  k: number,
  n: number,
): TensorInfo {
  const groups = Math.ceil(rows / 4);
  const panels = Math.ceil(n / 8);
  const zeros = ops.empty([Math.ceil(k / 4) * 4]);
  helpers.fillZero(ops.pointer(zeros), zeros.shape[0]);
  const bp = ops.empty([panels, k, 8]);
  helpers.packPanels8(ops.pointer(b), ops.pointer(bp), k, n);
  const c = ops.empty([groups * 4, panels * 8]);
  helpers.fillZero(ops.pointer(c), groups * 4 * panels * 8);
  const chunk = Math.max(4, Math.floor(im2colLimit.packed / k / 4) * 4);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const count = Math.min(chunk, rows - r0);
    const chunkGroups = Math.ceil(count / 4);
    const ap = ops.empty([chunkGroups, k, 4]);
    helpers.packConvRows4(
      ops.pointer(a),
      ops.pointer(zeros),
      ops.pointer(ap),
      r0,
      count,
      1,
      rows,
      k,
      1,
      rows,
      1,
      1,
      1,
      1,
      0,
      0,
    );
    helpers.gemm(
      ops.pointer(ap),
      ops.pointer(bp),
      ops.pointer(c) + r0 * panels * 8 * 4,
      chunkGroups,
      panels,
      k,
      256,
    );
    ops.dispose(ap);
  }
  if (groups * 4 === rows && panels * 8 === n) return ops.reshape(c, [1, rows, n]);
  const out = ops.empty([1, rows, n]);
  helpers.extractRows(ops.pointer(c), ops.pointer(out), 1, groups * 4, rows, panels * 8, n);
  return out;
}

function as3d(ops: WasmOps, x: TensorInfo): TensorInfo {
  const r = x.shape.length;
  const batch = x.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  return ops.reshape(x, [batch, x.shape[r - 2], x.shape[r - 1]]);
}

import { Sum, util } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WrappingKernelConfig } from '../kernel-config';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/** The SIMD helper this kernel calls (signature in simd/helpers.ts). */
type Calls = Pick<SimdHelpers, 'sumRows'>;

/**
 * Sum for wasm. Summing over leading or middle axes — every bias gradient ([B, H, W, C] → [C]),
 * GRN's spatial norm ([B, H, W, C] → [B, C]) — makes wasm's kernel transpose the whole tensor so
 * the reduced axes come last. A row-wise accumulation reads x once, in order (measured 5–10×
 * faster than the transpose, and than a ones-vector matmul, whose operand packing dominates);
 * the SIMD helper does the same accumulation in wasm, another ≈ 5× faster than the JS loop.
 * Reductions over the last axis are already fast and go to the original kernel.
 */
function makeSum(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    // Reduced axes must be one contiguous run that does not reach the last axis.
    const first = axes[0];
    const contiguous = axes.length > 0 && axes.every((a, i) => a === first + i);
    const last = first + axes.length - 1;
    if (x.dtype !== 'float32' || !contiguous || last >= x.shape.length - 1) return original(args);
    const ops = new WasmOps(args.backend);
    const size = (dims: number[]) => dims.reduce((p, q) => p * q, 1);
    const outer = size(x.shape.slice(0, first));
    const rows = size(x.shape.slice(first, last + 1));
    const cols = size(x.shape.slice(last + 1));
    const outShape = x.shape.flatMap((d, i) => (i < first || i > last ? [d] : keepDims ? [1] : []));
    const out = ops.empty(outShape);
    const helpers: Calls | undefined = simdHelpers(ops.backend);
    if (helpers) {
      const scratch = ops.empty([2 * cols]); // cols float64 accumulators
      helpers.sumRows(ops.pointer(x), ops.pointer(out), ops.pointer(scratch), outer, rows, cols);
      return ops.finish(out);
    }
    // Views after the allocation: it may grow (and detach) the wasm heap.
    const src = ops.view(x);
    const dst = ops.view(out);
    const acc = new Float64Array(cols);
    for (let o = 0; o < outer; o++) {
      acc.fill(0);
      let at = o * rows * cols;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) acc[c] += src[at + c];
        at += cols;
      }
      dst.set(acc, o * cols);
    }
    return ops.finish(out);
  };
}

export const sumConfig: WrappingKernelConfig = {
  kernelName: Sum,
  backendName: 'wasm',
  wrap: makeSum,
};

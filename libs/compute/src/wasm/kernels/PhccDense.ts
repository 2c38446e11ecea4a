import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { ConvGemmCalls, matmulRowMajor } from '../conv-gemm';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';
import { ourGemmTakes } from './BatchMatMul';

/**
 * A dense layer over the last axis, y = x · W + b for x [..., K], W [K, N], b [N], as one engine
 * dispatch (issue #19). Composed it is Reshape, BatchMatMul, Add, Reshape forward and about seven
 * kernels backward (two Reshape gradients, the broadcast Add's Reshape, Sum and Reshape, two
 * BatchMatMul); the pointwise convolutions, projections and head layers made ≈ 90 of an SSL step's
 * 136 Reshape dispatches. This kernel runs the very same wasm kernels inside itself (the registered
 * BatchMatMul and Add, so their routing and numbers are unchanged) without an engine dispatch each,
 * except that where BatchMatMul would take our row-major GEMM the bias is added in the GEMM's
 * registers after the product (`gemmRowsBias`: the Add's bits without its pass over y). Its
 * gradient is PhccDenseGrad. `dense` (ops/dense.ts) is the op that runs it.
 */
export const PhccDense = 'PhccDense';

/** [rows, K] for x [..., K]: the leading axes folded, as the composed op's Reshape did. */
export function rows2d(x: TensorInfo): number[] {
  const k = x.shape[x.shape.length - 1];
  return [x.shape.reduce((a, b) => a * b, 1) / k, k];
}

const denseForward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const kernel = inputs.kernel as TensorInfo;
  const bias = inputs.bias as TensorInfo;
  const ops = new WasmOps(backend);
  const [rows, k] = rows2d(x);
  const n = kernel.shape[1];
  const helpers: ConvGemmCalls | undefined = simdHelpers(backend);
  const out = [...x.shape.slice(0, -1), n];
  const float32 = [x, kernel, bias].every((t) => t.dtype === 'float32');
  if (helpers && float32 && rows % 4 === 0 && n % 8 === 0 && ourGemmTakes(rows, k, n)) {
    // Where BatchMatMul would run our GEMM, the bias goes into its registers (the same bits as
    // the Add below, one pass over y fewer: ≈ 2 % of a fine-tune step).
    const y = matmulRowMajor(helpers, ops, x, kernel, rows, k, n, bias);
    return ops.finish(ops.reshape(y, out));
  }
  const product = ops.run(
    'BatchMatMul',
    { a: ops.reshape(x, rows2d(x)), b: kernel },
    { transposeA: false, transposeB: false },
  );
  const y = ops.run('Add', { a: product, b: bias });
  return ops.finish(ops.reshape(y, out));
};

export const phccDenseConfig: ReplacementKernelConfig = {
  kernelName: PhccDense,
  backendName: 'wasm',
  kernelFunc: denseForward,
};

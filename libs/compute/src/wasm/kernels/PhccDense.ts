import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { WasmOps } from '../wasm-ops';

/**
 * A dense layer over the last axis, y = x · W + b for x [..., K], W [K, N], b [N], as one engine
 * dispatch (issue #19). Composed it is Reshape, BatchMatMul, Add, Reshape forward and about seven
 * kernels backward (two Reshape gradients, the broadcast Add's Reshape, Sum and Reshape, two
 * BatchMatMul); the pointwise convolutions, projections and head layers made ≈ 90 of an SSL step's
 * 136 Reshape dispatches. This kernel runs the very same wasm kernels inside itself (the registered
 * BatchMatMul and Add, so their routing and numbers are unchanged) without an engine dispatch each;
 * its gradient is PhccDenseGrad. `dense` (ops/dense.ts) is the op that runs it.
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
  const product = ops.run(
    'BatchMatMul',
    { a: ops.reshape(x, rows2d(x)), b: kernel },
    { transposeA: false, transposeB: false },
  );
  const y = ops.run('Add', { a: product, b: bias });
  return ops.finish(ops.reshape(y, [...x.shape.slice(0, -1), kernel.shape[1]]));
};

export const phccDenseConfig: ReplacementKernelConfig = {
  kernelName: PhccDense,
  backendName: 'wasm',
  kernelFunc: denseForward,
};

import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { WasmOps } from '../wasm-ops';
import { rows2d } from './PhccDense';

/**
 * One input's gradient of `PhccDense` (kernels/PhccDense.ts) as one dispatch, `part` naming which:
 * 'x' → dy · Wᵀ, 'kernel' → xᵀ · dy, 'bias' → Σ_rows dy. The same wasm kernels and attributes as
 * tfjs's BatchMatMul and broadcast-Add gradients, run inside this one, so the numbers are theirs.
 * One kernel per part (not all three at once) because the engine asks only for the gradients on
 * the path to what is differentiated: a frozen encoder's weights cost nothing.
 */
export const PhccDenseGrad = 'PhccDenseGrad';

export type DensePart = 'x' | 'kernel' | 'bias';

const denseBackward: KernelFunc = ({ inputs, backend, attrs }) => {
  const dy = inputs.dy as TensorInfo;
  const part = (attrs as { part: DensePart }).part;
  const ops = new WasmOps(backend);
  const dyRows = ops.reshape(dy, rows2d(dy));
  if (part === 'bias') return ops.finish(ops.run('Sum', { x: dyRows }, { axis: [0], keepDims: false }));
  if (part === 'kernel') {
    const x = inputs.x as TensorInfo;
    return ops.finish(
      ops.run(
        'BatchMatMul',
        { a: ops.reshape(x, rows2d(x)), b: dyRows },
        { transposeA: true, transposeB: false },
      ),
    );
  }
  if (part === 'x') {
    const x = inputs.x as TensorInfo;
    const kernel = inputs.kernel as TensorInfo;
    const dx = ops.run('BatchMatMul', { a: dyRows, b: kernel }, { transposeA: false, transposeB: true });
    return ops.finish(ops.reshape(dx, x.shape));
  }
  throw new Error(`${PhccDenseGrad}: part must be x, kernel or bias, not ${String(part)}`);
};

export const phccDenseGradConfig: ReplacementKernelConfig = {
  kernelName: PhccDenseGrad,
  backendName: 'wasm',
  kernelFunc: denseBackward,
};

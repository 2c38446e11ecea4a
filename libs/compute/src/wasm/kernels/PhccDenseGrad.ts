import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { WasmOps } from '../wasm-ops';
import { rows2d } from './PhccDense';
import { gatherTensorRows, keptRowsOf, scatterTensorRows } from './PhccMaskedDense';

/**
 * One input's gradient of `PhccDense` (kernels/PhccDense.ts) as one dispatch, `part` naming which:
 * 'x' → dy · Wᵀ, 'kernel' → xᵀ · dy, 'bias' → Σ_rows dy. The same wasm kernels and attributes as
 * tfjs's BatchMatMul and broadcast-Add gradients, run inside this one, so the numbers are theirs.
 * One kernel per part (not all three at once) because the engine asks only for the gradients on
 * the path to what is differentiated: a frozen encoder's weights cost nothing.
 *
 * With a `keep` input it is `PhccMaskedDense`'s gradient (y = keep ⊙ (x · W + b)): dy's dropped
 * rows do not count, so every part runs on the kept rows only (gathered as the forward does) and
 * dx is zero at the dropped rows.
 */
export const PhccDenseGrad = 'PhccDenseGrad';

export type DensePart = 'x' | 'kernel' | 'bias';

const denseBackward: KernelFunc = ({ inputs, backend, attrs }) => {
  const part = (attrs as { part: DensePart }).part;
  if (part !== 'x' && part !== 'kernel' && part !== 'bias')
    throw new Error(`${PhccDenseGrad}: part must be x, kernel or bias, not ${String(part)}`);
  const ops = new WasmOps(backend);
  const x = inputs.x as TensorInfo;
  const kernel = inputs.kernel as TensorInfo;
  let dyRows = ops.reshape(inputs.dy as TensorInfo, rows2d(inputs.dy as TensorInfo));
  let xRows = () => ops.reshape(x, rows2d(x));
  let finishDx = (dx: TensorInfo) => ops.reshape(dx, x.shape);
  if (inputs.keep) {
    const [rows, n] = dyRows.shape;
    const kept = keptRowsOf(ops, inputs.keep as TensorInfo, rows, PhccDenseGrad);
    if (kept.kept === 0) {
      const shape = part === 'x' ? x.shape : part === 'kernel' ? kernel.shape : [n];
      return ops.finish(ops.zeros(shape));
    }
    dyRows = gatherTensorRows(ops, dyRows, n, kept);
    xRows = () => gatherTensorRows(ops, x, kernel.shape[0], kept);
    finishDx = (dx) => scatterTensorRows(ops, dx, kernel.shape[0], kept, x.shape);
  }
  if (part === 'bias') return ops.finish(ops.run('Sum', { x: dyRows }, { axis: [0], keepDims: false }));
  if (part === 'kernel') {
    return ops.finish(
      ops.run('BatchMatMul', { a: xRows(), b: dyRows }, { transposeA: true, transposeB: false }),
    );
  }
  const dx = ops.run('BatchMatMul', { a: dyRows, b: kernel }, { transposeA: false, transposeB: true });
  return ops.finish(finishDx(dx));
};

export const phccDenseGradConfig: ReplacementKernelConfig = {
  kernelName: PhccDenseGrad,
  backendName: 'wasm',
  kernelFunc: denseBackward,
};

import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { gatherRows, keptRows, KeptRows, scatterRows } from '../kept-rows';
import { WasmOps } from '../wasm-ops';
import { PhccDense, rows2d } from './PhccDense';

/**
 * A dense layer whose masked rows are zero: y = keep ⊙ (x · W + b) for x [..., K], W [K, N],
 * b [N] and a keep map with one value per row (x's leading axes, then 1). Only the kept rows are
 * computed: they are gathered into a compact [kept, K] matrix, run through PhccDense, and scattered
 * back with zeros between them. In the masked (SSL) encoder (FCMAE's sparse convolution, done
 * densely) every pointwise layer's masked rows are zeroed downstream anyway, so at the default
 * mask ratio 0.6 this skips 59 % of the encoder's pointwise multiply-adds, each way (issue #19).
 * Its gradient is PhccDenseGrad with the same keep map (kernels/PhccDenseGrad.ts).
 */
export const PhccMaskedDense = 'PhccMaskedDense';

/** The kept rows of `keep` for a matrix of `rows` rows, checked. */
export function keptRowsOf(ops: WasmOps, keep: TensorInfo, rows: number, kernelName: string): KeptRows {
  const map = ops.view(keep);
  if (map.length !== rows)
    throw new Error(`${kernelName}: keep map [${keep.shape}] has ${map.length} values for ${rows} rows`);
  return keptRows(map);
}

/** The kept rows of a [rows, width] tensor as a new compact [kept, width] tensor. */
export function gatherTensorRows(ops: WasmOps, x: TensorInfo, width: number, rows: KeptRows): TensorInfo {
  const out = ops.empty([rows.kept, width]);
  gatherRows(ops.view(x), width, rows, ops.view(out));
  return out;
}

/** A compact [kept, width] tensor spread into a new `shape` tensor, zero at the dropped rows. */
export function scatterTensorRows(
  ops: WasmOps,
  compact: TensorInfo,
  width: number,
  rows: KeptRows,
  shape: number[],
): TensorInfo {
  const out = ops.empty(shape);
  scatterRows(ops.view(compact), width, rows, ops.view(out));
  return out;
}

const maskedDenseForward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const kernel = inputs.kernel as TensorInfo;
  const bias = inputs.bias as TensorInfo;
  const ops = new WasmOps(backend);
  const [rows, k] = rows2d(x);
  const n = kernel.shape[1];
  const shape = [...x.shape.slice(0, -1), n];
  const kept = keptRowsOf(ops, inputs.keep as TensorInfo, rows, PhccMaskedDense);
  if (kept.kept === 0) return ops.finish(ops.zeros(shape));
  const compact = gatherTensorRows(ops, x, k, kept);
  const y = ops.run(PhccDense, { x: compact, kernel, bias });
  return ops.finish(scatterTensorRows(ops, y, n, kept, shape));
};

export const phccMaskedDenseConfig: ReplacementKernelConfig = {
  kernelName: PhccMaskedDense,
  backendName: 'wasm',
  kernelFunc: maskedDenseForward,
};

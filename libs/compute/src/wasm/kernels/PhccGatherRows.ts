import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { gatherRows, keptRowsOf } from '../kept-rows';
import { WasmOps } from '../wasm-ops';

/**
 * The rows of x [..., C] (its leading axes flattened) where `keep` (one value per row, e.g. a
 * MaskPyramid map [B, R, R, 1]) is nonzero, in order: a compact [kept, C] matrix. With
 * PhccScatterRows, its inverse and gradient, it lets a per-row layer run on the rows that count
 * only (ops/rows.ts; the masked SSL step's pointwise layers, issue #19). The kept rows come in
 * runs (whole patches), copied one `set` each (kept-rows.ts).
 */
export const PhccGatherRows = 'PhccGatherRows';

const gatherForward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const ops = new WasmOps(backend);
  const width = x.shape[x.shape.length - 1];
  const rows = keptRowsOf(
    ops,
    inputs.keep as TensorInfo,
    x.shape.reduce((a, b) => a * b, 1) / width,
    PhccGatherRows,
  );
  const out = ops.empty([rows.kept, width]);
  gatherRows(ops.view(x), width, rows, ops.view(out));
  return ops.finish(out);
};

export const phccGatherRowsConfig: ReplacementKernelConfig = {
  kernelName: PhccGatherRows,
  backendName: 'wasm',
  kernelFunc: gatherForward,
};

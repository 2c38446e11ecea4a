import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { keptRowsOf, scatterRows } from '../kept-rows';
import { WasmOps } from '../wasm-ops';

/**
 * PhccGatherRows's inverse: x [kept, C] spread over the kept rows of a new `shape` tensor
 * ([..., C], one row per value of `keep`), zero at every other row.
 */
export const PhccScatterRows = 'PhccScatterRows';

const scatterForward: KernelFunc = ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const shape = (attrs as unknown as { shape: number[] }).shape;
  const ops = new WasmOps(backend);
  const width = shape[shape.length - 1];
  const rows = keptRowsOf(
    ops,
    inputs.keep as TensorInfo,
    shape.reduce((a, b) => a * b, 1) / width,
    PhccScatterRows,
  );
  if (x.shape.length !== 2 || x.shape[0] !== rows.kept || x.shape[1] !== width)
    throw new Error(
      `${PhccScatterRows}: [${x.shape}] is not [${rows.kept}, ${width}] (the kept rows of [${shape}])`,
    );
  const out = ops.empty(shape);
  scatterRows(ops.view(x), width, rows, ops.view(out));
  return ops.finish(out);
};

export const phccScatterRowsConfig: ReplacementKernelConfig = {
  kernelName: PhccScatterRows,
  backendName: 'wasm',
  kernelFunc: scatterForward,
};

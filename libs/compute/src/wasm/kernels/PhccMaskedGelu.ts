import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';
import { GeluCalls, geluPasses } from './gelu-helpers';

/**
 * GELU of the kept positions, zero at masked ones: y = gelu(x) · keep for a 0/1 keep map of one
 * value per position (x [..., C], keep [..., 1]), as one kernel (issue #19). Masked SSL zeroes the
 * hidden activation right after GELU; composed that is the GELU over every row, a broadcast
 * `Multiply` over the widest activation of a block, and in the backward another `Multiply` and a
 * `Reshape`. Here GELU runs only on the runs of kept rows (with the default mask ratio ≈ 40 % of
 * them) through the same SIMD helper as PhccGelu, and masked rows are written as zeros.
 * A keep value other than 0 or 1 is refused. `maskedGelu` (ops/gelu.ts) is the op that runs it.
 */
export const PhccMaskedGelu = 'PhccMaskedGelu';

/**
 * The runs [start, end) of consecutive kept rows of a 0/1 keep map, after checking that `keep`
 * has one value per row of `x`; shared with the gradient kernel.
 */
export function keptRuns(
  kernelName: string,
  x: TensorInfo,
  keep: TensorInfo,
  keepValues: Float32Array,
): number[] {
  const rows = x.shape.slice(0, -1);
  if (
    keep.shape.length !== x.shape.length ||
    keep.shape[keep.shape.length - 1] !== 1 ||
    rows.some((n, i) => keep.shape[i] !== n)
  ) {
    throw new Error(
      `${kernelName}: keep map [${keep.shape}] does not give one value per row of x [${x.shape}]`,
    );
  }
  const runs: number[] = [];
  let start = -1;
  for (let r = 0; r < keepValues.length; r++) {
    const k = keepValues[r];
    if (k !== 0 && k !== 1) throw new Error(`${kernelName}: keep map value ${k} at row ${r} is not 0 or 1`);
    if (k === 1 && start < 0) start = r;
    if (k === 0 && start >= 0) {
      runs.push(start, r);
      start = -1;
    }
  }
  if (start >= 0) runs.push(start, keepValues.length);
  return runs;
}

const maskedGeluForward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const keep = inputs.keep as TensorInfo;
  const helpers: GeluCalls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccMaskedGelu} needs the wasm SIMD helpers`);
  const ops = new WasmOps(backend);
  const y = ops.empty(x.shape);
  const channels = x.shape[x.shape.length - 1];
  const runs = keptRuns(PhccMaskedGelu, x, keep, ops.view(keep));
  const xAt = ops.pointer(x);
  const yAt = ops.pointer(y);
  // Zeros everywhere first (one pass of the output, cheaper than a fill per masked run).
  ops.view(y).fill(0);
  const { forward } = geluPasses(helpers);
  for (let i = 0; i < runs.length; i += 2) {
    const offset = runs[i] * channels * 4;
    forward(xAt + offset, yAt + offset, (runs[i + 1] - runs[i]) * channels);
  }
  return ops.finish(y);
};

export const phccMaskedGeluConfig: ReplacementKernelConfig = {
  kernelName: PhccMaskedGelu,
  backendName: 'wasm',
  kernelFunc: maskedGeluForward,
};

import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';
import { fastGeluSwitch, GeluCalls, geluPasses } from './gelu-helpers';

/**
 * GELU of the kept positions, zero at masked ones: y = gelu(x) · keep for a 0/1 keep map of one
 * value per position (x [..., C], keep [..., 1]), as one kernel (issue #19). Masked SSL zeroes the
 * hidden activation right after GELU; composed that is the GELU over every row, a broadcast
 * `Multiply` over the widest activation of a block, and in the backward another `Multiply` and a
 * `Reshape`. Here GELU runs only on the runs of kept rows (with the default mask ratio ≈ 40 % of
 * them), and masked rows are written as zeros, in one call of a SIMD helper that walks the keep
 * map (simd/gelu-wat.ts; with `PHCC_FAST_GELU=0` one call of the previous helper per run).
 * A keep value other than 0 or 1 is refused. `maskedGelu` (ops/gelu.ts) is the op that runs it.
 */
export const PhccMaskedGelu = 'PhccMaskedGelu';

/** Throws unless `keep` has one value per row of `x` (shared with the gradient kernel). */
export function checkKeepShape(kernelName: string, x: TensorInfo, keep: TensorInfo): void {
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
}

/** The error for a keep value other than 0 or 1, naming its row. */
export function badKeepValue(kernelName: string, value: number, row: number): Error {
  return new Error(`${kernelName}: keep map value ${value} at row ${row} is not 0 or 1`);
}

/**
 * The runs [start, end) of consecutive kept rows of a 0/1 keep map, for the previous helpers
 * (`PHCC_FAST_GELU=0`), which the kernels call once per run; the fast ones walk the rows in wasm.
 */
export function keptRuns(kernelName: string, keepValues: Float32Array): number[] {
  const runs: number[] = [];
  let start = -1;
  for (let r = 0; r < keepValues.length; r++) {
    const k = keepValues[r];
    if (k !== 0 && k !== 1) throw badKeepValue(kernelName, k, r);
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
  checkKeepShape(PhccMaskedGelu, x, keep);
  const ops = new WasmOps(backend);
  // The previous helpers' runs, found (and the keep values checked) before anything is allocated.
  const runs = fastGeluSwitch.fast ? undefined : keptRuns(PhccMaskedGelu, ops.view(keep));
  const y = ops.empty(x.shape);
  const channels = x.shape[x.shape.length - 1];
  const rows = keep.shape.reduce((a, b) => a * b, 1);
  const xAt = ops.pointer(x);
  const yAt = ops.pointer(y);
  if (!runs) {
    // One call: gelu on runs of kept rows, zeros on masked ones, each output float written once.
    const bad = helpers.geluForwardRows(xAt, yAt, ops.pointer(keep), rows, channels);
    if (bad >= 0) {
      const value = ops.view(keep)[bad];
      ops.finishAll([]);
      throw badKeepValue(PhccMaskedGelu, value, bad);
    }
    return ops.finish(y);
  }
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

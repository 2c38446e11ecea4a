import { Slice, slice_util } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WrappingKernelConfig } from '../kernel-config';
import { WasmOps } from '../wasm-ops';

/**
 * Slice for wasm as strided run copies. wasm's Slice copies a non-contiguous float32 slice element
 * by element through an index buffer: taking 3 of 4 channels of a 32-image 64×64 batch (the SSL
 * loss's intensities and tumour mask, the head's mask channel) cost 150–200 ms, ≈ 8 % of a step.
 * Here the slice is copied as runs: the trailing axes it takes whole merge into one contiguous
 * run, copied with `set` when long and a plain loop when short (a few channels).
 * Calls: wasm's Slice for contiguous slices (one copy already) and non-float32 tensors.
 */
function makeSlice(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [start, extent] = slice_util.parseSliceParams(x as never, begin, size);
    if (x.dtype !== 'float32' || slice_util.isSliceContinous(x.shape, start, extent)) return original(args);
    const ops = new WasmOps(args.backend);
    const out = ops.empty(extent);
    copyStrided(ops.view(x), x.shape, ops.view(out), start, extent);
    return ops.finish(out);
  };
}

/** out = src[start : start + extent] for a row-major `shape`, as contiguous runs. */
export function copyStrided(
  src: Float32Array,
  shape: readonly number[],
  out: Float32Array,
  start: readonly number[],
  extent: readonly number[],
): void {
  const rank = shape.length;
  // `axis`: the innermost axis taken partially; every axis after it is whole, so one index
  // prefix (the axes before `axis`) addresses one contiguous run of the source.
  let axis = rank - 1;
  let inner = 1;
  while (axis > 0 && start[axis] === 0 && extent[axis] === shape[axis]) inner *= shape[axis--];
  const run = extent[axis] * inner;
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  let runs = 1;
  for (let i = 0; i < axis; i++) runs *= extent[i];
  let leadingWhole = true;
  for (let i = 0; i < axis; i++) leadingWhole &&= start[i] === 0 && extent[i] === shape[i];
  if (leadingWhole) {
    // A channel slice (the commonest: a few channels of every pixel): the runs sit at a fixed
    // stride, so no index arithmetic per run — 2.5 → ≈ 0.4 ms for 3 of 4 channels of a 32-image
    // 64×64 batch, where the odometer below spent most of its time on the index (issue #19).
    copyFixedStride(src, out, start[axis] * strides[axis], shape[axis] * strides[axis], run, runs);
    return;
  }
  const index = new Array<number>(axis).fill(0);
  let dst = 0;
  for (let r = 0; r < runs; r++) {
    let at = start[axis] * strides[axis];
    for (let i = 0; i < axis; i++) at += (start[i] + index[i]) * strides[i];
    if (run >= 32) {
      out.set(src.subarray(at, at + run), dst);
    } else {
      for (let j = 0; j < run; j++) out[dst + j] = src[at + j];
    }
    dst += run;
    for (let i = axis - 1; i >= 0; i--) {
      if (++index[i] < extent[i]) break;
      index[i] = 0;
    }
  }
}

/** out = `runs` runs of `run` floats of src, the first at `at`, each `stride` after the last. */
function copyFixedStride(
  src: Float32Array,
  out: Float32Array,
  at: number,
  stride: number,
  run: number,
  runs: number,
): void {
  if (run >= 32) {
    for (let r = 0, dst = 0; r < runs; r++, at += stride, dst += run)
      out.set(src.subarray(at, at + run), dst);
  } else if (run === 1) {
    for (let r = 0; r < runs; r++, at += stride) out[r] = src[at];
  } else {
    for (let r = 0, dst = 0; r < runs; r++, at += stride)
      for (let j = 0; j < run; j++) out[dst++] = src[at + j];
  }
}

export const sliceConfig: WrappingKernelConfig = {
  kernelName: Slice,
  backendName: 'wasm',
  wrap: makeSlice,
};

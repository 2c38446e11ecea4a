/**
 * Bilinear in-plane resampling of one axial slice onto an N×N grid covering a square crop box in
 * mm. The two in-plane axes are sampled with their own voxel sizes, so anisotropic voxels
 * (e.g. 0.7 × 0.9 mm) come out with the right proportions.
 */
import { CropBox, DisplayFrame, Vec3 } from './geometry';

/**
 * Precomputed two-tap interpolation along one axis: value = w0·v[o0] + w1·v[o1], with offsets
 * already multiplied by the axis stride. Computed once per patient, reused for every phase.
 */
export interface AxisTaps {
  o0: Int32Array;
  o1: Int32Array;
  w0: Float32Array;
  w1: Float32Array;
  /** 1 where the sample point lies within the volume (inside the outer voxels' extent). */
  inside: Uint8Array;
}

/**
 * @param edge 'clamp' repeats the outermost voxel beyond the volume (intensities: no fake black
 *   border); 'zero' treats outside as 0 (the mask: no tumour beyond the field of view).
 */
export function axisTaps(
  size: number,
  dim: number,
  spacing: number,
  stride: number,
  centreMm: number,
  sideMm: number,
  flipped: boolean,
  edge: 'clamp' | 'zero',
): AxisTaps {
  const taps: AxisTaps = {
    o0: new Int32Array(size),
    o1: new Int32Array(size),
    w0: new Float32Array(size),
    w1: new Float32Array(size),
    inside: new Uint8Array(size),
  };
  const step = sideMm / size;
  for (let u = 0; u < size; u++) {
    // Output pixel centres, walking against the voxel axis when the display frame flips it.
    const offset = (u + 0.5) * step - sideMm / 2;
    const f = (centreMm + (flipped ? -offset : offset)) / spacing;
    taps.inside[u] = f >= -0.5 && f <= dim - 0.5 ? 1 : 0;
    const i0 = Math.floor(f);
    const t = f - i0;
    let a = i0;
    let b = i0 + 1;
    let w0 = 1 - t;
    let w1 = t;
    if (edge === 'clamp') {
      if (f <= 0) [a, b, w0, w1] = [0, 0, 1, 0];
      else if (f >= dim - 1) [a, b, w0, w1] = [dim - 1, dim - 1, 1, 0];
    } else {
      if (a < 0 || a >= dim) w0 = 0;
      if (b < 0 || b >= dim) w1 = 0;
      a = Math.max(0, Math.min(dim - 1, a));
      b = Math.max(0, Math.min(dim - 1, b));
    }
    taps.o0[u] = a * stride;
    taps.o1[u] = b * stride;
    taps.w0[u] = w0;
    taps.w1[u] = w1;
  }
  return taps;
}

/** Column and row taps of one patient's crop. */
export interface SliceSampler {
  size: number;
  columns: AxisTaps;
  rows: AxisTaps;
}

export function sliceSampler(
  dims: Vec3,
  spacing: Vec3,
  frame: DisplayFrame,
  box: CropBox,
  size: number,
  edge: 'clamp' | 'zero',
): SliceSampler {
  const strides = [1, dims[0]];
  const taps = (axis: 0 | 1, flipped: boolean) =>
    axisTaps(size, dims[axis], spacing[axis], strides[axis], box.centreMm[axis], box.sideMm, flipped, edge);
  return {
    size,
    columns: taps(frame.columnAxis, frame.columnFlipped),
    rows: taps(frame.rowAxis, frame.rowFlipped),
  };
}

/**
 * Samples the slice starting at `base` in `volume` and writes pixel (row v, column u) to
 * out[outOffset + (v·size + u)·outStride], so channels can be interleaved (C fastest).
 */
export function sampleSlice(
  volume: ArrayLike<number>,
  base: number,
  sampler: SliceSampler,
  out: Float32Array,
  outOffset: number,
  outStride: number,
): void {
  const { size, columns, rows } = sampler;
  for (let v = 0; v < size; v++) {
    const r0 = base + rows.o0[v];
    const r1 = base + rows.o1[v];
    const rw0 = rows.w0[v];
    const rw1 = rows.w1[v];
    let o = outOffset + v * size * outStride;
    for (let u = 0; u < size; u++, o += outStride) {
      const c0 = columns.o0[u];
      const c1 = columns.o1[u];
      const cw0 = columns.w0[u];
      const cw1 = columns.w1[u];
      out[o] =
        rw0 * (cw0 * volume[r0 + c0] + cw1 * volume[r0 + c1]) +
        rw1 * (cw0 * volume[r1 + c0] + cw1 * volume[r1 + c1]);
    }
  }
}

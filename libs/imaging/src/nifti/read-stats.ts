/** Summary statistics of scaled voxel values, as `inspect` prints and the cohort loader checks. */
export interface VoxelStatistics {
  /** Over finite values only; NaN when there are none. */
  min: number;
  max: number;
  mean: number;
  /** Voxels that are NaN or ±Inf (a corrupt or badly converted series). */
  nonFinite: number;
  count: number;
}

/** One pass; the mean is accumulated in float64 so large volumes keep float32 precision. */
export function voxelStatistics(data: ArrayLike<number>): VoxelStatistics {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let finite = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (x - x !== 0) continue; // NaN or ±Inf
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
    finite++;
  }
  return {
    min: finite ? min : NaN,
    max: finite ? max : NaN,
    mean: finite ? sum / finite : NaN,
    nonFinite: data.length - finite,
    count: data.length,
  };
}

/** Index of the first NaN/Inf value, or -1: cheaper than full statistics when only validity matters. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (x - x !== 0) return i;
  }
  return -1;
}

/**
 * Whether scanning for NaN/Inf is needed: integer voxels scaled by a finite slope and intercept
 * cannot produce them unless the scaling overflows float32, so only float data (or absurd
 * scaling) needs the full pass. Saves a read of every voxel for typical int16 DCE series.
 */
export function mayHoldNonFinite(image: { datatype: string; sclSlope: number; sclInter: number }): boolean {
  if (image.datatype.startsWith('float')) return true;
  return !(Math.abs(image.sclSlope) * 2 ** 32 + Math.abs(image.sclInter) < 3e38);
}

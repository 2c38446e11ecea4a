/** DICOM patient coordinates (LPS mm) → continuous voxel indices of a NIfTI-grid volume. Pure. */
import { Affine } from '../nifti/types';
import { Vec3 } from './types';

/** A function from LPS mm to (i, j, k) of the grid whose voxel → RAS+ affine is given. */
export function lpsToVoxel(affine: Affine): (p: readonly number[]) => Vec3 {
  const m = [0, 1, 2].map((r) => [affine[r][0], affine[r][1], affine[r][2]]);
  const det =
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  if (!(Math.abs(det) > 1e-12)) throw new Error('singular affine');
  const inv = [
    [
      m[1][1] * m[2][2] - m[1][2] * m[2][1],
      m[0][2] * m[2][1] - m[0][1] * m[2][2],
      m[0][1] * m[1][2] - m[0][2] * m[1][1],
    ],
    [
      m[1][2] * m[2][0] - m[1][0] * m[2][2],
      m[0][0] * m[2][2] - m[0][2] * m[2][0],
      m[0][2] * m[1][0] - m[0][0] * m[1][2],
    ],
    [
      m[1][0] * m[2][1] - m[1][1] * m[2][0],
      m[0][1] * m[2][0] - m[0][0] * m[2][1],
      m[0][0] * m[1][1] - m[0][1] * m[1][0],
    ],
  ].map((row) => row.map((v) => v / det));
  const t = [affine[0][3], affine[1][3], affine[2][3]];
  return (p) => {
    // LPS → RAS+: negate x and y.
    const q = [-p[0] - t[0], -p[1] - t[1], p[2] - t[2]];
    return [0, 1, 2].map((r) => inv[r][0] * q[0] + inv[r][1] * q[1] + inv[r][2] * q[2]) as Vec3;
  };
}

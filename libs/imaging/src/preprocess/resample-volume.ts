/**
 * A 3-D volume resampled onto another grid through world coordinates (both affines map voxel →
 * the same RAS+ mm), trilinear, 0 outside the source. What putting several series of one study
 * on a common grid needs (e.g. each phase on the arterial phase's grid). Pure.
 */
import { Affine } from '../nifti/types';

/** Inverse of an affine's 3×4 part (voxel ← world), as a function. */
export function worldToVoxel(affine: Affine): (x: number, y: number, z: number) => [number, number, number] {
  const m = affine;
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
  return (x, y, z) => {
    const q = [x - m[0][3], y - m[1][3], z - m[2][3]];
    return [0, 1, 2].map((r) => inv[r][0] * q[0] + inv[r][1] * q[1] + inv[r][2] * q[2]) as [
      number,
      number,
      number,
    ];
  };
}

export function applyAffine(affine: Affine, i: number, j: number, k: number): [number, number, number] {
  return [0, 1, 2].map((r) => affine[r][0] * i + affine[r][1] * j + affine[r][2] * k + affine[r][3]) as [
    number,
    number,
    number,
  ];
}

/** `source` (dims, affine, x-fastest data) sampled at every voxel centre of the target grid. */
export function resampleVolume(
  source: { dims: number[]; affine: Affine; data: ArrayLike<number> },
  target: { dims: [number, number, number]; affine: Affine },
): Float32Array {
  const [X, Y, Z] = target.dims;
  const [sx, sy, sz] = [source.dims[0], source.dims[1], source.dims[2] ?? 1];
  const toSource = worldToVoxel(source.affine);
  const out = new Float32Array(X * Y * Z);
  const at = (i: number, j: number, k: number) =>
    i < 0 || j < 0 || k < 0 || i >= sx || j >= sy || k >= sz ? 0 : source.data[(k * sy + j) * sx + i];
  for (let k = 0; k < Z; k++)
    for (let j = 0; j < Y; j++)
      for (let i = 0; i < X; i++) {
        const [u, v, w] = toSource(...applyAffine(target.affine, i, j, k));
        const [i0, j0, k0] = [Math.floor(u), Math.floor(v), Math.floor(w)];
        const [fu, fv, fw] = [u - i0, v - j0, w - k0];
        let value = 0;
        for (let c = 0; c < 8; c++) {
          const [di, dj, dk] = [c & 1, (c >> 1) & 1, (c >> 2) & 1];
          const weight = (di ? fu : 1 - fu) * (dj ? fv : 1 - fv) * (dk ? fw : 1 - fw);
          if (weight > 0) value += weight * at(i0 + di, j0 + dj, k0 + dk);
        }
        out[(k * Y + j) * X + i] = value;
      }
  return out;
}

/**
 * Voxel-to-world affines as nibabel builds them, and the orientation codes radiologists read
 * ('RAS', 'LPS', …). Kept apart from the byte decoding so they test on plain numbers.
 */
import { Affine } from './types';

/**
 * nifti1.h method 2 (nibabel `get_qform`): R from the unit quaternion (b, c, d; a ≥ 0 implied),
 * columns scaled by the voxel size, the third by qfac = sign of pixdim[0] (0 counts as +1).
 */
export function affineFromQuaternion(
  bcd: [number, number, number],
  offset: [number, number, number],
  spacing: number[],
  pixdim0: number,
): Affine {
  const [b, c, d] = bcd;
  // a is implied; float32 storage can push 1 - (b²+c²+d²) a hair below zero, which means a = 0.
  const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
  const r = quaternionToMatrix(a, b, c, d);
  const qfac = pixdim0 < 0 ? -1 : 1;
  const scale = [spacing[0], spacing[1], spacing[2] * qfac];
  return [
    [r[0][0] * scale[0], r[0][1] * scale[1], r[0][2] * scale[2], offset[0]],
    [r[1][0] * scale[0], r[1][1] * scale[1], r[1][2] * scale[2], offset[1]],
    [r[2][0] * scale[0], r[2][1] * scale[1], r[2][2] * scale[2], offset[2]],
    [0, 0, 0, 1],
  ];
}

/** nibabel's quat2mat: normalises by |q|² so a slightly non-unit stored quaternion still gives a rotation. */
function quaternionToMatrix(w: number, x: number, y: number, z: number): number[][] {
  const n = w * w + x * x + y * y + z * z;
  if (n < 1e-12) {
    return [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
  }
  const s = 2 / n;
  const [X, Y, Z] = [x * s, y * s, z * s];
  const [wX, wY, wZ] = [w * X, w * Y, w * Z];
  const [xX, xY, xZ] = [x * X, x * Y, x * Z];
  const [yY, yZ, zZ] = [y * Y, y * Z, z * Z];
  return [
    [1 - (yY + zZ), xY - wZ, xZ + wY],
    [xY + wZ, 1 - (xX + zZ), yZ - wX],
    [xZ - wY, yZ + wX, 1 - (xX + yY)],
  ];
}

/**
 * nifti1.h method 1 (neither sform nor qform set): voxel size on the diagonal, origin at voxel 0.
 * nibabel instead centres the volume and flips x; we follow the standard, which is what the
 * file literally says.
 */
export function affineFromPixdim(spacing: number[]): Affine {
  return [
    [spacing[0], 0, 0, 0],
    [0, spacing[1], 0, 0],
    [0, 0, spacing[2], 0],
    [0, 0, 0, 1],
  ];
}

const AXIS_LABELS: ReadonlyArray<[string, string]> = [
  ['R', 'L'],
  ['A', 'P'],
  ['S', 'I'],
];

/**
 * Which anatomical direction each voxel axis points to (nibabel `aff2axcodes`, RAS+ world):
 * e.g. 'RAS' for a plain NIfTI, 'LPS' for a DICOM-ordered volume. Each voxel axis takes the
 * world axis it is most aligned with, strongest alignments first so no world axis is used twice.
 */
export function orientationCodes(affine: Affine): string {
  const columns = [0, 1, 2].map((col) => {
    const v = [affine[0][col], affine[1][col], affine[2][col]];
    const norm = Math.hypot(v[0], v[1], v[2]) || 1;
    return v.map((x) => x / norm);
  });
  const pairs: Array<{ col: number; row: number; weight: number }> = [];
  for (let col = 0; col < 3; col++) {
    for (let row = 0; row < 3; row++) pairs.push({ col, row, weight: Math.abs(columns[col][row]) });
  }
  pairs.sort((p, q) => q.weight - p.weight);
  const codes = ['?', '?', '?'];
  const usedRows = new Set<number>();
  for (const { col, row, weight } of pairs) {
    if (codes[col] !== '?' || usedRows.has(row) || weight === 0) continue;
    codes[col] = columns[col][row] > 0 ? AXIS_LABELS[row][0] : AXIS_LABELS[row][1];
    usedRows.add(row);
  }
  return codes.join('');
}

/** Largest absolute element-wise difference of the 3×4 parts of two affines (mm for translations). */
export function affineMaxDifference(a: Affine, b: Affine): number {
  let worst = 0;
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) worst = Math.max(worst, Math.abs(a[r][c] - b[r][c]));
  }
  return worst;
}

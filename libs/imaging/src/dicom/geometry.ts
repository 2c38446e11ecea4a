/**
 * Geometry of a stack of DICOM image planes: slice order along the plane normal, checks that the
 * planes form one regular grid, and the NIfTI affine. Pure functions on header values.
 *
 * The affine follows dcm2niix's output (https://github.com/rordenlab/dcm2niix), so a volume read
 * here lines up voxel for voxel with one converted there:
 *   - voxel axis i runs along a DICOM row (IOP[0..2]), spacing PixelSpacing[1];
 *   - voxel axis j runs along a DICOM column (IOP[3..5]) but rows are stored bottom-up, as
 *     dcm2niix's default "flip Y" does: j = Rows − 1 − (DICOM row index);
 *   - voxel axis k runs along the normal n = row × column, slices sorted by IPP·n ascending
 *     (dcm2niix follows the acquisition order instead, so its k may run the other way: the only
 *     difference, an axis flip);
 *   - the LPS affine [row·Δc | column·Δr | (IPP_last − IPP_first)/(N−1) | IPP_first], with the
 *     flip folded in, is turned into RAS+ (NIfTI's world) by negating its x and y rows.
 * An axial head-first-supine series comes out "LAS", as from dcm2niix.
 */
import { Affine } from '../nifti/types';
import { DicomFrame, Vec3 } from './types';

/** Largest IOP component difference still called "the same orientation". */
export const ORIENTATION_TOLERANCE = 1e-4;
/** Slice gaps may differ by this fraction of the median gap (or 0.01 mm) and count as uniform. */
export const SPACING_TOLERANCE = 0.01;

export interface StackGeometry {
  /** Columns, rows, slices: the NIfTI dims. */
  dims: [number, number, number];
  /** Voxel size in mm along i, j, k. */
  spacing: [number, number, number];
  /** Voxel → RAS+ mm. */
  affine: Affine;
  /** Unit plane normal (LPS) and each sorted slice's position along it. */
  normal: Vec3;
  slicePositions: number[];
}

/** Why a stack is not one regular grid; the caller adds which series. */
export class StackGeometryError extends Error {}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function dot(a: readonly number[], b: readonly number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

function normalise(v: Vec3): Vec3 {
  const n = Math.hypot(v[0], v[1], v[2]);
  return n > 0 ? [v[0] / n, v[1] / n, v[2] / n] : v;
}

/** Unit normal of an orientation (row × column), or undefined for a degenerate IOP. */
export function planeNormal(orientation: number[]): Vec3 | undefined {
  const row = normalise([orientation[0], orientation[1], orientation[2]]);
  const col = normalise([orientation[3], orientation[4], orientation[5]]);
  const n = cross(row, col);
  const len = Math.hypot(n[0], n[1], n[2]);
  if (!(len > 0.99 && len < 1.01)) return undefined; // not two orthogonal unit vectors
  return [n[0] / len, n[1] / len, n[2] / len];
}

/** Key that equal orientations share (rounded to the tolerance). */
export function orientationKey(orientation: number[]): string {
  return orientation.map((v) => Math.round(v / ORIENTATION_TOLERANCE / 10).toString()).join(',');
}

/** Checks the planes of one phase and returns them sorted along the normal, with the grid. */
export function stackGeometry(frames: DicomFrame[]): { sorted: DicomFrame[]; geometry: StackGeometry } {
  const first = frames[0];
  for (const f of frames) {
    if (!f.position || !f.orientation || !f.pixelSpacing) {
      const missing = !f.position
        ? 'ImagePositionPatient'
        : !f.orientation
          ? 'ImageOrientationPatient'
          : 'PixelSpacing';
      throw new StackGeometryError(`${f.file}${frameSuffix(f)} has no ${missing}`);
    }
    if (f.rows !== first.rows || f.columns !== first.columns) {
      throw new StackGeometryError(
        `mixed matrix sizes: ${first.columns}×${first.rows} and ${f.columns}×${f.rows} (${f.file}${frameSuffix(f)})`,
      );
    }
    if (f.orientation.some((v, i) => Math.abs(v - first.orientation![i]) > ORIENTATION_TOLERANCE)) {
      throw new StackGeometryError(
        `mixed orientations: [${first.orientation!.map(round6).join(', ')}] and [${f.orientation.map(round6).join(', ')}] (${f.file}${frameSuffix(f)})`,
      );
    }
    if (f.pixelSpacing.some((v, i) => Math.abs(v - first.pixelSpacing![i]) > 1e-4)) {
      throw new StackGeometryError(
        `mixed pixel spacings: ${first.pixelSpacing!.join('\\')} and ${f.pixelSpacing.join('\\')} mm (${f.file}${frameSuffix(f)})`,
      );
    }
  }
  const normal = planeNormal(first.orientation!);
  if (!normal) {
    throw new StackGeometryError(
      `ImageOrientationPatient [${first.orientation!.join(', ')}] is not two orthogonal unit vectors`,
    );
  }
  if (first.pixelSpacing!.some((s) => !(s > 0))) {
    throw new StackGeometryError(`PixelSpacing ${first.pixelSpacing!.join('\\')} is not positive`);
  }
  const sorted = [...frames].sort((a, b) => dot(a.position!, normal) - dot(b.position!, normal));
  const positions = sorted.map((f) => dot(f.position!, normal));
  const sliceSpacing = checkSliceSpacing(sorted, positions, normal);
  const geometry = gridGeometry(
    first,
    sorted[0].position!,
    sorted[sorted.length - 1].position!,
    sorted.length,
    sliceSpacing,
  );
  return { sorted, geometry: { ...geometry, normal, slicePositions: positions } };
}

/** The common gap between slices, after checking there are no duplicates, holes or shear. */
function checkSliceSpacing(sorted: DicomFrame[], positions: number[], normal: Vec3): number {
  const first = sorted[0];
  if (sorted.length === 1) return first.spacingBetweenSlices ?? first.sliceThickness ?? 1;
  const gaps = positions.slice(1).map((p, i) => p - positions[i]);
  const same = gaps.findIndex((g) => g < 1e-3);
  if (same >= 0) {
    throw new StackGeometryError(
      `two images at the same position ${round6(positions[same])} mm along the normal (${sorted[same].file}, ${sorted[same + 1].file}): ` +
        'a phase could not be told apart',
    );
  }
  const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
  const tolerance = Math.max(0.01, SPACING_TOLERANCE * median);
  const hole = gaps.findIndex((g) => g > 1.5 * median);
  if (hole >= 0) {
    const missing = Math.round(gaps[hole] / median) - 1;
    throw new StackGeometryError(
      `missing slice${missing > 1 ? 's' : ''}: a gap of ${round6(gaps[hole])} mm between positions ${round6(positions[hole])} and ` +
        `${round6(positions[hole + 1])} where the spacing is ${round6(median)} mm (about ${missing} missing)`,
    );
  }
  const [lo, hi] = [Math.min(...gaps), Math.max(...gaps)];
  if (hi - lo > tolerance) {
    throw new StackGeometryError(`non-uniform slice spacing: gaps from ${round6(lo)} to ${round6(hi)} mm`);
  }
  // Every plane must sit on the line through the first along the normal: otherwise the stack is
  // sheared (CT gantry tilt), which a NIfTI affine can hold only approximately.
  const origin = first.position!;
  for (let s = 1; s < sorted.length; s++) {
    const p = sorted[s].position!;
    const along = positions[s] - positions[0];
    const off = Math.hypot(
      p[0] - origin[0] - along * normal[0],
      p[1] - origin[1] - along * normal[1],
      p[2] - origin[2] - along * normal[2],
    );
    if (off > 0.01 + 1e-3 * Math.abs(along)) {
      throw new StackGeometryError(
        `slices are not stacked along the plane normal (shear of ${round6(off)} mm, e.g. gantry tilt)`,
      );
    }
  }
  return (positions[positions.length - 1] - positions[0]) / (positions.length - 1);
}

/** The dcm2niix-convention affine of a regular grid (see the file comment). */
export function gridGeometry(
  frame: Pick<DicomFrame, 'orientation' | 'pixelSpacing' | 'rows' | 'columns'>,
  firstPosition: Vec3,
  lastPosition: Vec3,
  slices: number,
  sliceSpacing: number,
): Omit<StackGeometry, 'normal' | 'slicePositions'> {
  const o = frame.orientation!;
  const [rowSpacing, columnSpacing] = frame.pixelSpacing!;
  const row: Vec3 = normalise([o[0], o[1], o[2]]);
  const col: Vec3 = normalise([o[3], o[4], o[5]]);
  const normal = cross(row, col);
  const colI: Vec3 = [row[0] * columnSpacing, row[1] * columnSpacing, row[2] * columnSpacing];
  const colJ: Vec3 = [col[0] * rowSpacing, col[1] * rowSpacing, col[2] * rowSpacing];
  const colK: Vec3 =
    slices > 1
      ? ([0, 1, 2].map((a) => (lastPosition[a] - firstPosition[a]) / (slices - 1)) as Vec3)
      : [normal[0] * sliceSpacing, normal[1] * sliceSpacing, normal[2] * sliceSpacing];
  // Flip Y: voxel j = Rows − 1 − DICOM row, so the origin moves to the last DICOM row.
  const origin = [0, 1, 2].map((a) => firstPosition[a] + (frame.rows - 1) * colJ[a]);
  const lps = [0, 1, 2].map((a) => [colI[a], -colJ[a], colK[a], origin[a]]);
  const affine: Affine = [lps[0].map((v) => -v), lps[1].map((v) => -v), lps[2], [0, 0, 0, 1]].map((r) =>
    r.map((v) => (v === 0 ? 0 : v)),
  ); // no −0 in printed affines
  return {
    dims: [frame.columns, frame.rows, slices],
    spacing: [columnSpacing, rowSpacing, Math.abs(sliceSpacing)],
    affine,
  };
}

export function frameSuffix(f: Pick<DicomFrame, 'frame'>): string {
  return f.frame > 0 ? ` frame ${f.frame + 1}` : '';
}

function round6(x: number): number {
  return Number(x.toFixed(6));
}

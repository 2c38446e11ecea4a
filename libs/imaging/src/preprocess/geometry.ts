/**
 * Where to look: the tumour's bounding box, its largest axial cross-section, the K slices around
 * it, the in-plane display frame and the square crop box in mm. Pure functions on arrays so each
 * step is tested on a volume whose answer is known (MONAI-style small transforms).
 */
import { orientationCodes } from '../nifti/read-affine';
import { Affine } from '../nifti/types';

export type Vec3 = [number, number, number];

export interface BoundingBox {
  /** Inclusive voxel index bounds per axis. */
  min: Vec3;
  max: Vec3;
  voxels: number;
}

/** Bounding box of the non-zero voxels of a binary mask (x fastest); undefined when empty. */
export function tumourBoundingBox(mask: Uint8Array, dims: Vec3): BoundingBox | undefined {
  const [nx, ny, nz] = dims;
  const min: Vec3 = [nx, ny, nz];
  const max: Vec3 = [-1, -1, -1];
  let voxels = 0;
  for (let z = 0, i = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        if (!mask[i]) continue;
        voxels++;
        if (x < min[0]) min[0] = x;
        if (x > max[0]) max[0] = x;
        if (y < min[1]) min[1] = y;
        if (y > max[1]) max[1] = y;
        if (z < min[2]) min[2] = z;
        if (z > max[2]) max[2] = z;
      }
    }
  }
  return voxels ? { min, max, voxels } : undefined;
}

/**
 * The axial slice (index along voxel axis 2) with the most tumour voxels. Ties go to the slice
 * nearest the box centre, then the lower index, so the choice never depends on float noise.
 */
export function largestCrossSection(mask: Uint8Array, dims: Vec3, box: BoundingBox): number {
  const perSlice = dims[0] * dims[1];
  const centre = (box.min[2] + box.max[2]) / 2;
  let best = box.min[2];
  let bestArea = -1;
  for (let z = box.min[2]; z <= box.max[2]; z++) {
    let area = 0;
    const end = (z + 1) * perSlice;
    for (let i = z * perSlice; i < end; i++) area += mask[i];
    if (area > bestArea || (area === bestArea && Math.abs(z - centre) < Math.abs(best - centre))) {
      best = z;
      bestArea = area;
    }
  }
  return best;
}

/**
 * K adjacent slices centred on `centre` (for even K one more above than below). Near the ends of
 * the volume the window slides inward so all K stay distinct; a volume thinner than K repeats
 * its edge slices.
 */
export function pickSlices(centre: number, count: number, depth: number): number[] {
  let start = centre - Math.floor((count - 1) / 2);
  start = Math.max(0, Math.min(start, depth - count));
  return Array.from({ length: count }, (_, k) => Math.max(0, Math.min(depth - 1, start + k)));
}

/**
 * How voxel axes map to the image we emit: columns run from the patient's right to left and rows
 * from anterior to posterior (the radiological view every site's radiologist reads), so sites
 * whose files are stored LPS, RAS or LAS all give the model the same picture.
 */
export interface DisplayFrame {
  /** Voxel axis (0 or 1) along output columns, and whether the index runs against it. */
  columnAxis: 0 | 1;
  columnFlipped: boolean;
  rowAxis: 0 | 1;
  rowFlipped: boolean;
  /** Voxel axis 2 runs inferior → superior (true) or the reverse. */
  sliceAscending: boolean;
  /** Orientation codes of the voxel axes, e.g. 'LPS'. */
  orientation: string;
}

/** Undefined when voxel axis 2 is not superior–inferior (not an axial acquisition). */
export function displayFrame(affine: Affine): DisplayFrame | undefined {
  const orientation = orientationCodes(affine);
  const [a0, , a2] = orientation;
  if (a2 !== 'S' && a2 !== 'I') return undefined;
  const columnAxis: 0 | 1 = a0 === 'R' || a0 === 'L' ? 0 : 1;
  const rowAxis: 0 | 1 = columnAxis === 0 ? 1 : 0;
  const columnCode = orientation[columnAxis];
  const rowCode = orientation[rowAxis];
  return {
    columnAxis,
    // Index increasing toward R runs against "toward the patient's left".
    columnFlipped: columnCode === 'R',
    rowAxis,
    rowFlipped: rowCode === 'A',
    sliceAscending: a2 === 'S',
    orientation,
  };
}

/** Square in-plane region to sample, in voxel-axis mm (voxel i's centre lies at i × spacing). */
export interface CropBox {
  /** Centre along voxel axes 0 and 1, mm. */
  centreMm: [number, number];
  /** Side of the square, mm. */
  sideMm: number;
}

export interface CropBoxOptions {
  /** Margin on each side as a fraction of the tumour's larger in-plane extent (default 0.25). */
  marginFraction?: number;
  /** Smallest margin on each side, mm (default 10). */
  minMarginMm?: number;
  /** Fixed field of view in mm instead of a tumour-sized one (same pixel spacing for every patient). */
  fieldOfViewMm?: number;
}

/**
 * The tumour's in-plane extent (voxel edges, over all its slices) made square in mm, so the
 * tumour keeps its shape, plus a margin of peritumoural tissue on each side.
 */
export function cropBox(box: BoundingBox, spacing: Vec3, options: CropBoxOptions = {}): CropBox {
  const centreMm: [number, number] = [
    ((box.min[0] + box.max[0]) / 2) * spacing[0],
    ((box.min[1] + box.max[1]) / 2) * spacing[1],
  ];
  if (options.fieldOfViewMm !== undefined) return { centreMm, sideMm: options.fieldOfViewMm };
  const extent = Math.max(
    (box.max[0] - box.min[0] + 1) * spacing[0],
    (box.max[1] - box.min[1] + 1) * spacing[1],
  );
  const margin = Math.max((options.marginFraction ?? 0.25) * extent, options.minMarginMm ?? 10);
  return { centreMm, sideMm: extent + 2 * margin };
}

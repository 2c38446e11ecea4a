/**
 * Tumour masks stored as DICOM, put on a DCE volume's grid:
 *   - DICOM-SEG (binary or fractional): each frame's set pixels (fractional: ≥ half the maximum)
 *     go to the DCE voxel whose centre is nearest their centre. A SEG on the DCE's own grid (the
 *     usual case: drawn on that series) maps one to one; a finer SEG is downsampled by the same
 *     nearest-centre rule.
 *   - RTSTRUCT (CLOSED_PLANAR contours): each contour goes to the DCE slice nearest its plane and
 *     is filled by the even-odd rule over all the ROI's contours on that slice (an inner contour is
 *     a hole); a voxel is inside when its centre is, a centre exactly on an edge by the half-open
 *     crossing rule (inside on the edges towards lower i and lower j, outside on the others), so
 *     a square drawn through voxel centres 2 and 5 covers voxels 2, 3 and 4.
 * The mask object must share the DCE's Frame of Reference UID (same scanner coordinates);
 * otherwise it is refused, since its coordinates would not mean the same place.
 * Which segment/ROI: the one named (`roi`), else the only one, else the one whose name says
 * tumour / lesion / HCC / GTV; otherwise the error lists the names to choose from.
 */
import type { NaturalDataset } from 'dcmjs';
import { InputError } from '../../../common/src';
import { Affine } from '../nifti/types';
import { framesOfDataset, numbers, sequenceItems } from './header';
import { pixelBytes } from './pixels';
import { parseDicom, readDicomBytes } from './read-file';
import { scanDicom } from './scan';
import { DicomMaskObject } from './types';
import { lpsToVoxel } from './world-to-voxel';

export interface MaskGrid {
  dims: [number, number, number];
  affine: Affine;
  frameOfReferenceUid: string;
}

export interface DicomMaskOptions {
  /** Segment label / ROI name (case-insensitive), or segment / ROI number. */
  roi?: string;
}

export interface DicomMask {
  data: Uint8Array;
  voxels: number;
  kind: DicomMaskObject['kind'];
  file: string;
  roi: string;
}

const TUMOUR_NAME = /tumou?r|lesion|hcc|gtv|carcinoma|nodule/i;

/** Reads the SEG or RTSTRUCT under `path` (a file or a folder) that refers to `grid`'s frame of reference. */
export async function readDicomMask(
  path: string,
  grid: MaskGrid,
  options: DicomMaskOptions = {},
): Promise<DicomMask> {
  const scan = await scanDicom(path);
  const all = scan.masks;
  if (all.length === 0) {
    throw new InputError(`${path}: no DICOM-SEG or RTSTRUCT found (${scan.files} files)`, 'DICOM_NO_MASK');
  }
  const matching = all.filter((m) => m.frameOfReferenceUids.includes(grid.frameOfReferenceUid));
  if (matching.length === 0) {
    throw new InputError(
      `${path}: the ${all.map((m) => m.kind.toUpperCase()).join(', ')} found refer${all.length === 1 ? 's' : ''} to Frame of Reference ` +
        `${[...new Set(all.flatMap((m) => m.frameOfReferenceUids))].join(', ') || '(none)'}, not the DCE's ${grid.frameOfReferenceUid}`,
      'DICOM_MASK_FRAME_OF_REFERENCE',
    );
  }
  if (matching.length > 1) {
    throw new InputError(
      `${path}: ${matching.length} masks refer to the DCE (${matching.map((m) => m.file).join(', ')}); name one file`,
      'DICOM_MANY_MASKS',
    );
  }
  const object = matching[0];
  const parsed = parseDicom(await readDicomBytes(object.file), object.file, true);
  return object.kind === 'seg'
    ? rasteriseSeg(parsed.dataset, object.file, grid, options)
    : rasteriseRtstruct(parsed.dataset, object.file, grid, options);
}

/** The one segment/ROI to use among `names` (by number or name), or an InputError listing them. */
export function chooseRoi(
  choices: Array<{ number: number; name: string }>,
  file: string,
  wanted?: string,
): { number: number; name: string } {
  const list = choices.map((c) => `${c.number} "${c.name}"`).join(', ');
  if (wanted !== undefined) {
    const hit = choices.find(
      (c) => String(c.number) === wanted.trim() || c.name.toLowerCase() === wanted.trim().toLowerCase(),
    );
    if (!hit) throw new InputError(`${file}: no segment/ROI "${wanted}" (has ${list})`, 'DICOM_NO_ROI');
    return hit;
  }
  if (choices.length === 1) return choices[0];
  const tumour = choices.filter((c) => TUMOUR_NAME.test(c.name));
  if (tumour.length === 1) return tumour[0];
  throw new InputError(
    `${file}: ${choices.length} segments/ROIs (${list}); say which is the tumour`,
    'DICOM_AMBIGUOUS_ROI',
  );
}

function rasteriseSeg(
  ds: NaturalDataset,
  file: string,
  grid: MaskGrid,
  options: DicomMaskOptions,
): DicomMask {
  const segments = sequenceItems(ds.SegmentSequence).map((s) => ({
    number: numbers(s.SegmentNumber)[0],
    name: String(s.SegmentLabel ?? ''),
  }));
  const chosen = chooseRoi(segments, file, options.roi);
  const frames = framesOfDataset(ds, file, '');
  const perFrame = sequenceItems(ds.PerFrameFunctionalGroupsSequence);
  const shared = sequenceItems(ds.SharedFunctionalGroupsSequence)[0] ?? {};
  const segmentOf = (n: number) => {
    const own = sequenceItems(perFrame[n]?.SegmentIdentificationSequence)[0];
    const common = sequenceItems(shared.SegmentIdentificationSequence)[0];
    return numbers((own ?? common)?.ReferencedSegmentNumber)[0];
  };
  const bytes = pixelBytes(ds.PixelData);
  const bits = numbers(ds.BitsAllocated)[0];
  const rows = numbers(ds.Rows)[0];
  const columns = numbers(ds.Columns)[0];
  const plane = rows * columns;
  if (!bytes || (bits !== 1 && bits !== 8) || bytes.length * (8 / bits) < plane * frames.length) {
    throw new InputError(`${file}: SEG pixel data missing, truncated or not 1/8-bit`, 'BAD_DICOM');
  }
  const threshold =
    bits === 1 ? 1 : Math.max(1, Math.ceil((numbers(ds.MaximumFractionalValue)[0] ?? 255) / 2));
  const toVoxel = lpsToVoxel(grid.affine);
  const [X, Y, Z] = grid.dims;
  const data = new Uint8Array(X * Y * Z);
  let voxels = 0;
  frames.forEach((f, n) => {
    if (segmentOf(n) !== chosen.number) return;
    if (!f.position || !f.orientation || !f.pixelSpacing) {
      throw new InputError(
        `${file}: SEG frame ${n + 1} has no plane position/orientation/spacing`,
        'BAD_DICOM',
      );
    }
    const [dr, dc] = f.pixelSpacing;
    const o = f.orientation;
    for (let j = 0; j < rows; j++) {
      for (let i = 0; i < columns; i++) {
        const index = n * plane + j * columns + i;
        const value = bits === 1 ? (bytes[index >> 3] >> (index & 7)) & 1 : bytes[index];
        if (value < threshold) continue;
        const p = [0, 1, 2].map((a) => f.position![a] + i * dc * o[a] + j * dr * o[3 + a]);
        const [vi, vj, vk] = toVoxel(p).map(Math.round);
        if (vi < 0 || vj < 0 || vk < 0 || vi >= X || vj >= Y || vk >= Z) continue;
        const at = (vk * Y + vj) * X + vi;
        voxels += data[at] ? 0 : 1;
        data[at] = 1;
      }
    }
  });
  return { data, voxels, kind: 'seg', file, roi: chosen.name };
}

function rasteriseRtstruct(
  ds: NaturalDataset,
  file: string,
  grid: MaskGrid,
  options: DicomMaskOptions,
): DicomMask {
  const rois = sequenceItems(ds.StructureSetROISequence).map((r) => ({
    number: numbers(r.ROINumber)[0],
    name: String(r.ROIName ?? ''),
  }));
  const chosen = chooseRoi(rois, file, options.roi);
  const contours = sequenceItems(ds.ROIContourSequence).find(
    (c) => numbers(c.ReferencedROINumber)[0] === chosen.number,
  );
  const toVoxel = lpsToVoxel(grid.affine);
  const [X, Y, Z] = grid.dims;
  // Polygons per slice, in voxel (i, j) coordinates.
  const bySlice = new Map<number, number[][]>();
  for (const contour of sequenceItems(contours?.ContourSequence)) {
    const type = String(contour.ContourGeometricType ?? 'CLOSED_PLANAR');
    if (type !== 'CLOSED_PLANAR') continue; // points and open lines enclose nothing
    const xyz = numbers(contour.ContourData);
    if (xyz.length < 9 || xyz.length % 3 !== 0) continue;
    const polygon: number[] = [];
    let kSum = 0;
    for (let p = 0; p < xyz.length; p += 3) {
      const [vi, vj, vk] = toVoxel([xyz[p], xyz[p + 1], xyz[p + 2]]);
      polygon.push(vi, vj);
      kSum += vk;
    }
    const k = Math.round(kSum / (xyz.length / 3));
    if (k < 0 || k >= Z) continue;
    const list = bySlice.get(k) ?? [];
    list.push(polygon);
    bySlice.set(k, list);
  }
  const data = new Uint8Array(X * Y * Z);
  let voxels = 0;
  for (const [k, polygons] of bySlice) {
    const slice = data.subarray(k * X * Y, (k + 1) * X * Y);
    voxels += fillEvenOdd(polygons, X, Y, slice);
  }
  return { data, voxels, kind: 'rtstruct', file, roi: chosen.name };
}

/**
 * Even-odd fill of polygons (flat [i0, j0, i1, j1, …], voxel coordinates) on an X × Y slice:
 * voxel (i, j) is set when a ray from its centre towards +i crosses the polygons' edges an odd
 * number of times, an edge counting when it spans j half-open ((j0 > j) ≠ (j1 > j)) and crosses
 * strictly beyond i. Returns the voxels set.
 */
export function fillEvenOdd(polygons: number[][], X: number, Y: number, out: Uint8Array): number {
  let count = 0;
  const crossings: number[] = [];
  for (let j = 0; j < Y; j++) {
    crossings.length = 0;
    for (const poly of polygons) {
      const n = poly.length / 2;
      for (let a = 0, b = n - 1; a < n; b = a++) {
        const [ia, ja, ib, jb] = [poly[2 * a], poly[2 * a + 1], poly[2 * b], poly[2 * b + 1]];
        if (ja > j !== jb > j) crossings.push(ia + ((j - ja) * (ib - ia)) / (jb - ja));
      }
    }
    if (!crossings.length) continue;
    for (let i = 0; i < X; i++) {
      let inside = false;
      for (const x of crossings) if (i < x) inside = !inside;
      if (inside) {
        out[j * X + i] = 1;
        count++;
      }
    }
  }
  return count;
}

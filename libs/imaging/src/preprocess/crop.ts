/**
 * One patient → model input before intensity normalisation: the pipeline
 *   tumour box → largest cross-section → K slices → display frame → square crop → bilinear resample
 * applied to every phase in acquisition order, plus the mask of the central slice as last channel.
 */
import { LoadedPatient, PatientRowError } from '../cohort/load-patient';
import { orientationCodes } from '../nifti/read-affine';
import {
  BoundingBox,
  CropBox,
  CropBoxOptions,
  cropBox,
  displayFrame,
  largestCrossSection,
  pickSlices,
  tumourBoundingBox,
  Vec3,
} from './geometry';
import { sampleSlice, sliceSampler } from './resample';

export interface PreprocessOptions extends CropBoxOptions {
  /** Output height and width in pixels (default 64). */
  size?: number;
  /** Adjacent axial slices per phase, as channels (default 3). */
  slices?: number;
}

export const DEFAULT_CROP_SIZE = 64;
export const DEFAULT_SLICES = 3;

/** [T, H, W, C]: phases, rows, columns, channels (K intensity slices + 1 mask); C fastest. */
export type InputShape = [number, number, number, number];

/** Where the crop came from, so a heat map or a reviewer can map it back onto the scan. */
export interface CropMetadata {
  /** Voxel indices (axis 2) of the intensity channels, inferior → superior. */
  slices: number[];
  /** Slice with the largest tumour cross-section; its mask is the last channel. */
  centreSlice: number;
  /** Crop centre along voxel axes 0 and 1 (mm from voxel 0) and the square's side. */
  cropCentreMm: [number, number];
  cropSideMm: number;
  /** Output pixel size, mm (cropSideMm / size). */
  pixelSpacingMm: number;
  voxelSpacingMm: Vec3;
  /** Orientation codes of the stored voxel axes ('LPS', 'RAS', …). */
  orientation: string;
  boundingBox: BoundingBox;
  tumourVolumeMm3: number;
  /** Stored volume index of each output phase, and its time after injection when known. */
  phaseOrder: number[];
  phaseTimes: number[] | null;
}

export interface RawCrop {
  shape: InputShape;
  /** Intensities as stored (scaled), mask channel in [0, 1]. */
  input: Float32Array;
  /**
   * Per output phase, the stored voxel values of the normalisation reference region: voxels of
   * the chosen slices whose centre lies inside the crop square and outside the tumour mask.
   * Native voxels, not resampled pixels, so interpolation (which smooths noise by an amount that
   * depends on each patient's zoom) does not bias the spread estimate.
   */
  reference: Float32Array[];
  meta: CropMetadata;
}

export function cropPatient(patient: LoadedPatient, options: PreprocessOptions = {}): RawCrop {
  const size = options.size ?? DEFAULT_CROP_SIZE;
  const sliceCount = options.slices ?? DEFAULT_SLICES;
  const { dce, mask } = patient;
  const dims = dce.dims;
  const frame = displayFrame(dce.affine);
  if (!frame) {
    const codes = orientationCodes(dce.affine);
    throw new PatientRowError(
      `not an axial series: voxel axes are ${codes}, the third must run superior-inferior; reslice to axial`,
    );
  }
  const box = tumourBoundingBox(mask, dims);
  if (!box) throw new PatientRowError('empty mask');
  const centreSlice = largestCrossSection(mask, dims, box);
  // Pick in anatomical order (inferior → superior) so the storage direction changes nothing.
  const flipZ = (z: number) => dims[2] - 1 - z;
  const slices = frame.sliceAscending
    ? pickSlices(centreSlice, sliceCount, dims[2])
    : pickSlices(flipZ(centreSlice), sliceCount, dims[2]).map(flipZ);
  const crop = cropBox(box, dce.spacing, options);

  const channels = sliceCount + 1;
  const phases = patient.phaseOrder.length;
  const shape: InputShape = [phases, size, size, channels];
  const input = new Float32Array(phases * size * size * channels);
  const intensity = sliceSampler(dims, dce.spacing, frame, crop, size, 'clamp');
  const maskSampler = sliceSampler(dims, dce.spacing, frame, crop, size, 'zero');
  const perSlice = dims[0] * dims[1];
  const perPhase = perSlice * dims[2];
  const phaseStride = size * size * channels;

  patient.phaseOrder.forEach((stored, t) => {
    slices.forEach((z, k) =>
      sampleSlice(
        dce.data,
        stored * perPhase + z * perSlice,
        intensity,
        input,
        t * phaseStride + k,
        channels,
      ),
    );
  });

  // Mask channel: the central slice's mask, identical for every phase (phases share one grid).
  const maskPlane = new Float32Array(size * size);
  sampleSlice(mask, centreSlice * perSlice, maskSampler, maskPlane, 0, 1);
  for (let t = 0; t < phases; t++) {
    for (let p = 0; p < size * size; p++) input[t * phaseStride + p * channels + sliceCount] = maskPlane[p];
  }

  const reference = referenceVoxels(patient, crop, slices);

  const sp = dce.spacing;
  return {
    shape,
    input,
    reference,
    meta: {
      slices,
      centreSlice,
      cropCentreMm: crop.centreMm,
      cropSideMm: crop.sideMm,
      pixelSpacingMm: crop.sideMm / size,
      voxelSpacingMm: sp,
      orientation: frame.orientation,
      boundingBox: box,
      tumourVolumeMm3: box.voxels * sp[0] * sp[1] * sp[2],
      phaseOrder: patient.phaseOrder,
      phaseTimes: patient.phaseTimes,
    },
  };
}

/** Values of the peritumoural reference region, phase by phase (see RawCrop.reference). */
function referenceVoxels(patient: LoadedPatient, box: CropBox, slices: number[]): Float32Array[] {
  const { dce, mask } = patient;
  const [nx, ny] = dce.dims;
  const [sx, sy] = dce.spacing;
  const half = box.sideMm / 2;
  const range = (centre: number, spacing: number, dim: number) => [
    Math.max(0, Math.ceil((centre - half) / spacing)),
    Math.min(dim - 1, Math.floor((centre + half) / spacing)),
  ];
  const [x0, x1] = range(box.centreMm[0], sx, nx);
  const [y0, y1] = range(box.centreMm[1], sy, ny);
  const offsets: number[] = [];
  for (const z of [...new Set(slices)]) {
    for (let y = y0; y <= y1; y++) {
      for (let x = x0, i = x + nx * (y + ny * z); x <= x1; x++, i++) if (!mask[i]) offsets.push(i);
    }
  }
  const perPhase = nx * ny * dce.dims[2];
  return patient.phaseOrder.map((stored) => {
    const values = new Float32Array(offsets.length);
    const base = stored * perPhase;
    for (let k = 0; k < offsets.length; k++) values[k] = dce.data[base + offsets[k]];
    return values;
  });
}

/**
 * Reads one manifest row's images and checks everything preprocessing relies on. A failure is a
 * PatientRowError whose message is the reason shown in the cohort report; nothing else in the
 * cohort is affected.
 */
import { relative } from 'node:path';
import { PhccError } from '../../../common/src';
import { readNifti } from '../nifti/read';
import { affineMaxDifference } from '../nifti/read-affine';
import { firstNonFinite, mayHoldNonFinite } from '../nifti/read-stats';
import { Affine, NiftiImage } from '../nifti/types';
import { isDicomSource } from '../dicom/source';
import { readDicomDceSeries, readDicomMaskOnGrid } from './dicom-inputs';
import { ManifestRow } from './manifest';

export interface PatientLoadOptions {
  /** Phases the model takes (default 6); fewer is an error, extra late phases are dropped. */
  phases?: number;
  /** Largest allowed difference between mask and DCE affines, per element, in mm (default 1e-3). */
  affineToleranceMm?: number;
  /** Mask voxels ≥ this are tumour (default 0.5: works for 0/1 masks and interpolated ones). */
  maskThreshold?: number;
  /**
   * Nominal seconds after injection of the model's phases (its config's phaseTimes). With them, a
   * DCE holding more phases than the model takes, and times for them, gives the phases nearest
   * these times (in order) instead of the first ones.
   */
  nominalPhaseTimes?: number[];
}

export const DEFAULT_PHASES = 6;

/** A DCE series on one grid: `data` holds `phases` 3-D volumes one after another, x fastest. */
export interface DceSeries {
  /** Spatial size [X, Y, Z]. */
  dims: [number, number, number];
  /** Voxel size in mm [sx, sy, sz]. */
  spacing: [number, number, number];
  affine: Affine;
  /** Number of volumes stored in `data` (as on disk, before reordering or dropping). */
  storedPhases: number;
  data: Float32Array;
  /** False when the stored datatype cannot hold NaN/Inf (scaled integers), so no scan is needed. */
  mayHoldNonFinite: boolean;
  /** Seconds per stored phase from the DICOM headers (the manifest's phase_times win). */
  phaseTimes?: number[] | null;
  /** DICOM Frame of Reference UID, which a DICOM mask must share. */
  frameOfReferenceUid?: string;
}

export interface LoadedPatient {
  row: ManifestRow;
  dce: DceSeries;
  /** 1 = tumour, 0 = not; same grid as the DCE. */
  mask: Uint8Array;
  tumourVoxels: number;
  /** Stored volume index of each model phase, in acquisition order (length = options.phases). */
  phaseOrder: number[];
  /** Seconds after injection of each model phase, when the manifest gave them. */
  phaseTimes: number[] | null;
}

/** Why one row was skipped; the message is the human reason. */
export class PatientRowError extends PhccError {
  constructor(reason: string) {
    super(reason, 'BAD_COHORT_ROW', 2);
  }
}

export async function loadPatient(
  row: ManifestRow,
  baseDir: string,
  options: PatientLoadOptions = {},
): Promise<LoadedPatient> {
  const phases = options.phases ?? DEFAULT_PHASES;
  const tolerance = options.affineToleranceMm ?? 1e-3;
  const threshold = options.maskThreshold ?? 0.5;
  const show = (path: string) => relative(baseDir, path) || path;

  // The mask is read alongside the DCE (both decompress on libuv's pool); its error, if any, is
  // reported after the DCE's so the reason does not depend on timing.
  // A DICOM mask (SEG/RTSTRUCT) needs the DCE's grid and Frame of Reference, so it comes after.
  const maskIsDicom = await isDicomSource(row.maskPath);
  const maskRead = maskIsDicom
    ? undefined
    : readImage(row.maskPath, show, 'mask').then(
        (image) => ({ image }),
        (error: unknown) => ({ error }),
      );
  const dce =
    row.dcePaths.length === 1
      ? (await isDicomSource(row.dcePaths[0]))
        ? await readDicomDceSeries(row.dcePaths[0], show)
        : await readDce4d(row.dcePaths[0], show)
      : await readDcePhases(row.dcePaths, show);
  if (dce.storedPhases < phases) {
    throw new PatientRowError(`too few phases: ${dce.storedPhases} in the DCE, the model needs ${phases}`);
  }
  if (row.phaseTimes && row.phaseTimes.length !== dce.storedPhases) {
    throw new PatientRowError(
      `phase_times lists ${row.phaseTimes.length} times but the DCE has ${dce.storedPhases} phases`,
    );
  }
  const badVoxel = dce.mayHoldNonFinite ? firstNonFinite(dce.data) : -1;
  if (badVoxel >= 0) {
    const perPhase = dce.dims[0] * dce.dims[1] * dce.dims[2];
    throw new PatientRowError(
      `DCE has NaN/Inf voxels (first in phase ${Math.floor(badVoxel / perPhase) + 1}, ` +
        `voxel ${voxelIndex(badVoxel % perPhase, dce.dims)})`,
    );
  }

  const times = row.phaseTimes ?? dce.phaseTimes ?? null;
  if (maskIsDicom) {
    const { mask, tumourVoxels } = await readDicomMaskOnGrid(row.maskPath, dce, show);
    const { phaseOrder, phaseTimes } = acquisitionOrder(
      dce.storedPhases,
      times,
      phases,
      options.nominalPhaseTimes,
    );
    return { row, dce, mask, tumourVoxels, phaseOrder, phaseTimes };
  }
  const maskOutcome = await maskRead!;
  if ('error' in maskOutcome) throw maskOutcome.error;
  const maskImage = maskOutcome.image;
  const maskDims = spatialDims(maskImage, show(row.maskPath), 'mask');
  if (maskDims.join() !== dce.dims.join()) {
    throw new PatientRowError(
      `mask dims ${maskDims.join('×')} differ from the DCE grid ${dce.dims.join('×')}`,
    );
  }
  const affineGap = affineMaxDifference(maskImage.affine, dce.affine);
  if (!(affineGap <= tolerance)) {
    throw new PatientRowError(
      `mask affine differs from the DCE affine by ${affineGap.toPrecision(3)} mm (${describeAffineGap(maskImage.affine, dce.affine)}; tolerance ${tolerance} mm)`,
    );
  }
  const mask = new Uint8Array(dce.dims[0] * dce.dims[1] * dce.dims[2]);
  const tumourVoxels = binariseMask(maskImage.data, threshold, mask);
  if (tumourVoxels < 0) {
    throw new PatientRowError(
      `mask has NaN/Inf voxels (first at ${voxelIndex(firstNonFinite(maskImage.data), dce.dims)})`,
    );
  }
  if (tumourVoxels === 0)
    throw new PatientRowError(`empty mask: no voxel ≥ ${threshold} in ${show(row.maskPath)}`);

  const { phaseOrder, phaseTimes } = acquisitionOrder(
    dce.storedPhases,
    times,
    phases,
    options.nominalPhaseTimes,
  );
  return { row, dce, mask, tumourVoxels, phaseOrder, phaseTimes };
}

/** Writes 1 where value ≥ threshold; returns the tumour voxel count, or -1 on a NaN/Inf value. */
function binariseMask(values: Float32Array, threshold: number, out: Uint8Array): number {
  let count = 0;
  let finite = true;
  for (let i = 0; i < out.length; i++) {
    const v = values[i];
    finite = finite && v - v === 0;
    const inside = v >= threshold ? 1 : 0;
    out[i] = inside;
    count += inside;
  }
  return finite ? count : -1;
}

/**
 * Phases sorted by their time after injection when the manifest gives times (a site may store
 * them in another order), else as stored; the first `phases` of them are the model's input, or,
 * given the model's nominal times and more stored phases than it takes, the ones nearest them.
 */
export function acquisitionOrder(
  stored: number,
  times: number[] | null,
  phases: number,
  nominal?: number[],
): { phaseOrder: number[]; phaseTimes: number[] | null } {
  const order = Array.from({ length: stored }, (_, i) => i);
  if (times) order.sort((a, b) => times[a] - times[b] || a - b);
  const phaseOrder =
    times && nominal && nominal.length === phases && stored > phases
      ? nearestInOrder(
          order.map((i) => times[i]),
          nominal,
        ).map((k) => order[k])
      : order.slice(0, phases);
  return { phaseOrder, phaseTimes: times ? phaseOrder.map((i) => times[i]) : null };
}

async function readImage(path: string, show: (p: string) => string, what: string): Promise<NiftiImage> {
  try {
    return await readNifti(path);
  } catch (err) {
    const code = (err as PhccError).code;
    if (code === 'NIFTI_NOT_FOUND') throw new PatientRowError(`missing ${what} file ${show(path)}`);
    // The reader's message starts with the absolute path; the report shows the manifest's one.
    const reason = (err as Error).message.replace(`${path}: `, '');
    throw new PatientRowError(`unreadable ${what} NIfTI ${show(path)}: ${reason}`);
  }
}

/** [X, Y, Z] of an image that must be one 3-D volume (trailing singleton dims allowed). */
function spatialDims(image: NiftiImage, shown: string, what: string): [number, number, number] {
  const extra = image.dims.slice(3);
  if (image.dims.length < 3 || extra.some((d) => d !== 1)) {
    throw new PatientRowError(`${what} ${shown} must be 3-D, has dims ${image.dims.join('×')}`);
  }
  return [image.dims[0], image.dims[1], image.dims[2]];
}

async function readDce4d(path: string, show: (p: string) => string): Promise<DceSeries> {
  const image = await readImage(path, show, 'DCE');
  const dims = image.dims;
  if (dims.length < 3 || dims.slice(4).some((d) => d !== 1)) {
    throw new PatientRowError(`DCE ${show(path)} must be 4-D (x, y, z, phase), has dims ${dims.join('×')}`);
  }
  return {
    dims: [dims[0], dims[1], dims[2]],
    spacing: spacingOf(image),
    affine: image.affine,
    storedPhases: dims[3] ?? 1,
    data: image.data,
    mayHoldNonFinite: mayHoldNonFinite(image),
  };
}

/** One 3-D file per phase: all must share the first phase's grid. */
async function readDcePhases(paths: string[], show: (p: string) => string): Promise<DceSeries> {
  let first: DceSeries | undefined;
  let data = new Float32Array(0);
  for (let p = 0; p < paths.length; p++) {
    const image = await readImage(paths[p], show, `DCE phase ${p + 1}`);
    const dims = spatialDims(image, show(paths[p]), `DCE phase ${p + 1}`);
    if (!first) {
      const perPhase = dims[0] * dims[1] * dims[2];
      data = new Float32Array(perPhase * paths.length);
      first = {
        dims,
        spacing: spacingOf(image),
        affine: image.affine,
        storedPhases: paths.length,
        data,
        mayHoldNonFinite: false,
      };
    } else {
      if (dims.join() !== first.dims.join()) {
        throw new PatientRowError(
          `DCE phase ${p + 1} (${show(paths[p])}) dims ${dims.join('×')} differ from phase 1's ${first.dims.join('×')}`,
        );
      }
      const gap = affineMaxDifference(image.affine, first.affine);
      if (!(gap <= 1e-3)) {
        throw new PatientRowError(
          `DCE phase ${p + 1} (${show(paths[p])}) affine differs from phase 1's by ${gap.toPrecision(3)} mm`,
        );
      }
    }
    first.mayHoldNonFinite ||= mayHoldNonFinite(image);
    data.set(image.data.subarray(0, data.length / paths.length), p * (data.length / paths.length));
  }
  return first!;
}

function spacingOf(image: NiftiImage): [number, number, number] {
  // Voxel size from the affine's columns: what the world geometry really is, even if pixdim lies.
  const col = (c: number) => Math.hypot(image.affine[0][c], image.affine[1][c], image.affine[2][c]);
  const spacing: [number, number, number] = [col(0), col(1), col(2)];
  if (spacing.some((s) => !(s > 0) || !Number.isFinite(s))) {
    throw new PatientRowError(`DCE affine has a zero or invalid voxel size (${spacing.join(', ')})`);
  }
  return spacing;
}

function voxelIndex(flat: number, dims: [number, number, number]): string {
  const x = flat % dims[0];
  const y = Math.floor(flat / dims[0]) % dims[1];
  const z = Math.floor(flat / (dims[0] * dims[1]));
  return `(${x}, ${y}, ${z})`;
}

const AFFINE_PARTS = ['x', 'y', 'z'];

/** Which part of the geometry differs most: voxel axes/spacing or the origin. */
function describeAffineGap(a: Affine, b: Affine): string {
  let worst = { r: 0, c: 0, d: -1 };
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) {
      const d = Math.abs(a[r][c] - b[r][c]);
      if (!(d <= worst.d)) worst = { r, c, d };
    }
  }
  return worst.c === 3
    ? `origin ${AFFINE_PARTS[worst.r]}: ${a[worst.r][3]} vs ${b[worst.r][3]}`
    : `axis ${worst.c} direction/spacing, element [${worst.r}][${worst.c}]: ${a[worst.r][worst.c]} vs ${b[worst.r][worst.c]}`;
}

/**
 * Indices into `sorted` (ascending times), one per nominal time and increasing, that minimise the
 * summed |time − nominal| (dynamic programming; ties go to the earlier phase).
 */
export function nearestInOrder(sorted: number[], nominal: number[]): number[] {
  const n = sorted.length;
  const m = nominal.length;
  // cost[j][i]: best total for model phases 0..j with phase j taken from stored i.
  const cost = Array.from({ length: m }, () => new Array<number>(n).fill(Infinity));
  const from = Array.from({ length: m }, () => new Array<number>(n).fill(-1));
  for (let i = 0; i < n; i++) cost[0][i] = Math.abs(sorted[i] - nominal[0]);
  for (let j = 1; j < m; j++) {
    let best = Infinity;
    let bestAt = -1;
    for (let i = j; i < n; i++) {
      if (cost[j - 1][i - 1] < best) {
        best = cost[j - 1][i - 1];
        bestAt = i - 1;
      }
      cost[j][i] = best + Math.abs(sorted[i] - nominal[j]);
      from[j][i] = bestAt;
    }
  }
  let end = m - 1;
  for (let i = m - 1; i < n; i++) if (cost[m - 1][i] < cost[m - 1][end]) end = i;
  const picked = new Array<number>(m);
  for (let j = m - 1; j >= 0; j--) {
    picked[j] = end;
    end = from[j][end];
  }
  return picked;
}

/**
 * A DICOM folder (or file) → one 4-D DCE volume [columns, rows, slices, phases] on the NIfTI grid
 * of geometry.ts, with the phases' times. Everything is checked from the headers before a voxel
 * is allocated (size against a budget included), so a bad series fails whole with one InputError
 * naming it, and memory stays bounded by the volume itself.
 */
import { InputError } from '../../../common/src';
import { Affine } from '../nifti/types';
import { affineMaxDifference } from '../nifti/read-affine';
import { frameSuffix, StackGeometry, StackGeometryError, stackGeometry } from './geometry';
import { assembleStudy, DceAssemblyError, DcePhase, PhaseTimeSource, seriesLabel, StudyDce } from './phases';
import { samplesOfFrames } from './frame-samples';
import { pixelLayoutProblem, placeFrame, storedTypeName } from './pixels';
import { parseDicomPixelData, readDicomBytes } from './read-file';
import { DicomScan, scanDicom, ScanOptions } from './scan';
import { isReadableTransferSyntax, unsupportedTransferSyntax } from './transfer-syntax';
import { DicomFrame } from './types';

/** Default ceiling on the float32 volume: 2 GiB (a 512 × 512 × 200 × 10 study is 2 GiB). */
export const DEFAULT_DICOM_MAX_BYTES = 2 * 1024 ** 3;

export interface DicomPhaseInfo {
  /** Seconds after the reference (`phaseTimeReference`); null when the headers give no time. */
  time: number | null;
  seriesUid: string;
  seriesNumber: number | null;
  seriesDescription: string;
  temporalPosition: number | null;
}

export interface DicomDceVolume {
  source: string;
  /** [columns, rows, slices, phases]. */
  dims: [number, number, number, number];
  /** Voxel size in mm along i, j, k. */
  spacing: [number, number, number];
  /** Voxel → RAS+ mm, dcm2niix's convention (geometry.ts). */
  affine: Affine;
  /** Scaled values, x fastest, phase slowest. */
  data: Float32Array;
  /** Stored sample type of the images ('int16', 'uint16', …). */
  storedType: string;
  phases: DicomPhaseInfo[];
  /** Seconds per phase, or null when the headers hold no time for them. */
  phaseTimes: number[] | null;
  phaseTimeSource: PhaseTimeSource | null;
  /** What time 0 is: the ContrastBolusStartTime, or the first phase. */
  phaseTimeReference: 'ContrastBolusStartTime' | 'first phase' | null;
  phaseRule: StudyDce['dce']['phaseRule'];
  studyUid: string;
  patientId: string;
  studyDate: string;
  frameOfReferenceUid: string;
  /** Series found beside the DCE and left out. */
  notUsed: StudyDce['notUsed'];
  /** Image files read. */
  files: number;
}

export interface ReadDicomOptions extends ScanOptions {
  /** Pick this study when the folder holds several. */
  studyUid?: string;
  /** Largest float32 volume allowed, in bytes (default 2 GiB). */
  maxBytes?: number;
}

/** The DCE geometry and phases of a study, validated from headers only (no pixel read). */
export interface DcePlan {
  study: StudyDce;
  geometry: StackGeometry;
  /** Per phase, its planes sorted along the normal. */
  stacks: DicomFrame[][];
  phases: DicomPhaseInfo[];
  phaseTimes: number[] | null;
  phaseTimeReference: DicomDceVolume['phaseTimeReference'];
}

/** Reads the one DCE study under `path`. */
export async function readDicomDce(path: string, options: ReadDicomOptions = {}): Promise<DicomDceVolume> {
  const scan = await scanDicom(path, options);
  const frames = imageFramesOf(scan, path);
  const studies = [...new Set(frames.map((f) => f.studyUid))];
  let chosen = frames;
  if (options.studyUid) {
    chosen = frames.filter((f) => f.studyUid === options.studyUid);
    if (!chosen.length)
      throw new InputError(`${path}: no images of study ${options.studyUid}`, 'DICOM_NO_STUDY');
  } else if (studies.length > 1) {
    throw new InputError(
      `${path}: holds ${studies.length} studies (${studies.slice(0, 3).join(', ')}${studies.length > 3 ? ', …' : ''}); ` +
        'point at one study folder, or run `phcc-fed cohort build` to list them',
      'DICOM_MANY_STUDIES',
    );
  }
  const plan = planDce(chosen, path);
  return readPlannedDce(plan, path, options.maxBytes ?? DEFAULT_DICOM_MAX_BYTES);
}

/** Image frames of a scan, refusing a folder with unreadable DICOM files or no image at all. */
export function imageFramesOf(scan: DicomScan, path: string): DicomFrame[] {
  if (scan.problems.length) {
    const more = scan.problems.length > 1 ? ` (and ${scan.problems.length - 1} more unreadable files)` : '';
    throw new InputError(`${scan.problems[0].reason}${more}`, 'BAD_DICOM');
  }
  if (!scan.frames.length) {
    throw new InputError(
      `${path}: no DICOM images found (${scan.files} files, ${scan.ignored.length} not DICOM images)`,
      'DICOM_NO_IMAGES',
    );
  }
  return scan.frames;
}

/** Groups, orders and checks one study's planes; InputError (naming the series) when they do not fit. */
export function planDce(frames: DicomFrame[], path: string): DcePlan {
  let study: StudyDce;
  try {
    study = assembleStudy(frames);
  } catch (err) {
    throw asInputError(err, path);
  }
  const stacks: DicomFrame[][] = [];
  let geometry: StackGeometry | undefined;
  for (const [index, phase] of study.dce.phases.entries()) {
    const where = `${path}: ${seriesLabel(phase.frames[0])}${study.dce.phases.length > 1 ? `, phase ${index + 1}` : ''}`;
    let result;
    try {
      result = stackGeometry(phase.frames);
    } catch (err) {
      if (err instanceof StackGeometryError)
        throw new InputError(`${where}: ${err.message}`, 'DICOM_BAD_SERIES');
      throw err;
    }
    if (geometry) checkSameGrid(geometry, result.geometry, where);
    else geometry = result.geometry;
    for (const f of result.sorted) {
      if (!isReadableTransferSyntax(f.transferSyntaxUid))
        throw unsupportedTransferSyntax(f.file, f.transferSyntaxUid);
      const problem = pixelLayoutProblem(f);
      if (problem)
        throw new InputError(`${where}: ${f.file}${frameSuffix(f)} has ${problem}`, 'DICOM_BAD_SERIES');
    }
    stacks.push(result.sorted);
  }
  const { times, reference } = phaseTimes(study.dce.phases, study.dce.timeSource);
  return {
    study,
    geometry: geometry!,
    stacks,
    phases: study.dce.phases.map((p, i) => ({
      time: times ? times[i] : null,
      seriesUid: p.seriesUid,
      seriesNumber: p.seriesNumber,
      seriesDescription: p.seriesDescription,
      temporalPosition: p.temporalPosition,
    })),
    phaseTimes: times,
    phaseTimeReference: reference,
  };
}

function asInputError(err: unknown, path: string): Error {
  if (err instanceof DceAssemblyError || err instanceof StackGeometryError) {
    return new InputError(`${path}: ${err.message}`, 'DICOM_BAD_SERIES');
  }
  return err as Error;
}

/** Every phase must sit on the first phase's grid (same slices, same affine). */
function checkSameGrid(reference: StackGeometry, other: StackGeometry, where: string): void {
  if (other.dims.join() !== reference.dims.join()) {
    throw new InputError(
      `${where}: grid ${other.dims.join('×')} differs from the first phase's ${reference.dims.join('×')}`,
      'DICOM_BAD_SERIES',
    );
  }
  const gap = affineMaxDifference(other.affine, reference.affine);
  if (!(gap <= 1e-3 * Math.max(1, ...reference.spacing))) {
    throw new InputError(
      `${where}: slice positions differ from the first phase's by up to ${gap.toPrecision(3)} mm`,
      'DICOM_BAD_SERIES',
    );
  }
}

/**
 * Seconds per phase: relative to ContrastBolusStartTime when the times are clock times and the
 * header gives it, else to the first phase. Clock times that pass midnight are unwrapped.
 */
export function phaseTimes(
  phases: DcePhase[],
  source: PhaseTimeSource | null,
): { times: number[] | null; reference: DicomDceVolume['phaseTimeReference'] } {
  if (!source || phases.some((p) => p.time === null)) return { times: null, reference: null };
  const clock = source === 'AcquisitionTime' || source === 'ContentTime';
  const raw = phases.map((p) => p.time!);
  if (clock) for (let i = 1; i < raw.length; i++) if (raw[i] < raw[0] - 43_200) raw[i] += 86_400;
  const bolus = clock ? phases[0].frames[0].bolusStartTime : null;
  const zero = bolus ?? raw[0];
  const round = (t: number) => Math.round(t * 1000) / 1000;
  return {
    times: raw.map((t) => round(t - zero)),
    reference: bolus !== null ? 'ContrastBolusStartTime' : 'first phase',
  };
}

/** Allocates the volume (after checking its size) and decodes every plane into it. */
export async function readPlannedDce(plan: DcePlan, path: string, maxBytes: number): Promise<DicomDceVolume> {
  const [X, Y, Z] = plan.geometry.dims;
  const T = plan.stacks.length;
  const bytes = X * Y * Z * T * 4;
  if (bytes > maxBytes) {
    throw new InputError(
      `${path}: the DCE volume ${X}×${Y}×${Z}×${T} needs ${(bytes / 1024 ** 2).toFixed(0)} MiB as float32, ` +
        `over the ${(maxBytes / 1024 ** 2).toFixed(0)} MiB limit`,
      'DICOM_TOO_LARGE',
    );
  }
  const data = new Float32Array(X * Y * Z * T);
  // Each file is parsed once, whatever number of frames (and phases) it holds.
  const byFile = new Map<string, Array<{ frame: DicomFrame; offset: number }>>();
  plan.stacks.forEach((stack, t) =>
    stack.forEach((frame, k) => {
      const list = byFile.get(frame.file) ?? [];
      list.push({ frame, offset: (t * Z + k) * Y * X });
      byFile.set(frame.file, list);
    }),
  );
  const files = [...byFile.keys()];
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < files.length && !failed) {
      const file = files[next++];
      const planes = byFile.get(file)!;
      let samples;
      try {
        samples = await samplesOfFrames(
          parseDicomPixelData(await readDicomBytes(file), file),
          planes.map((p) => p.frame),
        );
      } catch (err) {
        failed = true;
        throw err;
      }
      planes.forEach(({ frame, offset }, n) => placeFrame(frame, samples[n], data, offset));
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const first = plan.stacks[0][0];
  return {
    source: path,
    dims: [X, Y, Z, T],
    spacing: plan.geometry.spacing,
    affine: plan.geometry.affine,
    data,
    storedType: storedTypeName(first),
    phases: plan.phases,
    phaseTimes: plan.phaseTimes,
    phaseTimeSource: plan.study.dce.timeSource,
    phaseTimeReference: plan.phaseTimeReference,
    phaseRule: plan.study.dce.phaseRule,
    studyUid: plan.study.studyUid,
    patientId: plan.study.patientId,
    studyDate: plan.study.studyDate,
    frameOfReferenceUid: plan.study.frameOfReferenceUid,
    notUsed: plan.study.notUsed,
    files: files.length,
  };
}

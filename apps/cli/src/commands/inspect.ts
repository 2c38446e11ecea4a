import { Command } from 'commander';
import {
  isDicomSource,
  NiftiImage,
  numpyDtypeString,
  orientationCodes,
  readNifti,
  voxelStatistics,
  readDicomDce,
} from '../../../../libs/imaging/src';
import { formatDicomSummary, summariseDicom } from './inspect-dicom';

/** Names of the NIfTI xform codes (nifti1.h NIFTI_XFORM_*), as fslhd prints them. */
const XFORM_NAMES: Readonly<Record<number, string>> = {
  0: 'unknown',
  1: 'scanner_anat',
  2: 'aligned_anat',
  3: 'talairach',
  4: 'mni_152',
  5: 'template_other',
};

/** What `inspect --json` prints: geometry and value range of one NIfTI image. */
export interface InspectSummary {
  file: string;
  niftiVersion: 1 | 2;
  dims: number[];
  /** One spacing per entry of `dims` (spatial in `spatialUnit`, time in `timeUnit`). */
  pixdim: number[];
  /** numpy / nibabel spelling: 'uint8', 'int16', 'float32', '>f4' (big-endian), … */
  datatype: string;
  /** The type without byte order: 'float32' for '>f4'. */
  datatypeName: string;
  datatypeCode: number;
  littleEndian: boolean;
  spatialUnit: string;
  timeUnit: string;
  orientation: string;
  sformCode: number;
  qformCode: number;
  sclSlope: number;
  sclInter: number;
  affine: number[][];
  /** Of the scaled voxel values; NaN/Inf voxels are left out and counted in `nonFinite`. */
  min: number | null;
  max: number | null;
  mean: number | null;
  nonFinite: number;
}

export function summariseNifti(file: string, image: NiftiImage): InspectSummary {
  const stats = voxelStatistics(image.data);
  const orNull = (x: number) => (Number.isFinite(x) ? x : null);
  return {
    file,
    niftiVersion: image.niftiVersion,
    dims: image.dims,
    pixdim: image.pixdim,
    datatype: numpyDtypeString(image),
    datatypeName: image.datatype,
    datatypeCode: image.datatypeCode,
    littleEndian: image.littleEndian,
    spatialUnit: image.spatialUnit,
    timeUnit: image.timeUnit,
    orientation: orientationCodes(image.affine),
    sformCode: image.sformCode,
    qformCode: image.qformCode,
    sclSlope: image.sclSlope,
    sclInter: image.sclInter,
    affine: image.affine,
    min: orNull(stats.min),
    max: orNull(stats.max),
    mean: orNull(stats.mean),
    nonFinite: stats.nonFinite,
  };
}

/** Fixed-width lines in the spirit of fslhd / nibabel's header dump. */
export function formatSummary(s: InspectSummary): string[] {
  const num = (x: number) => Number(x.toPrecision(6)).toString();
  const spatialUnit = s.spatialUnit === 'unknown' ? '(unit unknown)' : s.spatialUnit;
  const lines: Array<[string, string]> = [
    ['file', s.file],
    ['format', `NIfTI-${s.niftiVersion}, ${s.littleEndian ? 'little' : 'big'}-endian`],
    ['dims', `${s.dims.join(' × ')}  (${s.dims.length}-D)`],
    ['voxel size', `${s.pixdim.slice(0, 3).map(num).join(' × ')} ${spatialUnit}`],
  ];
  if (s.dims.length >= 4) {
    const timeUnit = s.timeUnit === 'unknown' ? '(unit unknown)' : s.timeUnit;
    lines.push(['time step', `${num(s.pixdim[3])} ${timeUnit}  (${s.dims[3]} volumes)`]);
  }
  if (s.dims.length > 4) lines.push(['higher dims', s.pixdim.slice(4).map(num).join(' × ')]);
  lines.push(
    [
      'datatype',
      `${s.datatypeName} (code ${s.datatypeCode}${s.datatype !== s.datatypeName ? `, numpy ${s.datatype}` : ''})`,
    ],
    [
      'scaling',
      s.sclSlope === 1 && s.sclInter === 0
        ? 'none'
        : `× ${num(s.sclSlope)} ${s.sclInter < 0 ? '-' : '+'} ${num(Math.abs(s.sclInter))}`,
    ],
    ['orientation', s.orientation],
    ['sform_code', `${s.sformCode} (${XFORM_NAMES[s.sformCode] ?? 'invalid'})`],
    ['qform_code', `${s.qformCode} (${XFORM_NAMES[s.qformCode] ?? 'invalid'})`],
    ['affine', s.sformCode > 0 ? '(from sform)' : s.qformCode > 0 ? '(from qform)' : '(from pixdim)'],
  );
  const cells = s.affine.map((row) => row.map((x) => x.toFixed(4)));
  const width = Math.max(...cells.flat().map((c) => c.length));
  const matrix = cells.map((row) => '  [ ' + row.map((c) => c.padStart(width)).join('  ') + ' ]');
  const stats: Array<[string, string]> = [
    ['min', s.min === null ? 'n/a' : num(s.min)],
    ['max', s.max === null ? 'n/a' : num(s.max)],
    ['mean', s.mean === null ? 'n/a' : num(s.mean)],
  ];
  if (s.nonFinite > 0) stats.push(['NaN/Inf voxels', String(s.nonFinite)]);
  const pad = (rows: Array<[string, string]>) => rows.map(([k, v]) => `${k.padEnd(14)}${v}`);
  return [...pad(lines), ...matrix, ...pad(stats)];
}

/** `phcc-fed inspect FILE [--json]`. */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .summary('print the header, affine and voxel statistics of a NIfTI file or a DICOM DCE series')
    .description(
      'Reads a NIfTI-1 or NIfTI-2 image (.nii or .nii.gz, either byte order) and prints its\n' +
        'dimensions, voxel size and time step, datatype, orientation, sform/qform codes, the\n' +
        'voxel-to-world affine (sform if set, else qform, else pixdim, as nibabel chooses) and the\n' +
        'min / max / mean of the scaled voxel values.\n' +
        'Given a DICOM folder (or file), reads its DCE study as `convert` does (docs/IMAGING.md)\n' +
        'and prints the same keys for the 4-D volume, plus the phases and their times.',
    )
    .argument('<file>', 'a .nii or .nii.gz file, or a DICOM folder or file')
    .option('--json', 'end the output with one JSON line (dims, pixdim, datatype, affine, min, max, mean, …)')
    .action(async (file: string, opts: { json?: boolean }) => {
      if (await isDicomSource(file)) {
        const dicom = summariseDicom(file, await readDicomDce(file));
        for (const line of formatDicomSummary(dicom)) process.stdout.write(line + '\n');
        if (opts.json) process.stdout.write(JSON.stringify(dicom) + '\n');
        return;
      }
      const summary = summariseNifti(file, await readNifti(file));
      for (const line of formatSummary(summary)) process.stdout.write(line + '\n');
      if (opts.json) process.stdout.write(JSON.stringify(summary) + '\n');
    });
}

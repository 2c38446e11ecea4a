import {
  DicomDceVolume,
  NIFTI_DATATYPE_CODES,
  orientationCodes,
  voxelStatistics,
} from '../../../../libs/imaging/src';

/**
 * What `inspect --json` prints for a DICOM DCE: the NIfTI keys (dims, pixdim, datatype, affine,
 * min, max, mean, orientation, units) of the volume `convert` would write, plus the study and
 * its phases with their times.
 */
export interface DicomInspectSummary {
  file: string;
  format: 'DICOM';
  dims: number[];
  /** Voxel size in mm, then the phase step in s (0 when the phases are not evenly spaced). */
  pixdim: number[];
  /** Stored sample type of the images ('int16', 'uint16', …). */
  datatype: string;
  datatypeName: string;
  datatypeCode: number | null;
  spatialUnit: 'mm';
  timeUnit: 'sec';
  orientation: string;
  affine: number[][];
  min: number | null;
  max: number | null;
  mean: number | null;
  nonFinite: number;
  studyUid: string;
  patientId: string;
  studyDate: string;
  frameOfReferenceUid: string;
  phaseRule: string;
  phaseTimes: number[] | null;
  phaseTimeSource: string | null;
  phaseTimeReference: string | null;
  phases: DicomDceVolume['phases'];
  notUsed: DicomDceVolume['notUsed'];
  files: number;
}

/** The common step between phase times, or 0 when they are unknown or uneven. */
export function phaseStep(times: number[] | null): number {
  if (!times || times.length < 2) return 0;
  const step = times[1] - times[0];
  return times.every((t, i) => i === 0 || Math.abs(t - times[i - 1] - step) < 1e-3) ? step : 0;
}

export function summariseDicom(file: string, volume: DicomDceVolume): DicomInspectSummary {
  const stats = voxelStatistics(volume.data);
  const orNull = (x: number) => (Number.isFinite(x) ? x : null);
  const code = (NIFTI_DATATYPE_CODES as Record<string, number>)[volume.storedType];
  return {
    file,
    format: 'DICOM',
    dims: volume.dims,
    pixdim: [...volume.spacing, phaseStep(volume.phaseTimes)],
    datatype: volume.storedType,
    datatypeName: volume.storedType,
    datatypeCode: code ?? null,
    spatialUnit: 'mm',
    timeUnit: 'sec',
    orientation: orientationCodes(volume.affine),
    affine: volume.affine,
    min: orNull(stats.min),
    max: orNull(stats.max),
    mean: orNull(stats.mean),
    nonFinite: stats.nonFinite,
    studyUid: volume.studyUid,
    patientId: volume.patientId,
    studyDate: volume.studyDate,
    frameOfReferenceUid: volume.frameOfReferenceUid,
    phaseRule: volume.phaseRule,
    phaseTimes: volume.phaseTimes,
    phaseTimeSource: volume.phaseTimeSource,
    phaseTimeReference: volume.phaseTimeReference,
    phases: volume.phases,
    notUsed: volume.notUsed,
    files: volume.files,
  };
}

const PHASE_RULES: Record<string, string> = {
  'temporal-position': 'by TemporalPositionIdentifier',
  'time-rank': 'by acquisition time at each slice position',
  series: 'one series per phase',
  single: 'one phase',
};

export function formatDicomSummary(s: DicomInspectSummary): string[] {
  const num = (x: number) => Number(x.toPrecision(6)).toString();
  const pad = (k: string, v: string) => `${k.padEnd(14)}${v}`;
  const lines = [
    pad('file', s.file),
    pad(
      'format',
      `DICOM, ${s.files} image files, patient ${s.patientId || '?'}, study ${s.studyDate || '?'}`,
    ),
    pad('study', s.studyUid),
    pad('dims', `${s.dims.join(' × ')}  (columns × rows × slices × phases)`),
    pad('voxel size', `${s.pixdim.slice(0, 3).map(num).join(' × ')} mm`),
    pad('datatype', `${s.datatype} (stored; values rescaled to float)`),
    pad('orientation', `${s.orientation}  (affine as dcm2niix writes it, RAS+)`),
    pad('phases', `${s.dims[3]}, ${PHASE_RULES[s.phaseRule] ?? s.phaseRule}`),
  ];
  s.phases.forEach((p, i) => {
    const time = p.time === null ? 'time unknown' : `${num(p.time)} s`;
    lines.push(
      pad(
        `  phase ${i + 1}`,
        `${time.padEnd(12)} series ${p.seriesNumber ?? '?'} ${p.seriesDescription}`.trimEnd(),
      ),
    );
  });
  if (s.phaseTimeSource)
    lines.push(pad('phase times', `from ${s.phaseTimeSource}, 0 = ${s.phaseTimeReference}`));
  for (const n of s.notUsed)
    lines.push(pad('not used', `series ${n.seriesNumber ?? '?'} ${n.description}`.trimEnd()));
  const cells = s.affine.map((row) => row.map((x) => x.toFixed(4)));
  const width = Math.max(...cells.flat().map((c) => c.length));
  lines.push(
    pad('affine', ''),
    ...cells.map((row) => '  [ ' + row.map((c) => c.padStart(width)).join('  ') + ' ]'),
  );
  lines.push(
    pad('min', s.min === null ? 'n/a' : num(s.min)),
    pad('max', s.max === null ? 'n/a' : num(s.max)),
    pad('mean', s.mean === null ? 'n/a' : num(s.mean)),
  );
  return lines;
}

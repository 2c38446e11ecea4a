/**
 * `cohort build`: a scanned PACS export → a draft manifest.csv with one row per study, for the
 * hospital to complete (labels, splits, masks it has elsewhere). Pure: takes a scan, returns rows.
 *
 * Each row's `dce` is the folder that holds exactly the study's DCE files (their deepest common
 * folder); `mask` is the SEG/RTSTRUCT of the study that shares the DCE's Frame of Reference, when
 * there is exactly one; `phase_times` come from the headers. Studies whose DCE cannot be
 * assembled are listed with the reason instead of getting a row.
 */
import { dirname, relative, sep } from 'node:path';
import { StackGeometryError, stackGeometry } from './geometry';
import { assembleStudies, DceAssemblyError, seriesLabel, StudyDce } from './phases';
import { phaseTimes } from './read-dce';
import { DicomScan } from './scan';

export const DRAFT_MANIFEST_COLUMNS = [
  'patient_id',
  'dce',
  'mask',
  'label',
  'split',
  'phase_times',
  'study_uid',
  'study_date',
  'phases',
  'notes',
] as const;

export type DraftRow = Record<(typeof DRAFT_MANIFEST_COLUMNS)[number], string>;

export interface DraftManifest {
  rows: DraftRow[];
  /** Studies left out, and why. */
  problems: Array<{ studyUid: string; patientId: string; reason: string }>;
}

/** Deepest folder containing every path. */
function commonFolder(paths: string[]): string {
  const parts = paths.map((p) => dirname(p).split(sep));
  const first = parts[0];
  let n = first.length;
  for (const other of parts) {
    let i = 0;
    while (i < n && i < other.length && other[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n).join(sep) || sep;
}

/** One row per study of the scan; paths relative to `manifestDir`. */
export function draftManifest(scan: DicomScan, manifestDir: string): DraftManifest {
  const rows: DraftRow[] = [];
  const problems: DraftManifest['problems'] = [];
  const ids = new Map<string, number>();
  const allStudyFiles = new Map<string, Set<string>>();
  for (const f of scan.frames) {
    const set = allStudyFiles.get(f.studyUid) ?? new Set<string>();
    set.add(f.file);
    allStudyFiles.set(f.studyUid, set);
  }
  for (const result of assembleStudies(scan.frames)) {
    if ('error' in result) {
      problems.push({ studyUid: result.studyUid, patientId: result.patientId, reason: result.error });
      continue;
    }
    const study: StudyDce = result;
    try {
      study.dce.phases.forEach((p) => stackGeometry(p.frames));
    } catch (err) {
      if (!(err instanceof StackGeometryError || err instanceof DceAssemblyError)) throw err;
      const label = seriesLabel(study.dce.phases[0].frames[0]);
      problems.push({
        studyUid: study.studyUid,
        patientId: study.patientId,
        reason: `${label}: ${err.message}`,
      });
      continue;
    }
    const dceFiles = study.dce.phases.flatMap((p) => p.frames.map((f) => f.file));
    const folder = commonFolder(dceFiles);
    const notes: string[] = [];
    const othersInFolder = [...allStudyFiles.entries()].some(
      ([uid, files]) => uid !== study.studyUid && [...files].some((f) => f.startsWith(folder + sep)),
    );
    if (othersInFolder) notes.push('the DCE folder also holds other studies: give each study its own folder');
    if (study.notUsed.length) {
      notes.push(
        `not used: ${study.notUsed.map((s) => `series ${s.seriesNumber ?? '?'} ${s.description}`.trim()).join('; ')}`,
      );
    }
    const masks = scan.masks.filter(
      (m) => m.studyUid === study.studyUid && m.frameOfReferenceUids.includes(study.frameOfReferenceUid),
    );
    if (masks.length === 0) notes.push('no SEG/RTSTRUCT on the DCE: add a mask');
    if (masks.length > 1) notes.push(`${masks.length} SEG/RTSTRUCT objects: pick one`);
    const { times } = phaseTimes(study.dce.phases, study.dce.timeSource);
    const base = study.patientId || study.studyUid;
    const seen = ids.get(base) ?? 0;
    ids.set(base, seen + 1);
    rows.push({
      patient_id: seen ? `${base}_${seen + 1}` : base,
      dce: relative(manifestDir, folder) || '.',
      mask: masks.length === 1 ? relative(manifestDir, masks[0].file) : '',
      label: '',
      split: 'train',
      phase_times: times ? times.join(';') : '',
      study_uid: study.studyUid,
      study_date: study.studyDate,
      phases: String(study.dce.phases.length),
      notes: notes.join(' | '),
    });
  }
  return { rows, problems };
}

/** CSV text (RFC 4180 quoting) of draft rows, header first. */
export function draftManifestCsv(rows: DraftRow[]): string {
  const quote = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = [DRAFT_MANIFEST_COLUMNS.join(',')];
  for (const row of rows) lines.push(DRAFT_MANIFEST_COLUMNS.map((c) => quote(row[c])).join(','));
  return lines.join('\n') + '\n';
}

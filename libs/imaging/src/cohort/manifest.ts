/**
 * manifest.csv of a site's cohort (DESIGN.md §5):
 *   patient_id, dce, mask, label, split[, phase_times]
 * This module only parses and checks the text; whether the files it names are good images is
 * decided when each patient is read (load-patient.ts), so parsing a huge cohort stays instant.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse } from 'csv-parse/sync';
import { InputError } from '../../../common/src';

export const REQUIRED_COLUMNS = ['patient_id', 'dce', 'mask', 'label', 'split'] as const;
export const OPTIONAL_COLUMNS = ['phase_times'] as const;
// 'val': labelled patients held out of training, for choosing thresholds (docs/MODEL.md).
export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** One patient as the manifest describes it; paths are resolved against the manifest's folder. */
export interface ManifestRow {
  /** Line number in manifest.csv (the header is line 1), what a person opening the file sees. */
  row: number;
  patientId: string;
  /** One 4-D file, or one 3-D file per phase in the order given. */
  dcePaths: string[];
  maskPath: string;
  /** 1 = proliferative, 0 = not, null = unknown (used by SSL only). */
  label: 0 | 1 | null;
  split: Split;
  /**
   * Seconds after injection per stored phase, as given; null when the column is absent or empty.
   * Equal times are allowed (rounding in an export): such phases keep their stored order.
   */
  phaseTimes: number[] | null;
}

/** A row that cannot be used, and why: reported, then skipped, so the rest of the cohort loads. */
export interface SkippedRow {
  row: number;
  patientId: string;
  reason: string;
}

export interface ParsedManifest {
  manifestPath: string;
  /** Folder that the manifest's relative paths start from. */
  baseDir: string;
  rows: ManifestRow[];
  skipped: SkippedRow[];
  /** Data lines in the file (valid or not), blank lines excluded. */
  totalRows: number;
}

/** A folder holding manifest.csv, or the manifest file itself. */
export function resolveManifestPath(dirOrFile: string): string {
  let stats;
  try {
    stats = statSync(dirOrFile);
  } catch {
    throw new InputError(`cohort not found: ${dirOrFile}`, 'COHORT_NOT_FOUND');
  }
  const path = stats.isDirectory() ? join(dirOrFile, 'manifest.csv') : dirOrFile;
  try {
    statSync(path);
  } catch {
    throw new InputError(`cohort manifest not found: ${path}`, 'COHORT_NOT_FOUND');
  }
  return resolve(path);
}

export interface ManifestOptions {
  /**
   * Accept image paths outside the manifest's folder (`../`, absolute). Off by default: a
   * manifest from elsewhere must not make a site agent read arbitrary files.
   */
  allowPathsOutside?: boolean;
}

/** Most files one row's `dce` may list (one per phase); more is a mistake, not a DCE series. */
export const MAX_DCE_FILES = 64;

export function readManifest(dirOrFile: string, options: ManifestOptions = {}): ParsedManifest {
  const manifestPath = resolveManifestPath(dirOrFile);
  return parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath, options);
}

/** Parses manifest text; `manifestPath` names the file in messages and anchors relative paths. */
export function parseManifest(
  text: string,
  manifestPath: string,
  options: ManifestOptions = {},
): ParsedManifest {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (err) {
    throw new InputError(`${manifestPath}: not valid CSV (${(err as Error).message})`, 'BAD_MANIFEST');
  }
  if (records.length === 0)
    throw new InputError(`${manifestPath}: empty manifest (no header line)`, 'BAD_MANIFEST');

  const header = records[0].record.map((name) => name.trim().toLowerCase());
  const column = new Map<string, number>();
  header.forEach((name, i) => {
    if (column.has(name))
      throw new InputError(`${manifestPath}: column "${name}" appears twice`, 'BAD_MANIFEST');
    column.set(name, i);
  });
  const missing = REQUIRED_COLUMNS.filter((name) => !column.has(name));
  if (missing.length) {
    throw new InputError(
      `${manifestPath}: missing required column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} ` +
        `(header must have ${REQUIRED_COLUMNS.join(', ')}[, ${OPTIONAL_COLUMNS.join(', ')}])`,
      'BAD_MANIFEST',
    );
  }

  const baseDir = dirname(manifestPath);
  const rows: ManifestRow[] = [];
  const skipped: SkippedRow[] = [];
  const seen = new Map<string, number>();
  for (const { record, info } of records.slice(1)) {
    const line = info.lines;
    const cell = (name: string) => {
      const i = column.get(name);
      return i === undefined ? '' : (record[i] ?? '').trim();
    };
    const patientId = cell('patient_id');
    // Reasons quote cells; a quoted cell may hold line breaks, and a report line must stay one line.
    const fail = (reason: string) =>
      skipped.push({ row: line, patientId: oneLine(patientId), reason: oneLine(reason) });
    if (record.length !== header.length) {
      fail(`has ${record.length} fields, header has ${header.length}`);
      continue;
    }
    if (!patientId) {
      fail('empty patient_id');
      continue;
    }
    const earlier = seen.get(patientId);
    if (earlier !== undefined) {
      fail(`duplicate patient_id (first on row ${earlier})`);
      continue;
    }
    seen.set(patientId, line);
    const parsed = parseRowFields(cell, baseDir, options);
    if (typeof parsed === 'string') {
      fail(parsed);
      continue;
    }
    rows.push({ row: line, patientId, ...parsed });
  }
  return { manifestPath, baseDir, rows, skipped, totalRows: records.length - 1 };
}

/** The row's fields, or the reason it is unusable. */
function parseRowFields(
  cell: (name: string) => string,
  baseDir: string,
  options: ManifestOptions,
): Omit<ManifestRow, 'row' | 'patientId'> | string {
  const dce = cell('dce');
  if (!dce) return 'empty dce';
  const dceParts = dce.split(';').map((p) => p.trim());
  if (dceParts.some((p) => !p)) return `dce "${shorten(dce)}" has an empty entry in its ;-separated list`;
  // Checked before anything is read or allocated: 1,100 copies of one file once cost gigabytes.
  if (dceParts.length > MAX_DCE_FILES) {
    return `dce lists ${dceParts.length} files; at most ${MAX_DCE_FILES} (one per phase)`;
  }
  const dcePaths = dceParts.map((p) => resolve(baseDir, p));
  const seenPaths = new Set<string>();
  for (let i = 0; i < dcePaths.length; i++) {
    if (seenPaths.has(dcePaths[i])) return `dce lists "${dceParts[i]}" more than once`;
    seenPaths.add(dcePaths[i]);
  }
  const mask = cell('mask');
  if (!mask) return 'empty mask';
  const maskPath = resolve(baseDir, mask);
  if (!options.allowPathsOutside) {
    const outside = [...dceParts.map((p, i) => [p, dcePaths[i]]), [mask, maskPath]].find(
      ([, path]) => !isInside(baseDir, path),
    );
    if (outside) {
      return `"${shorten(outside[0])}" is outside the cohort folder ${baseDir} (paths must stay inside it unless outside paths are allowed)`;
    }
  }

  const labelText = cell('label');
  let label: 0 | 1 | null;
  if (labelText === '') label = null;
  else if (labelText === '1' || labelText === '1.0') label = 1;
  else if (labelText === '0' || labelText === '0.0') label = 0;
  else return `unknown label "${labelText}" (use 1, 0 or leave empty)`;

  const splitText = cell('split').toLowerCase();
  if (!(SPLITS as readonly string[]).includes(splitText)) {
    return `unknown split "${cell('split')}" (use ${SPLITS.join(', ')})`;
  }

  const timesText = cell('phase_times');
  let phaseTimes: number[] | null = null;
  if (timesText) {
    const parts = timesText.split(';').map((t) => t.trim());
    const values = parts.map((t) => (t === '' ? NaN : Number(t)));
    const bad = parts.find((_, i) => !Number.isFinite(values[i]));
    if (bad !== undefined) return `phase_times "${timesText}": "${bad}" is not a number of seconds`;
    phaseTimes = values;
  }

  return {
    dcePaths,
    maskPath,
    label,
    split: splitText as Split,
    phaseTimes,
  };
}

/** Whether `path` (absolute, normalised) is `dir` or below it. */
export function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** A cell quoted in a message, cut so one bad row cannot make the report huge. */
function shorten(text: string): string {
  return text.length <= 200 ? text : `${text.slice(0, 200)}… (${text.length} characters)`;
}

/** Control characters (line breaks, NUL…) written as escapes, so a message stays one line. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

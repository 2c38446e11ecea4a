/**
 * A site's cohort as model input, in two streaming passes so a cohort larger than memory never
 * has to be held whole:
 *   pass 1 (loadCohort): read and validate every row, crop it, feed the training patients'
 *     reference pixels to per-phase histograms; keep un-normalised crops while they fit the cache.
 *   pass 2 (patients()): yield normalised crops one patient at a time, from the cache (memory,
 *     then an optional folder) or by reading the files again.
 * Only one or two patients' volumes are in memory at any time (`prefetch` overlaps reading the
 * next patient with cropping the current one).
 */
import { realpath } from 'node:fs/promises';
import { relative } from 'node:path';
import { Log, PhccError, silentLog } from '../../../common/src';
import {
  cropPatient,
  DEFAULT_CROP_SIZE,
  DEFAULT_SLICES,
  InputShape,
  PreprocessOptions,
  CropMetadata,
} from '../preprocess/crop';
import { NormalisationAccumulator, normaliseCrop, SiteNormalisation } from '../preprocess/normalise';
import {
  DEFAULT_PHASES,
  loadPatient,
  LoadedPatient,
  PatientLoadOptions,
  PatientRowError,
} from './load-patient';
import { CropCache } from './crop-cache';
import { isInside, ManifestRow, readManifest, Split } from './manifest';
import { CohortReport, countLoaded, countSkipped, emptyReport, finishReport } from './report';

export interface LoadCohortOptions extends PatientLoadOptions, PreprocessOptions {
  log?: Log;
  /** Use these statistics instead of measuring the site's (e.g. the ones saved with a model). */
  normalisation?: SiteNormalisation;
  /** Memory for un-normalised crops kept between the passes (default 256 MiB); 0 re-reads every file. */
  cacheBytes?: number;
  /**
   * Folder for crops beyond `cacheBytes` (raw float32, ~0.4 MB each; the caller owns and removes
   * it). Without it those patients' NIfTI files are read again on each pass.
   */
  cacheDir?: string;
  /** Patients read ahead while the current one is cropped (default 1). */
  prefetch?: number;
  /**
   * Read image paths outside the cohort folder (`../`, absolute paths, symlinks that lead out).
   * Off by default: a manifest must not make the agent read files it was not given.
   */
  allowPathsOutside?: boolean;
  /** Called after each row of pass 1 (for a progress bar). */
  onProgress?: (done: number, total: number) => void;
}

/** One patient ready for the model. */
export interface PreprocessedPatient {
  patientId: string;
  /** Line in manifest.csv. */
  row: number;
  label: 0 | 1 | null;
  split: Split;
  shape: InputShape;
  /** Normalised intensities (K channels) + mask (last channel), [T, H, W, C] with C fastest. */
  input: Float32Array;
  meta: CropMetadata;
}

/** A loaded patient without pixels: enough to plan splits and count classes. */
export interface CohortEntry {
  patientId: string;
  row: number;
  label: 0 | 1 | null;
  split: Split;
}

export interface PatientFilter {
  split?: Split;
  /** Only patients with a label (fine-tuning and evaluation). */
  labelledOnly?: boolean;
}

export interface LoadedCohort {
  manifestPath: string;
  report: CohortReport;
  normalisation: SiteNormalisation;
  /** Shape of every patient's input. */
  shape: InputShape;
  entries: CohortEntry[];
  /** Normalised patients in manifest order; each call starts a fresh pass. */
  patients(filter?: PatientFilter): AsyncIterable<PreprocessedPatient>;
}

type Outcome = { row: ManifestRow; patient: LoadedPatient } | { row: ManifestRow; error: unknown };

/**
 * Loads patients in manifest order with up to `prefetch` reads in flight. Row errors come back
 * as outcomes; the generator itself only throws for bugs.
 */
export async function* readPatients(
  rows: ManifestRow[],
  baseDir: string,
  options: PatientLoadOptions,
  prefetch = 1,
  confined = true,
): AsyncGenerator<Outcome> {
  const realBase = confined ? await realpath(baseDir) : '';
  const settle = (row: ManifestRow): Promise<Outcome> =>
    (confined ? refuseSymlinksOut(row, baseDir, realBase) : Promise.resolve())
      .then(() => loadPatient(row, baseDir, options))
      .then(
        (patient) => ({ row, patient }),
        (error: unknown) => ({ row, error }),
      );
  const queue: Array<Promise<Outcome>> = [];
  let next = 0;
  while (next < rows.length || queue.length) {
    while (next < rows.length && queue.length <= prefetch) queue.push(settle(rows[next++]));
    yield await queue.shift()!;
  }
}

export async function loadCohort(
  dirOrManifest: string,
  options: LoadCohortOptions = {},
): Promise<LoadedCohort> {
  const log = options.log ?? silentLog;
  const confined = !options.allowPathsOutside;
  const manifest = readManifest(dirOrManifest, { allowPathsOutside: options.allowPathsOutside });
  const report = emptyReport(manifest.manifestPath, manifest.totalRows);
  manifest.skipped.forEach((s) => countSkipped(report, s));
  const loadOptions = { phases: options.phases ?? DEFAULT_PHASES, ...pick(options) };
  const shape: InputShape = [
    loadOptions.phases,
    options.size ?? DEFAULT_CROP_SIZE,
    options.size ?? DEFAULT_CROP_SIZE,
    (options.slices ?? DEFAULT_SLICES) + 1,
  ];

  const trainStats = new NormalisationAccumulator(shape[0]);
  const allStats = new NormalisationAccumulator(shape[0]);
  const cache = new CropCache(options.cacheBytes ?? 256 * 1024 * 1024, options.cacheDir);
  const loadedRows: ManifestRow[] = [];
  let done = 0;

  for await (const outcome of readPatients(
    manifest.rows,
    manifest.baseDir,
    loadOptions,
    options.prefetch ?? 1,
    confined,
  )) {
    const { row } = outcome;
    try {
      if ('error' in outcome) throw outcome.error;
      const crop = cropPatient(outcome.patient, options);
      if (!options.normalisation) {
        allStats.addPatient(crop.reference);
        if (row.split === 'train') trainStats.addPatient(crop.reference);
      }
      await cache.put(row.row, crop);
      loadedRows.push(row);
      countLoaded(report, row);
      log.debug({ patient: row.patientId, row: row.row, slices: crop.meta.slices }, 'patient loaded');
    } catch (err) {
      if (!(err instanceof PatientRowError)) throw err;
      countSkipped(report, { row: row.row, patientId: row.patientId, reason: err.message });
      log.warn({ row: row.row, patient: row.patientId, reason: err.message }, 'cohort row skipped');
    }
    options.onProgress?.(++done, manifest.rows.length);
  }

  finishReport(report);
  const normalisation =
    options.normalisation ?? (trainStats.patients > 0 ? trainStats.finish('train') : allStats.finish('all'));
  if (!options.normalisation && trainStats.patients === 0 && loadedRows.length > 0) {
    log.warn('no training patients loaded: intensity statistics come from all patients');
  }
  log.info(
    {
      loaded: report.loaded,
      skipped: report.skipped.length,
      cachedInMemory: cache.memoryCount,
      cachedOnDisk: cache.diskCount,
    },
    `cohort ${manifest.manifestPath}: ${report.loaded} patients loaded, ${report.skipped.length} skipped`,
  );

  async function* patients(filter: PatientFilter = {}): AsyncGenerator<PreprocessedPatient> {
    const wanted = loadedRows.filter(
      (r) => (!filter.split || r.split === filter.split) && (!filter.labelledOnly || r.label !== null),
    );
    const uncached = wanted.filter((r) => !cache.has(r.row));
    const reread = readPatients(uncached, manifest.baseDir, loadOptions, options.prefetch ?? 1, confined);
    for (const row of wanted) {
      let crop = await cache.take(row.row);
      if (!crop) {
        const outcome = (await reread.next()).value as Outcome;
        if ('error' in outcome) throw changedSinceValidation(row, outcome.error);
        try {
          crop = cropPatient(outcome.patient, options);
        } catch (err) {
          throw changedSinceValidation(row, err);
        }
      }
      const input = crop.input;
      normaliseCrop(input, crop.shape, crop.shape[3] - 1, normalisation);
      yield {
        patientId: row.patientId,
        row: row.row,
        label: row.label,
        split: row.split,
        shape: crop.shape,
        input,
        meta: crop.meta,
      };
    }
  }

  return {
    manifestPath: manifest.manifestPath,
    report,
    normalisation,
    shape,
    entries: loadedRows.map((r) => ({ patientId: r.patientId, row: r.row, label: r.label, split: r.split })),
    patients,
  };
}

function changedSinceValidation(row: ManifestRow, err: unknown): Error {
  if (!(err instanceof PatientRowError)) return err as Error;
  return new PhccError(
    `cohort row ${row.row} (${row.patientId}) changed on disk after it was validated: ${err.message}`,
    'COHORT_CHANGED',
  );
}

function pick(options: LoadCohortOptions): PatientLoadOptions {
  const out: PatientLoadOptions = {};
  if (options.affineToleranceMm !== undefined) out.affineToleranceMm = options.affineToleranceMm;
  if (options.maskThreshold !== undefined) out.maskThreshold = options.maskThreshold;
  if (options.nominalPhaseTimes !== undefined) out.nominalPhaseTimes = options.nominalPhaseTimes;
  return out;
}

/**
 * The manifest's paths were checked as text; a symlink inside the folder can still lead out.
 * Files that do not exist are left to the loader, which reports them as missing.
 */
async function refuseSymlinksOut(row: ManifestRow, baseDir: string, realBase: string): Promise<void> {
  for (const path of [...row.dcePaths, row.maskPath]) {
    let real: string;
    try {
      real = await realpath(path);
    } catch {
      continue;
    }
    if (!isInside(realBase, real)) {
      throw new PatientRowError(
        `${relative(baseDir, path)} is a link to ${real}, outside the cohort folder (paths must stay inside it unless outside paths are allowed)`,
      );
    }
  }
}

/**
 * What `train`, `evaluate` and `predict` share: the preprocessing record saved with a model (so
 * a later cohort or patient is cropped and normalised exactly as the training data were), the
 * smoke-test model size, and option parsing.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { InputError } from '../../../../libs/common/src';
import {
  DEFAULT_CROP_SIZE,
  DEFAULT_PHASES,
  DEFAULT_SLICES,
  CohortReport,
  LoadedCohort,
  PatientFilter,
  SiteNormalisation,
  validateNormalisation,
} from '../../../../libs/imaging/src';
import { describePhases, ModelConfig } from '../../../../libs/model/src/network/config';
import { PhccModelMetadata } from '../../../../libs/model/src/io/checkpoint';
import { PatientSample } from '../../../../libs/model/src/training/types';

/** `--tiny` lives with the model's configuration; re-exported for the CLI's commands. */
export { TINY_MODEL } from '../../../../libs/model/src/network/config';

/** One training site's intensity statistics, keyed by its cohort folder's name. */
export interface SitePreprocessing {
  name: string;
  normalisation: SiteNormalisation;
}

/** Stored as phcc-model.json `preprocessing`. */
export interface ModelPreprocessing {
  method: 'phcc-roi-crop';
  version: 1;
  /** Crop side in pixels (= the model's imageSize). */
  size: number;
  /** Adjacent axial slices per phase. */
  slices: number;
  phases: number;
  sites: SitePreprocessing[];
}

export function buildPreprocessing(config: ModelConfig, sites: SitePreprocessing[]): ModelPreprocessing {
  return {
    method: 'phcc-roi-crop',
    version: 1,
    size: config.imageSize,
    slices: config.intensityChannels,
    phases: config.phases,
    sites,
  };
}

/** The preprocessing saved with a model; a model without one (e.g. from a federated run) gets the defaults from its config. */
export function modelPreprocessing(metadata: PhccModelMetadata, modelDir: string): ModelPreprocessing {
  const config = metadata.config;
  const raw = metadata.preprocessing as Partial<ModelPreprocessing> | undefined;
  const where = `${modelDir}: phcc-model.json preprocessing`;
  if (!raw || raw.method !== 'phcc-roi-crop') {
    return buildPreprocessing(config, []);
  }
  if (
    raw.size !== config.imageSize ||
    raw.slices !== config.intensityChannels ||
    raw.phases !== config.phases
  ) {
    throw new InputError(`${where}: size/slices/phases do not match the model config`);
  }
  const sites = Array.isArray(raw.sites) ? raw.sites : [];
  return {
    ...buildPreprocessing(config, []),
    sites: sites.map((s, i) => ({
      name: typeof s?.name === 'string' ? s.name : `site${i + 1}`,
      normalisation: validateNormalisation(s?.normalisation, config.phases, `${where}.sites[${i}]`),
    })),
  };
}

/** Picks the stored site statistics to preprocess data from outside any training cohort. */
export function storedNormalisation(
  pre: ModelPreprocessing,
  modelDir: string,
  site?: string,
): SitePreprocessing {
  if (pre.sites.length === 0) {
    throw new InputError(`${modelDir}: the model carries no site normalisation statistics`);
  }
  if (site === undefined) return pre.sites[0];
  const found = pre.sites.find((s) => s.name === site);
  if (!found) {
    throw new InputError(
      `--site ${site}: not one of the model's training sites (${pre.sites.map((s) => s.name).join(', ')})`,
    );
  }
  return found;
}

export function cropOptions(pre: ModelPreprocessing): { size: number; slices: number; phases: number } {
  return { size: pre.size, slices: pre.slices, phases: pre.phases };
}

/** Defaults of libs/imaging, matching the full-size model. */
export const DEFAULT_CROP = { size: DEFAULT_CROP_SIZE, slices: DEFAULT_SLICES, phases: DEFAULT_PHASES };

/** A cohort folder must exist before libs/imaging is asked to read it (clearer message). */
export function checkCohortPath(path: string, option = '--cohort'): string {
  const full = resolve(path);
  if (!existsSync(full)) throw new InputError(`${option} ${path}: no such file or directory`);
  return full;
}

export function checkModelDir(path: string): string {
  const full = resolve(path);
  if (!existsSync(full) || !statSync(full).isDirectory()) {
    throw new InputError(`--model ${path}: no such directory`);
  }
  if (!existsSync(resolve(full, 'phcc-model.json'))) {
    throw new InputError(`--model ${path}: not a pHCC model directory (no phcc-model.json)`);
  }
  return full;
}

/** Site name = the cohort folder's name (or, for a manifest path, its folder's). */
export function cohortName(path: string): string {
  const full = resolve(path);
  return existsSync(full) && statSync(full).isFile() ? basename(dirname(full)) : basename(full);
}

/** Pulls a cohort's normalised patients into the model's sample type (ids prefixed by site). */
export async function collectPatients(
  cohort: LoadedCohort,
  filter: PatientFilter,
  prefix = '',
): Promise<PatientSample[]> {
  const out: PatientSample[] = [];
  for await (const p of cohort.patients(filter)) {
    out.push({
      id: prefix + p.patientId,
      label: p.label,
      split: p.split,
      x: p.input,
      phaseTimes: p.meta.phaseTimes,
    });
  }
  return out;
}

export function parseInteger(value: string, option: string, min = 0): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new InputError(`${option} must be an integer ≥ ${min} (got "${value}")`);
  }
  return n;
}

export function parsePositive(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InputError(`${option} must be a positive number (got "${value}")`);
  return n;
}

/** A share in (0, 1], e.g. `--labelled-fraction 0.3`. */
export function parseFraction(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1)
    throw new InputError(`${option} must be a number in (0, 1] (got "${value}")`);
  return n;
}

/**
 * A site whose every DCE has fewer phases than the model takes cannot train or evaluate it: say
 * so once, with both counts, instead of a report of identically skipped rows.
 */
export function checkCohortPhases(
  report: CohortReport,
  config: Pick<ModelConfig, 'phases' | 'phaseNames'>,
  where: string,
): void {
  if (report.loaded > 0) return;
  const short = report.skipped.filter((s) => s.reason.startsWith('too few phases'));
  if (short.length === 0) return;
  const counts = [...new Set(short.map((s) => Number(/too few phases: (\d+)/.exec(s.reason)?.[1])))].sort();
  throw new InputError(
    `${where}: the model takes ${describePhases(config)} but the cohort's DCEs have ${counts.join(' or ')} ` +
      `(${short.length} of ${report.rows} rows); train a model with --phases ${counts[counts.length - 1]}, or use DCEs with all ${config.phases} phases`,
    'PHASE_MISMATCH',
  );
}

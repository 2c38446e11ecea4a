import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { InputError } from '../../../../libs/common/src';
import { LoadedCohort, loadCohort, readManifest, SiteNormalisation } from '../../../../libs/imaging/src';
import { PhccModel } from '../../../../libs/model/src/network/model';
import {
  chooseThreshold,
  metricsAtThreshold,
  rocSummary,
  shiftPrior,
  ThresholdMetrics,
} from '../../../../libs/metrics/src';
import { initBackend } from '../../../../libs/compute/src';
import { loadModel, readModelMetadata, trainingPrevalenceOf } from '../../../../libs/model/src/io';
import { predict } from '../../../../libs/model/src/training/loops';
import { PatientSample } from '../../../../libs/model/src/training/types';
import { backendOptions, commandLogger } from '../context';
import {
  checkCohortPath,
  checkModelDir,
  cohortName,
  collectPatients,
  cropOptions,
  ModelPreprocessing,
  modelPreprocessing,
  storedNormalisation,
} from './model-inputs';
import type { EvaluateCliOptions } from './evaluate';

/** Which intensity statistics the evaluated cohort was normalised with. */
interface NormalisationChoice {
  /** 'cohort': measured on the cohort itself (its training split, or all patients); 'model': stored with the model. */
  from: 'cohort' | 'model';
  /** The stored site's name when from = 'model'. */
  site?: string;
  stats?: SiteNormalisation;
}

/** `phcc-fed evaluate`: scores the cohort with the model, prints and writes the figures and the predictions CSV. */
export async function runEvaluate(opts: EvaluateCliOptions, cmd: Command): Promise<void> {
  const log = commandLogger(cmd);
  const modelDir = checkModelDir(opts.model);
  const cohortDir = checkCohortPath(opts.cohort);
  const name = cohortName(cohortDir);
  const saved = readModelMetadata(modelDir);
  const pre = modelPreprocessing(saved, modelDir);
  const choice = chooseNormalisation(opts, cohortDir, name, pre, modelDir);
  await initBackend(backendOptions(cmd, log));
  const { model, metadata } = await loadModel(modelDir);
  try {
    const cohort = await loadCohort(cohortDir, {
      ...cropOptions(pre),
      // The phases nearest the model's nominal times, as train chose them.
      nominalPhaseTimes: saved.config.phaseTimes,
      normalisation: choice.stats,
      allowPathsOutside: opts.allowOutsidePaths,
      log,
    });
    const patients = await labelledPatients(cohort, cohortDir, opts.split);
    const scores = await predict(model, patients);
    const labels = patients.map((p) => p.label as number);
    const prevalence = trainingPrevalenceOf(metadata);
    const csvPath = resolve(opts.out ?? join(modelDir, `predictions-${name}.csv`));
    writePredictionsCsv(csvPath, patients, scores, prevalence);
    const positives = labels.filter((y) => y === 1).length;
    const negatives = labels.length - positives;
    if (positives < 2 || negatives < 2) {
      throw new InputError(
        `--cohort ${opts.cohort}: the ${opts.split} split has ${positives} proliferative and ${negatives} ` +
          `other labelled patients; an AUC with CI needs at least 2 of each (predictions written to ${csvPath})`,
      );
    }
    const roc = rocSummary(labels, scores);
    const fixed = await fixedThreshold(opts, cohort, model, opts.split);
    const atThreshold = fixed ? metricsAtThreshold(labels, scores, fixed.threshold) : undefined;
    const result = {
      cohort: name,
      split: opts.split,
      n: labels.length,
      n_pos: roc.nPos,
      n_neg: roc.nNeg,
      auc: roc.auc,
      ci95: roc.ci,
      // Chosen on the evaluated patients themselves: optimistic, kept for comparison only.
      youden: {
        threshold: roc.youden.threshold,
        sensitivity: roc.youden.sensitivity,
        specificity: roc.youden.specificity,
      },
      threshold: fixed && atThreshold ? { source: fixed.source, ...thresholdJson(atThreshold) } : null,
      scores: prevalence === undefined ? 'balanced' : 'probability',
      training_prevalence: prevalence ?? null,
      normalisation: choice.from === 'model' ? `model:${choice.site}` : 'cohort',
      predictions: csvPath,
    };
    const f = (x: number) => x.toFixed(4);
    const g = (x: number | null) => (x === null ? 'n/a' : f(x));
    process.stdout.write(
      [
        `cohort            ${name} (${opts.split} split, ${result.n} labelled: ${roc.nPos} positive, ${roc.nNeg} negative)`,
        `AUC               ${f(roc.auc)}   95 % CI ${f(roc.ci[0])} – ${f(roc.ci[1])} (DeLong)`,
        fixed && atThreshold
          ? `at threshold      ${f(fixed.threshold)} (${fixed.source})   sensitivity ${f(atThreshold.sensitivity)}   specificity ${f(atThreshold.specificity)}   PPV ${g(atThreshold.ppv)}   NPV ${g(atThreshold.npv)}   accuracy ${f(atThreshold.accuracy)}`
          : 'at threshold      none: no validation split (give --threshold to fix one)',
        `Youden cut-off    ${Number.isFinite(roc.youden.threshold) ? f(roc.youden.threshold) : 'none (no cut-off beats chance)'}   sensitivity ${f(roc.youden.sensitivity)}   specificity ${f(roc.youden.specificity)}   (chosen on these patients: optimistic)`,
        prevalence === undefined
          ? 'scores            balanced (calibrated to a 50 % prior, not a risk: the training prevalence is unknown)'
          : `scores            balanced; the CSV's probability column is recalibrated to the training prevalence ${f(prevalence)}`,
        `normalisation     ${result.normalisation === 'cohort' ? "the cohort's own statistics" : `stored with the model (site ${choice.site})`}`,
        `predictions       ${csvPath}`,
      ].join('\n') + '\n',
    );
    if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    model.dispose();
  }
}

/**
 * Why 'auto' prefers the cohort's own training split: normalisation exists to put each scanner
 * on a common scale, so a new hospital's images are best mapped with that hospital's statistics
 * (never its test patients'); only a cohort without training patients falls back to a training
 * site's stored statistics rather than measuring them on the very patients being evaluated.
 */
function chooseNormalisation(
  opts: EvaluateCliOptions,
  cohortDir: string,
  name: string,
  pre: ModelPreprocessing,
  modelDir: string,
): NormalisationChoice {
  const hasTrain = readManifest(cohortDir, { allowPathsOutside: opts.allowOutsidePaths }).rows.some(
    (r) => r.split === 'train',
  );
  const useModel = opts.normalisation === 'model' || (opts.normalisation === 'auto' && !hasTrain);
  if (!useModel) return { from: 'cohort' };
  const site = opts.site ?? (pre.sites.some((s) => s.name === name) ? name : undefined);
  const stored = storedNormalisation(pre, modelDir, site);
  return { from: 'model', site: stored.name, stats: stored.normalisation };
}

async function labelledPatients(
  cohort: LoadedCohort,
  cohortDir: string,
  split: EvaluateCliOptions['split'],
): Promise<PatientSample[]> {
  const patients = await collectPatients(cohort, {
    split: split === 'all' ? undefined : split,
    labelledOnly: true,
  });
  if (patients.length === 0) {
    throw new InputError(`--cohort ${cohortDir}: no usable labelled patients in the ${split} split`);
  }
  return patients;
}

/**
 * The cut-off sensitivity, specificity, PPV, NPV and accuracy are reported at: the one given
 * (`--threshold`, e.g. transferred from the training sites to an external one), else Youden's on
 * the cohort's validation split — never one chosen on the evaluated patients.
 */
async function fixedThreshold(
  opts: EvaluateCliOptions,
  cohort: LoadedCohort,
  model: PhccModel,
  split: EvaluateCliOptions['split'],
): Promise<{ threshold: number; source: string } | undefined> {
  if (opts.threshold !== undefined) {
    const t = Number(opts.threshold);
    if (opts.threshold.trim() === '' || !Number.isFinite(t))
      throw new InputError(`--threshold must be a number (got "${opts.threshold}")`);
    return { threshold: t, source: 'given' };
  }
  if (split === 'val' || split === 'all') return undefined;
  const val = await collectPatients(cohort, { split: 'val', labelledOnly: true });
  const labels = val.map((p) => p.label as number);
  if (!labels.includes(0) || !labels.includes(1)) return undefined;
  const threshold = chooseThreshold(labels, await predict(model, val));
  return { threshold, source: `Youden on ${val.length} validation patients` };
}

function thresholdJson(m: ThresholdMetrics): Record<string, number | null> {
  const { threshold, sensitivity, specificity, ppv, npv, accuracy, tp, fp, tn, fn } = m;
  return { value: threshold, sensitivity, specificity, ppv, npv, accuracy, tp, fp, tn, fn };
}

/** `score` is the model's balanced output; `probability` (when the training prevalence is known) the risk. */
function writePredictionsCsv(
  path: string,
  patients: PatientSample[],
  scores: Float32Array,
  prevalence: number | undefined,
): void {
  const rows = patients.map(
    (p, i) =>
      `${csvField(p.id)},${p.label},${scores[i].toPrecision(7)}` +
      (prevalence === undefined ? '' : `,${shiftPrior(scores[i], prevalence).toPrecision(7)}`),
  );
  const header = prevalence === undefined ? 'patient_id,label,score' : 'patient_id,label,score,probability';
  writeFileSync(path, [header, ...rows].join('\n') + '\n');
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { InputError, Log } from '../../../../libs/common/src';
import { loadCohort, readManifest, SiteNormalisation } from '../../../../libs/imaging/src';
import { rocSummary } from '../../../../libs/metrics/src';
import { initBackend } from '../../../../libs/model/src/backend';
import { loadModel, readModelMetadata } from '../../../../libs/model/src/io';
import { predict } from '../../../../libs/model/src/training/loops';
import { PatientSample } from '../../../../libs/model/src/training/types';
import { ALLOW_OUTSIDE_PATHS, AllowOutsidePathsOption } from './cohort-paths';
import { commandLogger, globalOptions } from '../context';
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

interface EvaluateCliOptions extends AllowOutsidePathsOption {
  model: string;
  cohort: string;
  split: 'train' | 'test' | 'all';
  out?: string;
  normalisation: 'auto' | 'cohort' | 'model';
  site?: string;
  json?: boolean;
}

/** Which intensity statistics the evaluated cohort was normalised with. */
interface NormalisationChoice {
  /** 'cohort': measured on the cohort itself (its training split, or all patients); 'model': stored with the model. */
  from: 'cohort' | 'model';
  /** The stored site's name when from = 'model'. */
  site?: string;
  stats?: SiteNormalisation;
}

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description(
      'evaluate a model on a cohort: AUC with 95 % CI (DeLong), sensitivity/specificity at the Youden cut-off, predictions CSV',
    )
    .requiredOption('--model <dir>', 'model folder written by `train` (or a federated run)')
    .requiredOption('--cohort <dir>', 'cohort folder with manifest.csv')
    .addOption(
      new Option('--split <split>', 'which patients to evaluate (labelled ones only)')
        .choices(['train', 'test', 'all'])
        .default('test'),
    )
    .option('--out <file>', 'predictions CSV (default: <model>/predictions-<cohort name>.csv)')
    .addOption(
      new Option(
        '--normalisation <from>',
        "intensity statistics: 'cohort' = the cohort's own training split (its site's scale), " +
          "'model' = stored with the model, 'auto' = cohort when it has training patients, else model",
      )
        .choices(['auto', 'cohort', 'model'])
        .default('auto'),
    )
    .option(
      '--site <name>',
      'with model statistics: which training site (default: same name as the cohort, else the first)',
    )
    .option('--json', 'end the output with one JSON line (auc, ci95, n, …)')
    .option(...ALLOW_OUTSIDE_PATHS)
    .action(async (opts: EvaluateCliOptions, cmd: Command) => {
      const log = commandLogger(cmd);
      const modelDir = checkModelDir(opts.model);
      const cohortDir = checkCohortPath(opts.cohort);
      const name = cohortName(cohortDir);
      const pre = modelPreprocessing(readModelMetadata(modelDir), modelDir);
      const choice = chooseNormalisation(opts, cohortDir, name, pre, modelDir);
      await initBackend({ backend: globalOptions(cmd).backend, log });
      const { model } = await loadModel(modelDir);
      try {
        const patients = await labelledPatients(cohortDir, opts, pre, choice, log);
        const scores = await predict(model, patients);
        const labels = patients.map((p) => p.label as number);
        const csvPath = resolve(opts.out ?? join(modelDir, `predictions-${name}.csv`));
        writePredictionsCsv(csvPath, patients, scores);
        const positives = labels.filter((y) => y === 1).length;
        const negatives = labels.length - positives;
        if (positives < 2 || negatives < 2) {
          throw new InputError(
            `--cohort ${opts.cohort}: the ${opts.split} split has ${positives} proliferative and ${negatives} ` +
              `other labelled patients; an AUC with CI needs at least 2 of each (predictions written to ${csvPath})`,
          );
        }
        const roc = rocSummary(labels, scores);
        const result = {
          cohort: name,
          split: opts.split,
          n: labels.length,
          n_pos: roc.nPos,
          n_neg: roc.nNeg,
          auc: roc.auc,
          ci95: roc.ci,
          youden: {
            threshold: roc.youden.threshold,
            sensitivity: roc.youden.sensitivity,
            specificity: roc.youden.specificity,
          },
          normalisation: choice.from === 'model' ? `model:${choice.site}` : 'cohort',
          predictions: csvPath,
        };
        const f = (x: number) => x.toFixed(4);
        process.stdout.write(
          [
            `cohort            ${name} (${opts.split} split, ${result.n} labelled: ${roc.nPos} positive, ${roc.nNeg} negative)`,
            `AUC               ${f(roc.auc)}   95 % CI ${f(roc.ci[0])} – ${f(roc.ci[1])} (DeLong)`,
            `Youden cut-off    ${Number.isFinite(roc.youden.threshold) ? f(roc.youden.threshold) : 'none (no cut-off beats chance)'}   sensitivity ${f(roc.youden.sensitivity)}   specificity ${f(roc.youden.specificity)}`,
            `normalisation     ${result.normalisation === 'cohort' ? "the cohort's own statistics" : `stored with the model (site ${choice.site})`}`,
            `predictions       ${csvPath}`,
          ].join('\n') + '\n',
        );
        if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
      } finally {
        model.dispose();
      }
    });
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
  cohortDir: string,
  { split, allowOutsidePaths }: Pick<EvaluateCliOptions, 'split' | 'allowOutsidePaths'>,
  pre: ModelPreprocessing,
  choice: NormalisationChoice,
  log: Log,
): Promise<PatientSample[]> {
  const cohort = await loadCohort(cohortDir, {
    ...cropOptions(pre),
    normalisation: choice.stats,
    allowPathsOutside: allowOutsidePaths,
    log,
  });
  const patients = await collectPatients(cohort, {
    split: split === 'all' ? undefined : split,
    labelledOnly: true,
  });
  if (patients.length === 0) {
    throw new InputError(`--cohort ${cohortDir}: no usable labelled patients in the ${split} split`);
  }
  return patients;
}

function writePredictionsCsv(path: string, patients: PatientSample[], scores: Float32Array): void {
  const rows = patients.map((p, i) => `${csvField(p.id)},${p.label},${scores[i].toPrecision(7)}`);
  writeFileSync(path, ['patient_id,label,score', ...rows].join('\n') + '\n');
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

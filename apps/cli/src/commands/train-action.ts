import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { InputError, Log, PhccError } from '../../../../libs/common/src';
import { loadCohort } from '../../../../libs/imaging/src';
import { initBackend } from '../../../../libs/compute/src';
import {
  loadWeightsInto,
  readModelMetadata,
  saveModel,
  TRAINING_PREVALENCE,
} from '../../../../libs/model/src/io';
import {
  describePhases,
  ModelConfig,
  modelConfig,
  parsePhaseSpec,
} from '../../../../libs/model/src/network/config';
import { PhccModel } from '../../../../libs/model/src/network/model';
import { isFinetunePatient, trainFinetune, trainSsl } from '../../../../libs/model/src/training/loops';
import { keepLabelFraction } from '../../../../libs/model/src/training/label-subset';
import { recommendedReplicas, ShardedStepper } from '../../../../libs/model/src/training/parallel';
import { PatientSample, TrainHistory } from '../../../../libs/model/src/training/types';
import { backendOptions } from '../context';
import { trainProgressView } from '../progress';
import {
  buildPreprocessing,
  checkCohortPath,
  checkCohortPhases,
  cohortName,
  collectPatients,
  ModelPreprocessing,
  SitePreprocessing,
  TINY_MODEL,
} from './model-inputs';
import type { TrainCliOptions, TrainPlan } from './train';

/** What one stage did, as printed and in `--json`. */
interface StageSummary {
  stage: 'ssl' | 'finetune';
  modelDir: string;
  epochs: number;
  finalLoss: number | null;
  epochLosses: number[];
  images: number;
  seconds: number;
  imagesPerSec: number;
}

/** `phcc-fed train` once its options are checked (train.ts): loads the cohorts, trains, saves, prints. */
export async function runTraining(
  opts: TrainCliOptions,
  plan: TrainPlan,
  cmd: Command,
  log: Log,
): Promise<void> {
  const cohortDirs = opts.cohort.map((c) => checkCohortPath(c));
  const names = cohortDirs.map(cohortName);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) {
    throw new InputError(`--cohort: two cohorts are both named "${duplicate}" (site names must differ)`);
  }
  const phases: Partial<ModelConfig> = opts.phases === undefined ? {} : parsePhaseSpec(opts.phases);
  const config = plan.from
    ? readModelMetadata(plan.from).config
    : modelConfig({ ...(opts.tiny ? TINY_MODEL : {}), ...phases });
  if (plan.from && opts.tiny) log.warn('--tiny ignored: the model config comes from --from');
  if (plan.from && phases.phases !== undefined && phases.phases !== config.phases) {
    throw new InputError(`--phases: the model in --from takes ${describePhases(config)}`);
  }
  const backend = await initBackend(backendOptions(cmd, log));

  const { patients, sites } = await loadTrainingPatients(
    cohortDirs,
    names,
    config,
    log,
    plan.labelledFraction,
    opts.allowOutsidePaths,
  );
  const preprocessing = buildPreprocessing(config, sites);
  const out = resolve(opts.out);
  const summaries: StageSummary[] = [];

  // Data-parallel replicas (worker threads) live for both stages: one start-up, same config.
  const replicas = plan.workers === 'auto' ? recommendedReplicas(backend.name) : plan.workers;
  const stepper =
    replicas > 1 ? await ShardedStepper.start({ replicas, config, log, balance: plan.balance }) : undefined;
  plan.sslOptions.executor = stepper;
  plan.finetuneOptions.executor = stepper;

  // Ctrl-C stops between steps; the stage in progress is not saved (it would look finished).
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  plan.signal = interrupt.signal;
  try {
    let sslDir = plan.from;
    if (plan.ssl) {
      sslDir = opts.stage === 'both' ? join(out, 'ssl') : out;
      summaries.push(await runSsl(config, plan, patients, sslDir, preprocessing, log));
    }
    if (plan.finetune) {
      summaries.push(await runFinetune(config, plan, patients, sslDir, out, preprocessing, log));
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    await stepper?.close();
  }
  printSummary(summaries, patients.length, sites);
  if (opts.json) {
    process.stdout.write(
      JSON.stringify({
        model: summaries[summaries.length - 1].modelDir,
        sites: names,
        trainPatients: patients.length,
        labelledPatients: patients.filter((p) => p.label !== null).length,
        seed: plan.seed,
        workers: replicas,
        // Intra-op threads of this process's backend (--wasm-threads; 1 unless asked and started).
        threads: backend.threads,
        stages: summaries,
      }) + '\n',
    );
  }
}

/** Training-split patients of every site, each site normalised with its own statistics. */
async function loadTrainingPatients(
  dirs: string[],
  names: string[],
  config: ModelConfig,
  log: Log,
  labelledFraction?: number,
  allowPathsOutside?: boolean,
): Promise<{ patients: PatientSample[]; sites: SitePreprocessing[] }> {
  const patients: PatientSample[] = [];
  const sites: SitePreprocessing[] = [];
  for (let i = 0; i < dirs.length; i++) {
    const cohort = await loadCohort(dirs[i], {
      size: config.imageSize,
      slices: config.intensityChannels,
      phases: config.phases,
      nominalPhaseTimes: config.phaseTimes,
      allowPathsOutside,
      log,
    });
    checkCohortPhases(cohort.report, config, `--cohort ${dirs[i]}`);
    let train = await collectPatients(cohort, { split: 'train' }, dirs.length > 1 ? `${names[i]}/` : '');
    if (train.length === 0) throw new InputError(`--cohort ${dirs[i]}: no usable training-split patients`);
    log.info({ site: names[i], train: train.length }, `${names[i]}: ${train.length} training patients`);
    if (labelledFraction !== undefined && labelledFraction < 1) {
      const subset = keepLabelFraction(train, labelledFraction);
      train = subset.samples;
      const { labelledBefore, labelledAfter, strata } = subset.report;
      log.info(
        { site: names[i], strata },
        `${names[i]}: ${labelledAfter} of ${labelledBefore} labels kept (--labelled-fraction ${labelledFraction})`,
      );
    }
    patients.push(...train);
    sites.push({ name: names[i], normalisation: cohort.normalisation });
  }
  return { patients, sites };
}

async function runSsl(
  config: ModelConfig,
  plan: TrainPlan,
  patients: PatientSample[],
  dir: string,
  preprocessing: ModelPreprocessing,
  log: Log,
): Promise<StageSummary> {
  const model = new PhccModel(config, plan.seed);
  try {
    const history = await withProgress(log, plan.signal, (onProgress) =>
      trainSsl(model, patients, { ...plan.sslOptions, signal: plan.signal }, onProgress),
    );
    await saveModel(model, dir, {
      stage: 'ssl',
      preprocessing: { ...preprocessing },
      extra: { seed: plan.seed, epochs: history.epochLosses.length },
    });
    return stageSummary(history, dir);
  } finally {
    model.dispose();
  }
}

async function runFinetune(
  config: ModelConfig,
  plan: TrainPlan,
  patients: PatientSample[],
  sslDir: string | undefined,
  dir: string,
  preprocessing: ModelPreprocessing,
  log: Log,
): Promise<StageSummary> {
  const model = new PhccModel(config, plan.seed);
  try {
    if (sslDir) await loadWeightsInto(model, sslDir, { parts: ['encoder'] });
    const history = await withProgress(log, plan.signal, (onProgress) =>
      trainFinetune(model, patients, { ...plan.finetuneOptions, signal: plan.signal }, onProgress),
    );
    await saveModel(model, dir, {
      stage: 'finetune',
      preprocessing: { ...preprocessing },
      extra: {
        seed: plan.seed,
        epochs: history.epochLosses.length,
        sslEncoder: sslDir ?? null,
        [TRAINING_PREVALENCE]: prevalenceOf(patients),
      },
    });
    return stageSummary(history, dir);
  } finally {
    model.dispose();
  }
}

/** Share of positives among the labelled patients fine-tuning trained on (recalibrates outputs later). */
function prevalenceOf(patients: readonly PatientSample[]): number {
  const labelled = patients.filter(isFinetunePatient);
  return labelled.filter((p) => p.label === 1).length / labelled.length;
}

async function withProgress(
  log: Log,
  signal: AbortSignal | undefined,
  run: (onProgress: Parameters<typeof trainSsl>[3]) => Promise<TrainHistory>,
): Promise<TrainHistory> {
  const view = trainProgressView({ log });
  let history: TrainHistory;
  try {
    history = await run((p) => view.update(p));
  } catch (err) {
    // A diverging run is a setting problem the user can fix, not a crash.
    if (err instanceof Error && /loss became/.test(err.message)) {
      throw new PhccError(`${err.message}; try a lower --lr`, 'TRAINING_DIVERGED', 1);
    }
    throw err;
  } finally {
    view.stop();
  }
  if (signal?.aborted) {
    throw new PhccError(
      `${history.stage} interrupted after ${history.steps} steps; this stage was not saved`,
      'INTERRUPTED',
      130,
    );
  }
  return history;
}

function stageSummary(history: TrainHistory, modelDir: string): StageSummary {
  const losses = history.epochLosses;
  return {
    stage: history.stage,
    modelDir,
    epochs: losses.length,
    finalLoss: losses.length ? losses[losses.length - 1] : null,
    epochLosses: losses,
    images: history.images,
    seconds: Number(history.seconds.toFixed(2)),
    imagesPerSec: history.seconds > 0 ? Number((history.images / history.seconds).toFixed(1)) : 0,
  };
}

function printSummary(stages: StageSummary[], trainPatients: number, sites: SitePreprocessing[]): void {
  const lines = [`trained on ${trainPatients} training patients from ${sites.map((s) => s.name).join(', ')}`];
  for (const s of stages) {
    const name = s.stage === 'ssl' ? 'SSL' : 'fine-tune';
    lines.push(
      `${name.padEnd(10)} ${s.epochs} epochs  final loss ${s.finalLoss === null ? '–' : s.finalLoss.toFixed(4)}  ` +
        `${s.seconds.toFixed(1)} s  ${s.imagesPerSec} img/s  → ${s.modelDir}`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { InputError, Log, PhccError } from '../../../../libs/common/src';
import { loadCohort } from '../../../../libs/imaging/src';
import { initBackend, ShardBalance } from '../../../../libs/compute/src';
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
import {
  DEFAULT_FINETUNE_OPTIONS,
  DEFAULT_SSL_OPTIONS,
  isFinetunePatient,
  FinetuneTrainOptions,
  SslTrainOptions,
  trainFinetune,
  trainSsl,
} from '../../../../libs/model/src/training/loops';
import { keepLabelFraction } from '../../../../libs/model/src/training/label-subset';
import { recommendedReplicas, ShardedStepper } from '../../../../libs/model/src/training/parallel';
import { PatientSample, TrainHistory } from '../../../../libs/model/src/training/types';
import { commandLogger, globalOptions } from '../context';
import { ALLOW_OUTSIDE_PATHS, AllowOutsidePathsOption } from './cohort-paths';
import { trainProgressView } from '../progress';
import {
  buildPreprocessing,
  checkCohortPath,
  checkCohortPhases,
  checkModelDir,
  cohortName,
  collectPatients,
  ModelPreprocessing,
  parseFraction,
  parseInteger,
  parsePositive,
  SitePreprocessing,
  TINY_MODEL,
} from './model-inputs';

interface TrainCliOptions extends AllowOutsidePathsOption {
  cohort: string[];
  stage: 'ssl' | 'finetune' | 'both';
  out: string;
  ssl: boolean;
  from?: string;
  epochs?: string;
  sslEpochs?: string;
  finetuneEpochs?: string;
  batchSize?: string;
  sslBatchSize?: string;
  finetuneBatchSize?: string;
  lr?: string;
  sslLr?: string;
  finetuneLr?: string;
  freezeEncoderEpochs?: string;
  encoderLrScale?: string;
  seed: string;
  workers: string;
  balance: string;
  labelledFraction?: string;
  tiny?: boolean;
  phases?: string;
  json?: boolean;
}

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

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train the pHCC-SSL model locally (SSL, fine-tune or both)')
    .requiredOption(
      '--cohort <dirs...>',
      "site cohort folder(s) with manifest.csv (one per site; each is normalised with its own training split's statistics)",
    )
    .addOption(
      new Option('--stage <stage>', 'what to train').choices(['ssl', 'finetune', 'both']).default('both'),
    )
    .requiredOption(
      '--out <dir>',
      'model folder to write (with --stage both the SSL checkpoint goes to <dir>/ssl)',
    )
    .option('--no-ssl', 'fine-tune from random weights (the no-SSL ablation)')
    .option('--from <dir>', 'SSL model whose encoder --stage finetune starts from')
    .option('--epochs <n>', 'epochs of every stage trained')
    .option('--ssl-epochs <n>', `SSL epochs (default ${DEFAULT_SSL_OPTIONS.epochs})`)
    .option('--finetune-epochs <n>', `fine-tune epochs (default ${DEFAULT_FINETUNE_OPTIONS.epochs})`)
    .option('--batch-size <n>', 'batch size of every stage trained')
    .option('--ssl-batch-size <n>', `SSL phase images per step (default ${DEFAULT_SSL_OPTIONS.batchSize})`)
    .option(
      '--finetune-batch-size <n>',
      `fine-tune patients per step (default ${DEFAULT_FINETUNE_OPTIONS.batchSize})`,
    )
    .option('--lr <x>', 'peak learning rate of every stage trained')
    .option('--ssl-lr <x>', `SSL peak learning rate (default ${DEFAULT_SSL_OPTIONS.lr})`)
    .option('--finetune-lr <x>', `fine-tune peak learning rate (default ${DEFAULT_FINETUNE_OPTIONS.lr})`)
    .option(
      '--freeze-encoder-epochs <n>',
      `fine-tune: first epochs that train the head only (default ${DEFAULT_FINETUNE_OPTIONS.freezeEncoderEpochs})`,
    )
    .option(
      '--encoder-lr-scale <x>',
      `fine-tune: encoder LR as a fraction of the head's (default ${DEFAULT_FINETUNE_OPTIONS.encoderLrScale})`,
    )
    .option('--seed <n>', 'seed of initial weights, shuffling, masks and augmentation', '0')
    .option(
      '--workers <n>',
      'compute replicas per step: 1 = this thread only; N = this thread + N−1 worker threads (wasm uses one core each); auto = one per core',
      '1',
    )
    .option(
      '--balance <how>',
      'how --workers splits each batch: speed (by measured replica speed; fastest, repeatable up to float rounding) or equal (bit-repeatable for a --seed)',
      'speed',
    )
    .option(
      '--labelled-fraction <f>',
      "fine-tune on this share of each site's labels (stratified by class; the rest count as unlabelled, still used by SSL)",
    )
    .option('--tiny', 'a tiny model (32×32 crops) for smoke runs; not for real use')
    .option(
      '--phases <spec>',
      'DCE phases the model takes: a count (4 = pre, arterial, portal_venous, delayed; 6 = the gadoxetate default), ' +
        'gadoxetate-6, extracellular-4, or comma-separated names (name:seconds for nominal times); saved with the model',
    )
    .option('--json', 'end the output with one JSON line')
    .option(...ALLOW_OUTSIDE_PATHS)
    .action(async (opts: TrainCliOptions, cmd: Command) => {
      const log = commandLogger(cmd);
      const plan = planTraining(opts);
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
      const backend = await initBackend({ backend: globalOptions(cmd).backend, log });

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
        replicas > 1
          ? await ShardedStepper.start({ replicas, config, log, balance: plan.balance })
          : undefined;
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
            stages: summaries,
          }) + '\n',
        );
      }
    });
}

interface TrainPlan {
  ssl: boolean;
  finetune: boolean;
  from?: string;
  seed: number;
  /** Compute replicas per step (`--workers`); 'auto' is resolved once the backend is known. */
  workers: number | 'auto';
  /** How replicas split a batch (`--balance`). */
  balance: ShardBalance;
  /** Share of each site's training labels kept for fine-tuning (label-efficiency studies). */
  labelledFraction?: number;
  /** Set while training runs: aborted by Ctrl-C. */
  signal?: AbortSignal;
  sslOptions: Partial<SslTrainOptions>;
  finetuneOptions: Partial<FinetuneTrainOptions>;
}

/** Checks the option combination before any image is read. */
function planTraining(opts: TrainCliOptions): TrainPlan {
  if (opts.stage === 'ssl' && !opts.ssl) throw new InputError('--no-ssl contradicts --stage ssl');
  if (opts.from && opts.stage !== 'finetune') {
    throw new InputError('--from is for --stage finetune (with --stage both the SSL model is trained here)');
  }
  if (opts.stage === 'finetune' && opts.ssl && !opts.from) {
    throw new InputError(
      '--stage finetune needs --from <ssl model dir>, or --no-ssl to start from random weights',
    );
  }
  if (opts.from && !opts.ssl) throw new InputError('--from contradicts --no-ssl');
  const seed = parseInteger(opts.seed, '--seed');
  const pick = (specific: string | undefined, both: string | undefined) => specific ?? both;
  const epochs = (v: string | undefined, name: string) =>
    v === undefined ? {} : { epochs: parseInteger(v, name, 1) };
  const batch = (v: string | undefined, name: string) =>
    v === undefined ? {} : { batchSize: parseInteger(v, name, 1) };
  const lr = (v: string | undefined, name: string) => (v === undefined ? {} : { lr: parsePositive(v, name) });
  return {
    ssl: opts.ssl && opts.stage !== 'finetune',
    finetune: opts.stage !== 'ssl',
    from: opts.from ? checkModelDir(opts.from) : undefined,
    seed,
    workers: parseWorkers(opts.workers),
    balance: parseBalance(opts.balance),
    labelledFraction:
      opts.labelledFraction === undefined
        ? undefined
        : parseFraction(opts.labelledFraction, '--labelled-fraction'),
    sslOptions: {
      seed,
      ...epochs(pick(opts.sslEpochs, opts.epochs), '--ssl-epochs'),
      ...batch(pick(opts.sslBatchSize, opts.batchSize), '--ssl-batch-size'),
      ...lr(pick(opts.sslLr, opts.lr), '--ssl-lr'),
    },
    finetuneOptions: {
      seed,
      ...epochs(pick(opts.finetuneEpochs, opts.epochs), '--finetune-epochs'),
      ...batch(pick(opts.finetuneBatchSize, opts.batchSize), '--finetune-batch-size'),
      ...lr(pick(opts.finetuneLr, opts.lr), '--finetune-lr'),
      ...(opts.freezeEncoderEpochs === undefined
        ? {}
        : { freezeEncoderEpochs: parseInteger(opts.freezeEncoderEpochs, '--freeze-encoder-epochs') }),
      ...(opts.encoderLrScale === undefined
        ? {}
        : { encoderLrScale: parsePositive(opts.encoderLrScale, '--encoder-lr-scale') }),
    },
  };
}

/** `--balance`: speed or equal. */
function parseBalance(value: string): ShardBalance {
  if (value === 'speed' || value === 'equal') return value;
  throw new InputError(`--balance must be speed or equal (got "${value}")`);
}

/** `--workers`: a replica count, or `auto` (one per core, resolved once the backend is known). */
function parseWorkers(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new InputError(`--workers must be a positive integer or auto (got "${value}")`);
  }
  return n;
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

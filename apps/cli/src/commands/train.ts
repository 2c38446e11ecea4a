import { Command, Option } from 'commander';
import { InputError } from '../../../../libs/common/src';
import type { ShardBalance } from '../../../../libs/compute/src';
import { DEFAULT_FINETUNE_OPTIONS, DEFAULT_SSL_OPTIONS } from '../../../../libs/model/src/training/defaults';
import type { FinetuneTrainOptions, SslTrainOptions } from '../../../../libs/model/src/training/loops';
import { commandLogger } from '../context';
import { ALLOW_OUTSIDE_PATHS, AllowOutsidePathsOption } from './cohort-paths';
import { checkModelDir, parseFraction, parseInteger, parsePositive } from './model-inputs';

export interface TrainCliOptions extends AllowOutsidePathsOption {
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

/**
 * `phcc-fed train`: its options and their checks. The training itself (train-action.ts) loads
 * TensorFlow.js, so it is imported only when the command runs: every other command, and
 * `phcc-fed coordinator` above all, starts without it.
 */
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
      const { runTraining } = await import('./train-action');
      await runTraining(opts, plan, cmd, log);
    });
}

export interface TrainPlan {
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

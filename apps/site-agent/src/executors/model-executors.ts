import { InputError, Log } from '../../../../libs/common/src';
import { STAGE_PARTS, VAL_THRESHOLD_METRIC } from '../../../../libs/federated/src';
import {
  chooseThreshold,
  delongPairedCovariance,
  metricsAtThreshold,
  PairedAucCovariance,
  rocSummary,
  scoreHistogram,
} from '../../../../libs/metrics/src';
import { NamedArray } from '../../../../libs/weights/src';
import { ModelConfig, ModelPart, PhccModel } from '../../../../libs/model/src/network';
import {
  createOptimizer,
  DEFAULT_FINETUNE_OPTIONS,
  DEFAULT_SSL_OPTIONS,
  initTokenCenter,
  isFinetunePatient,
  isSslPatient,
  Optimizer,
  PatientSample,
  predict,
  trainFinetune,
  trainSsl,
  TrainHistory,
  TrainProgress,
} from '../../../../libs/model/src/training';
import { LocalOnlySslDto, Stage, TaskBody } from '../../../../libs/protocol/src';
import { ExecutionContext, TaskExecutor, TaskResult } from '../executor';
import { MemoryOptimiserStates, OptimiserStates } from './optimiser-state';
import { ProximalPull } from './proximal-pull';
import { RecordPrivacyLedger, SiteDpSgd } from './record-privacy';

/**
 * Pooled AUC is computed from these histograms, so coarse bins tie close scores and drag it
 * toward 0.5: 1000 bins bound the binning error as libs/metrics states it.
 */
export const DEFAULT_HISTOGRAM_BINS = 1000;

/** The site's preprocessed patients, loaded once and shared by the executors. */
export type SiteData = () => Promise<readonly PatientSample[]>;

export interface ModelExecutorOptions {
  /** Shape of the federation's model; must produce exactly the global weights' layout. */
  modelConfig: ModelConfig;
  data: SiteData;
  log?: Log;
  /** Equal-width score bins of the evaluation histograms; default 1000 (libs/metrics' default). */
  histogramBins?: number;
  /**
   * Where optimiser moments are kept between a run's rounds when a task asks for it
   * (`keepOptimiserState`): the agent passes `FileOptimiserStates` in its state directory so they
   * survive a restart; default: in memory, shared by the executors of this set.
   */
  optimiserStates?: OptimiserStates;
  /** The site's record-level DP-SGD for fine-tune tasks (record-privacy.ts); absent = plain steps. */
  dpSgd?: SiteDpSgd;
}

/** The sub-networks a stage needs from the global weights. */
const NEEDED_PARTS: Record<Stage, readonly ModelPart[]> = {
  ssl: STAGE_PARTS.ssl,
  finetune: STAGE_PARTS.finetune,
  evaluate: ['encoder', 'head'],
};

/**
 * A fresh model holding the global weights of the stage's parts. Its seed only fills parts the
 * stage does not use; a global that lacks or misshapes a needed tensor is refused here. `as`: the
 * stage and mask ratio to load for when they are not the task's (a local-only task's SSL part).
 */
function modelFromGlobal(
  options: ModelExecutorOptions,
  task: TaskBody,
  global: readonly NamedArray[],
  as: { stage: Stage; maskRatio?: number } = { stage: task.stage, maskRatio: task.config.maskRatio },
): PhccModel {
  const maskRatio = as.maskRatio ?? options.modelConfig.maskRatio;
  const model = new PhccModel({ ...options.modelConfig, maskRatio }, task.config.seed);
  try {
    model.params.setWeights(global, { parts: NEEDED_PARTS[as.stage], strict: true });
  } catch (err) {
    model.params.dispose();
    throw err;
  }
  return model;
}

/** Per-step hook: progress for the agent, and FedProx's pull toward the global weights. */
function afterEachStep(ctx: ExecutionContext, proximal: ProximalPull): (p: TrainProgress) => void {
  return (p) => {
    proximal.apply(p.lr);
    ctx.progress(p.globalStep / p.totalSteps, `epoch ${p.epoch}/${p.epochs} loss ${p.epochLoss.toFixed(4)}`);
  };
}

/** What differs between the two training stages; everything else is `trainLocally`. */
interface LocalTraining {
  stage: 'ssl' | 'finetune';
  /** The stage's loop (trainSsl / trainFinetune) with its extra options. */
  train: (
    model: PhccModel,
    patients: readonly PatientSample[],
    common: CommonTrainOptions,
    onProgress: (p: TrainProgress) => void,
  ) => Promise<TrainHistory>;
  /** Patients the stage trains on: the update's sample count, FedAvg's weight. */
  counts: (p: PatientSample) => boolean;
  /** Metrics of the trained model beside its loss (fine-tune: the validation cut-off). */
  trainedMetrics?: (
    model: PhccModel,
    patients: readonly PatientSample[],
    task: TaskBody,
  ) => Promise<Record<string, number>>;
  /** Record-level privacy spent by a released task, as metrics (fine-tune under DP-SGD). */
  privacySpent?: (task: TaskBody, history: TrainHistory) => Record<string, number>;
}

type CommonTrainOptions = {
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  warmupEpochs: number;
  weightDecay: number;
  schedule?: { startEpoch: number; totalEpochs: number };
  optimizer: Optimizer;
  signal: AbortSignal;
};

/**
 * The task's place in its stage's one LR schedule. Absent fields keep the old behaviour (a
 * schedule over this task's epochs, without warm-up), so older coordinators still work.
 */
function scheduleOf(task: TaskBody): CommonTrainOptions['schedule'] {
  const { scheduleStartEpoch, scheduleTotalEpochs, localEpochs } = task.config;
  if (scheduleStartEpoch === undefined && scheduleTotalEpochs === undefined) return undefined;
  if (scheduleStartEpoch === undefined || scheduleTotalEpochs === undefined)
    throw new InputError(`task ${task.taskId}: scheduleStartEpoch and scheduleTotalEpochs come together`);
  if (scheduleStartEpoch + localEpochs > scheduleTotalEpochs)
    throw new InputError(
      `task ${task.taskId}: epochs ${scheduleStartEpoch + 1}–${scheduleStartEpoch + localEpochs} exceed the stage's ${scheduleTotalEpochs}`,
    );
  return { startEpoch: scheduleStartEpoch, totalEpochs: scheduleTotalEpochs };
}

/** Loads the global weights, trains locally (with FedProx's pull when μ > 0), returns the result. */
async function trainLocally(
  options: ModelExecutorOptions,
  states: OptimiserStates,
  spec: LocalTraining,
  task: TaskBody,
  global: NamedArray[],
  ctx: ExecutionContext,
): Promise<TaskResult> {
  const patients = await options.data();
  const model = modelFromGlobal(options, task, global);
  const proximal = new ProximalPull(model, STAGE_PARTS[spec.stage], task.config.proximalMu ?? 0);
  const defaults = spec.stage === 'ssl' ? DEFAULT_SSL_OPTIONS : DEFAULT_FINETUNE_OPTIONS;
  const weightDecay = task.config.weightDecay ?? defaults.weightDecay;
  const optimizer = createOptimizer(task.config.optimiser ?? 'adam', model.params, {
    weightDecay,
    clipNorm: defaults.clipNorm,
  });
  try {
    const keep = task.config.keepOptimiserState === true;
    const saved = keep ? states.load(task.runId, spec.stage, task.round) : undefined;
    if (saved) optimizer.importState(saved);
    const common: CommonTrainOptions = {
      epochs: task.config.localEpochs,
      lr: task.config.learningRate,
      batchSize: task.config.batchSize,
      seed: task.config.seed,
      warmupEpochs: task.config.warmupEpochs ?? 0,
      weightDecay,
      schedule: scheduleOf(task),
      optimizer,
      signal: ctx.signal,
    };
    const history = await spec.train(model, patients, common, afterEachStep(ctx, proximal));
    // An aborted round sends nothing, so its half-trained moments are not kept either.
    if (keep && !ctx.signal.aborted) states.save(task.runId, spec.stage, task.round, optimizer.exportState());
    const trained =
      spec.trainedMetrics && !ctx.signal.aborted ? await spec.trainedMetrics(model, patients, task) : {};
    // Spent only when the update is released: an aborted task sends nothing.
    const privacy = spec.privacySpent && !ctx.signal.aborted ? spec.privacySpent(task, history) : {};
    options.log?.info(
      {
        stage: task.stage,
        taskId: task.taskId,
        steps: history.steps,
        seconds: history.seconds,
        optimiser: optimizer.kind,
        resumedFromSteps: saved?.steps ?? 0,
      },
      'local training done',
    );
    return {
      kind: 'train',
      weights: model.params.getWeights(),
      nSamples: patients.filter(spec.counts).length,
      metrics: { loss: history.epochLosses.at(-1) ?? 0, ...trained, ...privacy },
    };
  } finally {
    optimizer.dispose();
    proximal.dispose();
    model.params.dispose();
  }
}

/**
 * The federated token centre's site half (`tokenCentring` tasks): the mean pooled feature of the
 * site's fine-tune patients under the global encoder, set as `head/token_center` and returned with
 * `nSamples` = their count. Averaged by sample count (libs/federated `combineTokenCentre`) it is
 * the mean over every site's patients — what `train` computes centrally.
 */
async function estimateTokenCentre(
  options: ModelExecutorOptions,
  task: TaskBody,
  global: NamedArray[],
  ctx: ExecutionContext,
): Promise<TaskResult> {
  const patients = await options.data();
  const indices = patients.flatMap((p, i) => (isFinetunePatient(p) ? [i] : []));
  if (indices.length === 0) throw new InputError('token centre: the site has no labelled training patients');
  const model = modelFromGlobal(options, task, global);
  try {
    ctx.progress(0, `pooled features of ${indices.length} patients`);
    await initTokenCenter(model, patients, indices);
    ctx.progress(1);
    return {
      kind: 'train',
      weights: model.params.getWeights(),
      nSamples: indices.length,
      metrics: { token_centre_patients: indices.length },
    };
  } finally {
    model.params.dispose();
  }
}

/** The task's progress over [from, to] of the whole (a task that runs two stages reports both). */
function progressSlice(ctx: ExecutionContext, from: number, to: number): ExecutionContext {
  return { signal: ctx.signal, progress: (f, message) => ctx.progress(from + (to - from) * f, message) };
}

/**
 * A local-only task's SSL part (`localOnlySsl`, protocol 1.4): the sent model's encoder and
 * decoder pre-trained by FCMAE on this site's own images with the plan's SSL recipe over its whole
 * budget — what `train --stage ssl` does at one site: one warm-up + cosine schedule, a fresh
 * optimiser, the task's seed (`train --stage both` seeds both stages alike). Returns the sent
 * model with its encoder replaced, for the fine-tune part, and the last epoch's loss.
 */
async function pretrainLocally(
  options: ModelExecutorOptions,
  task: TaskBody,
  ssl: LocalOnlySslDto,
  global: readonly NamedArray[],
  ctx: ExecutionContext,
): Promise<{ pretrained: NamedArray[]; loss: number }> {
  const patients = await options.data();
  const model = modelFromGlobal(options, task, global, { stage: 'ssl', maskRatio: ssl.maskRatio });
  const optimizer = createOptimizer(ssl.optimiser, model.params, {
    weightDecay: ssl.weightDecay,
    clipNorm: DEFAULT_SSL_OPTIONS.clipNorm,
  });
  try {
    const history = await trainSsl(
      model,
      patients,
      {
        epochs: ssl.epochs,
        lr: ssl.learningRate,
        batchSize: ssl.batchSize,
        seed: task.config.seed,
        warmupEpochs: ssl.warmupEpochs,
        weightDecay: ssl.weightDecay,
        optimizer,
        signal: ctx.signal,
      },
      (p) =>
        ctx.progress(
          p.globalStep / p.totalSteps,
          `local SSL epoch ${p.epoch}/${p.epochs} loss ${p.epochLoss.toFixed(4)}`,
        ),
    );
    options.log?.info(
      { taskId: task.taskId, steps: history.steps, seconds: history.seconds, optimiser: optimizer.kind },
      'local-only model: SSL on our own images done',
    );
    const encoder = new Map(model.params.getWeights({ parts: ['encoder'] }).map((t) => [t.name, t]));
    return {
      pretrained: global.map((t) => encoder.get(t.name) ?? t),
      loss: history.epochLosses.at(-1) ?? 0,
    };
  } finally {
    optimizer.dispose();
    model.params.dispose();
  }
}

/** Stage 1: FCMAE self-supervision on every patient outside the test and validation splits (labels unused). */
export class SslExecutor implements TaskExecutor {
  readonly stage = 'ssl' as const;
  private readonly states: OptimiserStates;
  constructor(private readonly options: ModelExecutorOptions) {
    this.states = options.optimiserStates ?? new MemoryOptimiserStates();
  }

  execute(task: TaskBody, global: NamedArray[], ctx: ExecutionContext): Promise<TaskResult> {
    return trainLocally(
      this.options,
      this.states,
      {
        stage: 'ssl',
        train: (m, p, common, onProgress) => trainSsl(m, p, common, onProgress),
        counts: isSslPatient,
      },
      task,
      global,
      ctx,
    );
  }
}

/** Stage 2: supervised fine-tuning on the labelled patients outside the test and validation splits. */
export class FinetuneExecutor implements TaskExecutor {
  readonly stage = 'finetune' as const;
  private readonly states: OptimiserStates;
  private readonly ledger?: RecordPrivacyLedger;
  constructor(private readonly options: ModelExecutorOptions) {
    this.states = options.optimiserStates ?? new MemoryOptimiserStates();
    if (options.dpSgd) this.ledger = new RecordPrivacyLedger(options.dpSgd);
  }

  /** The record-level (ε, δ) of a released DP-SGD task: to the site's log and the update's metrics. */
  private privacySpent(task: TaskBody, history: TrainHistory): Record<string, number> {
    if (!this.ledger || !history.dpSgd) return {};
    const spent = this.ledger.spend(task.runId, history.dpSgd, history.steps);
    this.options.log?.info(
      { taskId: task.taskId, round: task.round, ...history.dpSgd, ...spent },
      "record-level DP-SGD: privacy spent on this site's patients",
    );
    const metrics = {
      dp_sgd_epsilon: spent.runEpsilon,
      dp_sgd_round_epsilon: spent.roundEpsilon,
      dp_sgd_delta: spent.delta,
      dp_sgd_noise_multiplier: history.dpSgd.noiseMultiplier,
      dp_sgd_clip: history.dpSgd.clip,
      dp_sgd_sample_rate: spent.sampleRate,
      dp_sgd_clipped_share: history.dpSgd.clippedShare,
    };
    // Metrics are finite numbers on the wire: σ = 0 (clip only) has ε = ∞, which the log says and
    // the update leaves out rather than sending a made-up bound.
    return Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v)));
  }

  async execute(task: TaskBody, global: NamedArray[], ctx: ExecutionContext): Promise<TaskResult> {
    if (task.config.tokenCentring) return estimateTokenCentre(this.options, task, global, ctx);
    const ssl = task.config.localOnlySsl;
    if (!ssl) return this.finetune(task, global, ctx);
    if (task.config.localOnly !== true)
      throw new InputError(
        `task ${task.taskId}: localOnlySsl comes only with localOnly (a local-only model's own SSL)`,
      );
    // The local-only model as `train --stage both` makes it here: SSL on our own images first,
    // then the fine-tune budget from that encoder (the head is the sent model's, as without SSL).
    // Progress is split by epochs, the nearest measure of each part's share of the time.
    const share = ssl.epochs / (ssl.epochs + task.config.localEpochs);
    const { pretrained, loss } = await pretrainLocally(
      this.options,
      task,
      ssl,
      global,
      progressSlice(ctx, 0, share),
    );
    const result = await this.finetune(task, pretrained, progressSlice(ctx, share, 1));
    return result.kind === 'train' ? { ...result, metrics: { ...result.metrics, ssl_loss: loss } } : result;
  }

  private finetune(task: TaskBody, global: NamedArray[], ctx: ExecutionContext): Promise<TaskResult> {
    return trainLocally(
      this.options,
      this.states,
      {
        stage: 'finetune',
        // The coordinator spreads the plan's head-only warm-up over rounds and says how much of it
        // falls in this task; no warm-up of the site's own (it would restart every round).
        train: (m, p, common, onProgress) =>
          trainFinetune(
            m,
            p,
            {
              ...common,
              freezeEncoderEpochs: task.config.freezeEncoderEpochs ?? 0,
              // The token centre is a global weight here; re-estimating it locally each round
              // would reset it to this site's mean. A local-only model has no federated centre:
              // its one task centres on the site's own patients, as `train` does.
              centerTokens: task.config.localOnly === true,
              ...(this.options.dpSgd && {
                dpSgd: {
                  clip: this.options.dpSgd.clip,
                  noiseMultiplier: this.options.dpSgd.noiseMultiplier,
                  noise: this.options.dpSgd.noise,
                },
              }),
            },
            onProgress,
          ),
        counts: isFinetunePatient,
        trainedMetrics: validationCutOff,
        privacySpent: (t, history) => this.privacySpent(t, history),
      },
      task,
      global,
      ctx,
    );
  }
}

/**
 * Evaluates the global model on the site's labelled test split. Only aggregates leave: class
 * counts, the AUC and per-class score histograms — never a patient's score.
 */
export class EvaluateExecutor implements TaskExecutor {
  readonly stage = 'evaluate' as const;
  constructor(private readonly options: ModelExecutorOptions) {}

  async execute(
    task: TaskBody,
    global: NamedArray[],
    ctx: ExecutionContext,
    compared: readonly NamedArray[][] = [],
  ): Promise<TaskResult> {
    const compareWith = task.config.compareWith ?? [];
    if (compared.length !== compareWith.length)
      throw new InputError(
        `evaluate: the task compares with ${compareWith.length} model(s), ${compared.length} were attached`,
      );
    const patients = await this.options.data();
    const labelled = (split: string) =>
      patients.filter((p) => p.split === split && (p.label === 0 || p.label === 1));
    const test = labelled('test');
    if (test.length === 0) throw new InputError('evaluate: the cohort has no labelled test patients');
    const val = labelled('val');
    const model = modelFromGlobal(this.options, task, global);
    let scores: Float32Array;
    let valScores: Float32Array | undefined;
    const batch = Math.min(8, task.config.batchSize);
    try {
      ctx.progress(0, `scoring ${test.length} test patients`);
      scores = await predict(model, test, batch);
      // The validation split is scored only when the cut-off is to be chosen on it.
      if (task.config.evaluationThreshold === undefined && hasBothClasses(val))
        valScores = await predict(model, val, batch);
    } finally {
      model.params.dispose();
    }
    const labels = test.map((p) => p.label as number);
    // A paired evaluation: each compared model scored on the same test patients, the DeLong
    // aggregates of the pair computed here (the scores never leave).
    const paired = [];
    for (const [i, other] of compared.entries()) {
      ctx.progress(0, `scoring ${test.length} test patients with compared model ${i + 1}`);
      const otherScores = await scoreTestPatients(this.options, task, other, test);
      paired.push({ modelDigest: compareWith[i], ...pairedAggregates(labels, scores, otherScores) });
    }
    const nPositive = labels.filter((y) => y === 1).length;
    const nNegative = labels.length - nPositive;
    const bins = this.options.histogramBins ?? DEFAULT_HISTOGRAM_BINS;
    const histogram = scoreHistogram(labels, scores, bins);
    ctx.progress(1);
    // The exact AUC and its DeLong CI are aggregates of the site's own patients; the histogram is
    // what lets the coordinator pool sites without any patient's score.
    const both = nPositive >= 2 && nNegative >= 2;
    const roc = both ? rocSummary(labels, scores) : undefined;
    const metrics: Record<string, number> = roc ? { auc_ci95_low: roc.ci[0], auc_ci95_high: roc.ci[1] } : {};
    const threshold =
      task.config.evaluationThreshold ??
      (valScores
        ? chooseThreshold(
            val.map((p) => p.label as number),
            valScores,
          )
        : undefined);
    if (threshold !== undefined && Number.isFinite(threshold) && nPositive > 0 && nNegative > 0) {
      const at = metricsAtThreshold(labels, scores, threshold);
      Object.assign(metrics, {
        threshold,
        threshold_from_val: task.config.evaluationThreshold === undefined ? 1 : 0,
        sensitivity: at.sensitivity,
        specificity: at.specificity,
        accuracy: at.accuracy,
        ...(at.ppv === null ? {} : { ppv: at.ppv }),
        ...(at.npv === null ? {} : { npv: at.npv }),
      });
    }
    return {
      kind: 'evaluate',
      nPositive,
      nNegative,
      ...(roc ? { auc: roc.auc } : {}),
      ...(Object.keys(metrics).length ? { metrics } : {}),
      histogram: { bins, positive: histogram.pos, negative: histogram.neg },
      ...(paired.length ? { paired } : {}),
    };
  }
}

/**
 * The trained local model's operating point on the site's validation split (Youden's J there):
 * `val_threshold`, with the validation AUC beside it. When this is the site's last fine-tune
 * update, the coordinator sends the cut-off with the site's local model to the cross-site
 * evaluations (libs/federated `evaluationThresholdOf`). Nothing when the split lacks a class.
 */
async function validationCutOff(
  model: PhccModel,
  patients: readonly PatientSample[],
  task: TaskBody,
): Promise<Record<string, number>> {
  const val = patients.filter((p) => p.split === 'val' && (p.label === 0 || p.label === 1));
  if (!hasBothClasses(val)) return {};
  const labels = val.map((p) => p.label as number);
  const scores = await predict(model, val, Math.min(8, task.config.batchSize));
  const threshold = chooseThreshold(labels, scores);
  const nPositive = labels.filter((y) => y === 1).length;
  // rocSummary's DeLong variance needs two of each class; the cut-off needs one.
  const estimable = nPositive >= 2 && labels.length - nPositive >= 2;
  return {
    ...(Number.isFinite(threshold) ? { [VAL_THRESHOLD_METRIC]: threshold } : {}),
    ...(estimable ? { val_auc: rocSummary(labels, scores).auc } : {}),
  };
}

function hasBothClasses(patients: readonly PatientSample[]): boolean {
  return patients.some((p) => p.label === 1) && patients.some((p) => p.label === 0);
}

/**
 * The site half of a paired comparison (federated − central, SSL − no-SSL): two models scored on
 * the same labelled test patients, of which only the DeLong aggregates leave — both AUCs, both
 * variances, their covariance and the class counts (libs/metrics `pairedDifferenceAcrossSites`
 * combines sites). For the comparison's evaluation task; the simulator runs the same function.
 */
export async function pairedTestAggregates(
  options: ModelExecutorOptions,
  task: TaskBody,
  globalA: NamedArray[],
  globalB: NamedArray[],
): Promise<PairedAucCovariance> {
  const test = (await options.data()).filter((p) => p.split === 'test' && (p.label === 0 || p.label === 1));
  const labels = test.map((p) => p.label as number);
  return pairedAggregates(
    labels,
    await scoreTestPatients(options, task, globalA, test),
    await scoreTestPatients(options, task, globalB, test),
  );
}

/** One model's scores of the given test patients, as the evaluation scores them. */
async function scoreTestPatients(
  options: ModelExecutorOptions,
  task: TaskBody,
  global: readonly NamedArray[],
  test: readonly PatientSample[],
): Promise<Float32Array> {
  const model = modelFromGlobal(options, task, global);
  try {
    return await predict(model, test, Math.min(8, task.config.batchSize));
  } finally {
    model.params.dispose();
  }
}

/** DeLong needs two patients of each class; the message names the site's shortfall. */
function pairedAggregates(
  labels: readonly number[],
  scoresA: Float32Array,
  scoresB: Float32Array,
): PairedAucCovariance {
  const nPos = labels.filter((y) => y === 1).length;
  const nNeg = labels.length - nPos;
  if (nPos < 2 || nNeg < 2)
    throw new InputError(
      `paired evaluation: the test split has ${nPos} positive and ${nNeg} negative patients; DeLong needs at least 2 of each`,
    );
  return delongPairedCovariance(labels, scoresA, scoresB);
}

/** The three executors over one site's data. */
export function modelExecutors(options: ModelExecutorOptions): Record<Stage, TaskExecutor> {
  options = { ...options, optimiserStates: options.optimiserStates ?? new MemoryOptimiserStates() };
  return {
    ssl: new SslExecutor(options),
    finetune: new FinetuneExecutor(options),
    evaluate: new EvaluateExecutor(options),
  };
}

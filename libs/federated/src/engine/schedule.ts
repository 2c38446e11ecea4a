import { createHash } from 'node:crypto';
import type { LocalOnlySslDto, Stage, TaskConfigDto, TaskInstructionDto } from '../../../protocol/src';
import { epochsPerSite } from '../schedule/budget';
import { stageScheduleOf } from '../schedule/lr-schedule';
import type { EvaluateInstruction, FitInstruction, Strategy } from '../strategies/strategy';
import type { EnginePlan, EngineStagePlan } from './plan';

/**
 * Pure helpers that turn a run plan into the sequence of rounds and the per-task settings, so
 * that "which rounds does this plan run, with what config" can be read and tested alone.
 */

export interface RoundStep {
  stage: Stage;
  round: number;
  /** Cross-site evaluation rounds only: whose local model the round evaluates. */
  localModel?: LocalModelRef;
}

/** A site's local fine-tuned model: its last aggregated update, from fine-tune round `finetuneRound`. */
export interface LocalModelRef {
  siteId: string;
  finetuneRound: number;
  /**
   * The operating point the site chose for this model on its own validation split (the update's
   * `val_threshold` metric), transferred to the sites that evaluate it; absent when it had none.
   */
  threshold?: number;
}

/**
 * Round numbers of the 'evaluate' stage, one number space shared by three kinds of evaluation
 * (the rounds table, task ids and the wire key rounds by stage and number):
 * - 0: the final evaluation of the final global model;
 * - c = 1 … 1000: the every-k evaluation of the global model after c fine-tune rounds;
 * - 10 000 + i: the cross-site evaluation of the i-th site's local model (site ids in order);
 * - 20 000: the paired evaluation of the final global against the plan's `evaluation.compareWith`
 *   models (protocol 1.3): each site scores both on the same patients and returns the DeLong
 *   aggregates of each pair, which the coordinator combines by fixed effect. It runs right after
 *   the final evaluation, before the cross-site rounds (appended once local models are built).
 */
export const FINAL_EVALUATION_ROUND = 0;
export const CROSS_SITE_ROUND_BASE = 10_000;
export const PAIRED_EVALUATION_ROUND = 20_000;

/**
 * The fine-tune stage's token-centring round runs before fine-tune round 0 (docs/MODEL.md: the
 * head does not learn on SSL features unless their mean is subtracted first). On the wire and in
 * the rounds table it is an ordinary fine-tune round with this number — outside the plan's
 * fine-tune rounds (≤ 1000), as the cross-site evaluation rounds are outside the evaluation ones —
 * so no new stage or message reaches the protocol, and a restarted coordinator finds it done like
 * any other round. Its task carries `tokenCentring: true`; its aggregate sets the centre to the
 * sample-weighted mean of the sites' centres (libs/federated `combineTokenCentre`), never a
 * strategy's fold (FedAdam would move the centre by a step instead of setting it).
 */
export const TOKEN_CENTRING_ROUND = 10_000;

export function isTokenCentring(step: { stage: string; round: number }): boolean {
  return step.stage === 'finetune' && step.round === TOKEN_CENTRING_ROUND;
}

/**
 * The local-only training round (`evaluation.crossSiteModels: local-only`): after the final
 * evaluation, every site trains its own model on its own data alone, from the plan's
 * `initialModel`, for the whole fine-tune budget in one task (preceded, in a plan with an SSL
 * stage, by the whole SSL budget on its own images: `localOnlySsl`). A fine-tune round outside the
 * plan's rounds (≤ 1000) and the centring round, so no new stage reaches the protocol; its
 * updates are stored and never folded: each becomes one site's model in the cross-site matrix.
 */
export const LOCAL_ONLY_ROUND = 20_000;

/** The plan's two sources of the cross-site matrix's models (docs/PROTOCOL.md, "evaluation.crossSite"). */
export const CROSS_SITE_MODELS = ['global-finetuned', 'local-only'] as const;
export type CrossSiteModels = (typeof CROSS_SITE_MODELS)[number];

export function isLocalOnlyTraining(step: { stage: string; round: number }): boolean {
  return step.stage === 'finetune' && step.round === LOCAL_ONLY_ROUND;
}

/** A round that trains or evaluates a local-only model: nothing in it is the federation's. */
function isLocalOnly(step: RoundStep): boolean {
  return isLocalOnlyTraining(step) || step.localModel?.finetuneRound === LOCAL_ONLY_ROUND;
}

/**
 * How long an attempt of this round waits for its answers. A local-only task trains in one go
 * what the plan's training rounds train — the whole fine-tune budget and, in a plan with an SSL
 * stage, the whole SSL budget before it — so it gets their deadlines summed; one round deadline
 * would fail it in any plan of more than one round. Every other round: `roundDeadlineSeconds`.
 * A deadline bounds the wait; sites that answer sooner close the round sooner.
 */
export function roundDeadlineSecondsOf(plan: EnginePlan, step: { stage: string; round: number }): number {
  if (!isLocalOnlyTraining(step)) return plan.roundDeadlineSeconds;
  const rounds = (plan.stages.finetune?.rounds ?? 0) + (plan.stages.ssl?.rounds ?? 0);
  return plan.roundDeadlineSeconds * Math.max(1, rounds);
}

/** The plan asks for a cross-site matrix of local-only models. */
export function wantsLocalOnlyModels(plan: EnginePlan): boolean {
  return Boolean(plan.evaluation.crossSite) && plan.evaluation.crossSiteModels === 'local-only';
}

/**
 * Whether a round counts towards a run's progress ("3 / 5 rounds"): the plan's SSL and fine-tune
 * rounds and its final evaluation. Token centring, local-only training and the every-k, paired and
 * cross-site evaluations are steps the engine adds around them, so they are left out and every
 * page counts the same.
 */
export function countsTowardsProgress(step: { stage: string; round: number }): boolean {
  if (step.stage === 'evaluate') return step.round === FINAL_EVALUATION_ROUND;
  return !isTokenCentring(step) && !isLocalOnlyTraining(step);
}

export type EvaluationKind = 'final' | 'periodic' | 'cross-site' | 'paired';

export function evaluationKindOf(round: number): EvaluationKind {
  if (round === FINAL_EVALUATION_ROUND) return 'final';
  if (round === PAIRED_EVALUATION_ROUND) return 'paired';
  return round >= CROSS_SITE_ROUND_BASE ? 'cross-site' : 'periodic';
}

/** Code-unit order, never locale: the same ids sort the same everywhere (libs/federated folds so). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The key of a round in the engine's maps and the store: stage and number. */
export function roundKey(step: { stage: string; round: number }): string {
  return `${step.stage}/${step.round}`;
}

/**
 * The rounds a plan fixes in advance, in order: SSL rounds, the token-centring round, fine-tune
 * rounds with an evaluation
 * of the global model after every k-th of them, then the final evaluation and the paired one
 * (when the plan names models to compare the final global with). Cross-site rounds
 * follow (`crossSiteSteps`) once training tells whose local models exist.
 *
 * Every-k evaluation runs in the fine-tune stage only: an SSL-stage model has no trained
 * classifier head (its head is the initial one while the encoder moves under it), so its AUC
 * would measure noise. When k divides the last fine-tune round and the plan has a final
 * evaluation, that one evaluates the same model and the every-k round is left out. A plan
 * whose cross-site matrix is of local-only models ends on the local-only training round.
 */
export function runSteps(plan: EnginePlan): RoundStep[] {
  const steps: RoundStep[] = [];
  for (let r = 0; r < (plan.stages.ssl?.rounds ?? 0); r++) steps.push({ stage: 'ssl', round: r });
  const finetuneRounds = plan.stages.finetune?.rounds ?? 0;
  const every = plan.evaluation.everyKRounds ?? 0;
  if (finetuneRounds > 0) steps.push({ stage: 'finetune', round: TOKEN_CENTRING_ROUND });
  for (let r = 0; r < finetuneRounds; r++) {
    steps.push({ stage: 'finetune', round: r });
    const completed = r + 1;
    const duplicatesFinal = plan.evaluation.final && completed === finetuneRounds;
    if (every > 0 && completed % every === 0 && !duplicatesFinal)
      steps.push({ stage: 'evaluate', round: completed });
  }
  if (plan.evaluation.final) steps.push({ stage: 'evaluate', round: FINAL_EVALUATION_ROUND });
  if (plan.evaluation.compareWith?.length) steps.push({ stage: 'evaluate', round: PAIRED_EVALUATION_ROUND });
  if (wantsLocalOnlyModels(plan) && finetuneRounds > 0)
    steps.push({ stage: 'finetune', round: LOCAL_ONLY_ROUND });
  return steps;
}

/** One evaluation round per site with a local model, in site-id order: its model at every site. */
export function crossSiteSteps(localModels: readonly LocalModelRef[]): RoundStep[] {
  return [...localModels]
    .sort((a, b) => compareIds(a.siteId, b.siteId))
    .map((m, i) => ({
      stage: 'evaluate',
      round: CROSS_SITE_ROUND_BASE + i,
      localModel: {
        siteId: m.siteId,
        finetuneRound: m.finetuneRound,
        ...(m.threshold !== undefined ? { threshold: m.threshold } : {}),
      },
    }));
}

/**
 * A task id that is unique per (run, stage, round, attempt, site), fits the protocol's id
 * pattern whatever the site id's length, and still tells a reader the stage and round.
 */
export function taskIdFor(runId: string, step: RoundStep, attempt: number, siteId: string): string {
  const hash = createHash('sha256')
    .update(`${runId}\n${step.stage}\n${step.round}\n${attempt}\n${siteId}`)
    .digest('hex');
  return `${step.stage}-${step.round}-${attempt}-${hash.slice(0, 20)}`;
}

/** The largest update a task may return: twice its global model, and never under 1 MiB. */
export function maxUpdateBytesFor(globalBytes: number): number {
  return Math.max(2 * globalBytes, 1024 * 1024);
}

/**
 * A task's config. The evaluation stage trains nothing; it still carries valid numbers (the
 * protocol requires them) taken from the fine-tune stage when there is one. A training task
 * carries the plan's optimiser and its place in the stage's one LR schedule, and asks the site to
 * keep its optimiser moments between rounds (docs/MODEL.md, "Federated training as `train` does
 * it"); the token-centring task trains nothing and carries none of that.
 */
export function taskConfig(
  plan: EnginePlan,
  step: RoundStep,
  strategy: Strategy,
  maxUpdateBytes: number,
): TaskConfigDto {
  const stage = step.stage === 'ssl' ? plan.stages.ssl : (plan.stages.finetune ?? plan.stages.ssl);
  const mu = Number(strategy.parameters.proximalMu ?? 0);
  const config: TaskConfigDto = {
    localEpochs: stage?.localEpochs ?? 1,
    learningRate: stage?.optimiser.lr ?? 1e-3,
    batchSize: (step.stage === 'evaluate' ? plan.evaluation.batchSize : undefined) ?? stage?.batchSize ?? 1,
    seed: roundSeed(plan.seed, step),
    updateEncoding: plan.encoding,
    updateKind: strategy.updateKind,
    maxUpdateBytes,
  };
  // Every task that runs the model, token centring included, says which phases it takes.
  if (plan.phases) config.phases = taskPhases(plan.phases, plan.model?.phaseTimes);
  if (isLocalOnlyTraining(step)) return localOnlyConfig(plan, config);
  if (isTokenCentring(step)) {
    // float32 whatever the plan's encoding: the centre is set, not nudged, so a quantisation error
    // would stay in the model for the whole stage; the one extra upload of the model is cheap.
    return { ...config, updateEncoding: 'float32', tokenCentring: true };
  }
  if (mu > 0) config.proximalMu = mu;
  if (step.stage === 'evaluate') {
    const threshold = evaluationThresholdOf(plan, step);
    if (threshold !== undefined) config.evaluationThreshold = threshold;
    const compareWith = compareWithOf(plan, step);
    if (compareWith) config.compareWith = compareWith;
  }
  if (step.stage === 'ssl' && plan.stages.ssl) {
    config.maskRatio = plan.stages.ssl.maskRatio;
    Object.assign(config, trainingFields(plan.stages.ssl, step.round));
  }
  if (step.stage === 'finetune' && plan.stages.finetune) {
    const { frozenEncoderWarmupEpochs = 0, localEpochs } = plan.stages.finetune;
    const frozen = frozenEncoderEpochsOf(step.round, localEpochs, frozenEncoderWarmupEpochs);
    // Absent when 0: agents that predate the field refuse unknown fields, and need it only for a warm-up.
    if (frozen > 0) config.freezeEncoderEpochs = frozen;
    Object.assign(config, trainingFields(plan.stages.finetune, step.round));
  }
  return config;
}

/**
 * The local-only task: the whole fine-tune budget in one task, as `train` runs it at one site —
 * epochs = rounds × local epochs over one warm-up + cosine schedule, the stage's whole head-only
 * warm-up, a fresh optimiser, no proximal pull (there is no global to be pulled to) — and
 * `localOnly`, which tells the site to centre the tokens on its own patients first, as `train`
 * does, since no federated centre exists for a model of its own. A plan with an SSL stage adds
 * `localOnlySsl` (protocol 1.4): the site first pre-trains on its own images with that stage's
 * whole budget, so the row is `train --stage both` at that site rather than a no-SSL model.
 */
function localOnlyConfig(plan: EnginePlan, config: TaskConfigDto): TaskConfigDto {
  const stage = plan.stages.finetune!;
  const epochs = epochsPerSite(stage);
  const frozen = Math.min(epochs, stage.frozenEncoderWarmupEpochs ?? 0);
  const ssl = plan.stages.ssl;
  return {
    ...config,
    localEpochs: epochs,
    optimiser: stage.optimiser.name,
    weightDecay: stage.optimiser.weightDecay ?? 0,
    scheduleStartEpoch: 0,
    scheduleTotalEpochs: epochs,
    warmupEpochs: stage.warmupEpochs ?? 0,
    keepOptimiserState: false,
    ...(frozen > 0 ? { freezeEncoderEpochs: frozen } : {}),
    localOnly: true,
    ...(ssl ? { localOnlySsl: localSslRecipe(ssl) } : {}),
  };
}

/**
 * The SSL stage's whole budget as one site trains it alone: the budget rule (`federatedBudgetFor`)
 * read backwards — rounds × local epochs become the epochs of one run with the stage's warm-up,
 * peak LR, batch size, mask ratio, optimiser and decay (0 when the plan gives none, as in a round).
 */
function localSslRecipe(ssl: EngineStagePlan & { maskRatio: number }): LocalOnlySslDto {
  return {
    epochs: epochsPerSite(ssl),
    learningRate: ssl.optimiser.lr,
    batchSize: ssl.batchSize,
    maskRatio: ssl.maskRatio,
    optimiser: ssl.optimiser.name,
    weightDecay: ssl.optimiser.weightDecay ?? 0,
    warmupEpochs: ssl.warmupEpochs ?? 0,
  };
}

/** The plan's phase names, with the model's nominal times when it records one per phase. */
function taskPhases(names: readonly string[], times: unknown): { names: string[]; times?: number[] } {
  const timed =
    Array.isArray(times) &&
    times.length === names.length &&
    times.every((t) => typeof t === 'number' && Number.isFinite(t) && t >= 0);
  return { names: [...names], ...(timed ? { times: [...(times as number[])] } : {}) };
}

/** The models a paired evaluation round compares the global with (the plan's, in its order). */
export function compareWithOf(plan: EnginePlan, step: RoundStep): string[] | undefined {
  if (step.stage !== 'evaluate' || step.round !== PAIRED_EVALUATION_ROUND) return undefined;
  const compareWith = plan.evaluation.compareWith;
  return compareWith?.length ? [...compareWith] : undefined;
}

/**
 * The update metric in which a site reports the cut-off it chose for its trained model on its own
 * validation split (Youden's J, `chooseThreshold`); the coordinator reads it back (recorded as
 * `train/val_threshold`) when it rebuilds the site's local model for the cross-site rounds.
 */
export const VAL_THRESHOLD_METRIC = 'val_threshold';

/**
 * The operating point an evaluation task fixes (docs/MODEL.md, "Evaluation hygiene"): the plan's
 * `evaluation.threshold` when it gives one (a cut-off fixed in advance, as a prospective study
 * locks it); else, in a cross-site round, the cut-off the local model's own site chose on its
 * validation split — transferred, as a model is transferred to an external hospital, rather than
 * re-chosen on each evaluating site's patients; else none, and each site chooses it on its own
 * validation split.
 */
export function evaluationThresholdOf(plan: EnginePlan, step: RoundStep): number | undefined {
  return plan.evaluation.threshold ?? step.localModel?.threshold;
}

/**
 * What makes a round's local training the slice of one `train` run: the plan's optimiser (decay
 * 0 when the plan gives none, as the plan documents), this round's global epochs in the stage's
 * one warm-up + cosine schedule, and the site's optimiser moments carried from its last round.
 */
function trainingFields(
  stage: EngineStagePlan,
  round: number,
): Pick<
  TaskConfigDto,
  | 'optimiser'
  | 'weightDecay'
  | 'scheduleStartEpoch'
  | 'scheduleTotalEpochs'
  | 'warmupEpochs'
  | 'keepOptimiserState'
> {
  const { startEpoch, totalEpochs } = stageScheduleOf(stage, round);
  return {
    optimiser: stage.optimiser.name,
    weightDecay: stage.optimiser.weightDecay ?? 0,
    scheduleStartEpoch: startEpoch,
    scheduleTotalEpochs: totalEpochs,
    warmupEpochs: stage.warmupEpochs ?? 0,
    keepOptimiserState: true,
  };
}

/**
 * The plan's head-only warm-up counts epochs over the whole fine-tune stage, not per round: fine-
 * tune round `round` (from 0) with E local epochs covers global epochs round·E … round·E + E − 1,
 * so it freezes the encoder for min(E, max(0, W − round·E)) of them. A warm-up of W = 2 with one
 * local epoch freezes rounds 0 and 1 entirely; with E = 3 it freezes 2 of round 0's 3 epochs.
 * Why across rounds: restarting a per-round warm-up would freeze the encoder in every round.
 */
export function frozenEncoderEpochsOf(round: number, localEpochs: number, warmupEpochs: number): number {
  return Math.min(localEpochs, Math.max(0, warmupEpochs - round * localEpochs));
}

/** A per-round seed derived from the run's seed, so sites shuffle differently every round but reproducibly. */
export function roundSeed(seed: number, step: RoundStep): number {
  const hash = createHash('sha256').update(`${seed}\n${step.stage}\n${step.round}`).digest();
  return hash.readUInt32BE(0);
}

/**
 * The strategy's per-site instruction as it travels in the signed task: what to train and send
 * (parts, update kind), what never leaves the site (keep-local pattern), and how to train (the
 * plan's optimiser, FedProx μ). The evaluation stage needs only the keep-local pattern.
 */
export function taskInstruction(
  plan: EnginePlan,
  step: RoundStep,
  instruction: FitInstruction | EvaluateInstruction,
): TaskInstructionDto {
  // A local-only model is the site's whole model: nothing of it is kept back on upload, and an
  // evaluating site puts none of its own (federated) kept tensors in its place.
  const keepLocal =
    instruction.keepLocalPattern && !isLocalOnly(step)
      ? { keepLocalPattern: instruction.keepLocalPattern }
      : {};
  if (!('parts' in instruction))
    return instruction.minBinCount !== undefined
      ? { ...keepLocal, minBinCount: instruction.minBinCount }
      : keepLocal;
  // The centring task trains nothing: the strategy's upload (parts, kind, kept tensors) so that
  // the round's gate admits it as any fine-tune update, but no optimiser and no proximal pull.
  if (isTokenCentring(step))
    return { parts: [...instruction.parts], ...keepLocal, updateKind: instruction.updateKind };
  const stage = step.stage === 'ssl' ? plan.stages.ssl : plan.stages.finetune;
  const optimiser = stage?.optimiser;
  return {
    parts: [...instruction.parts],
    ...keepLocal,
    updateKind: instruction.updateKind,
    ...(optimiser
      ? {
          optimiser: {
            name: optimiser.name,
            ...(optimiser.weightDecay !== undefined ? { weightDecay: optimiser.weightDecay } : {}),
          },
        }
      : {}),
    ...(instruction.proximalMu > 0 && !isLocalOnly(step) ? { proximalMu: instruction.proximalMu } : {}),
    ...(instruction.clip ? { clip: { ...instruction.clip } } : {}),
  };
}

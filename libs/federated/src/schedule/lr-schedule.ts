import { InputError } from '../../../common/src';

/**
 * One learning-rate schedule over a whole training stage, federated or not: linear warm-up then
 * half-cosine decay to a floor. `train` runs it over its epochs in one call; a federated stage of
 * R rounds × E local epochs runs the same schedule over R·E global epochs, each round's task
 * covering global epochs round·E … round·E + E − 1 (`stageScheduleOf`). Restarting a schedule
 * every round (what sites did before) gives a saw-tooth: no warm-up, and the LR back at its peak
 * at the start of every round, which is not the schedule the central arm is compared with.
 */
export interface WarmupCosine {
  /** Peak learning rate. */
  baseLr: number;
  /** Warm-up length, in the unit of `position` (steps at a site, epochs in a plan). */
  warmup: number;
  /** Schedule length, same unit. */
  total: number;
  /** Floor of the cosine decay as a fraction of baseLr (default 0.01). */
  minLrRatio?: number;
}

/**
 * The LR at a 0-based position: warm-up gives baseLr·(position + 1)/warmup (the first step is
 * never at LR 0), then floor + (base − floor)·½(1 + cos π·progress). The single definition of
 * the schedule: libs/model's `cosineLr` (steps) and `lrAtGlobalEpoch` (epochs) both call it.
 */
export function warmupCosineLr(position: number, s: WarmupCosine): number {
  const floor = s.baseLr * (s.minLrRatio ?? 0.01);
  if (position < s.warmup) return (s.baseLr * (position + 1)) / s.warmup;
  const span = Math.max(1, s.total - s.warmup);
  const progress = Math.min(1, (position - s.warmup) / span);
  return floor + (s.baseLr - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** A stage of a plan as the schedule needs it (the plan's `stages.ssl` / `stages.finetune`). */
export interface StageBudget {
  rounds: number;
  localEpochs: number;
}

/**
 * Where fine-tune (or SSL) round `round` (0-based) sits in its stage's one schedule. A site turns
 * it into steps with its own steps-per-epoch: step s of the task is global step
 * startEpoch·stepsPerEpoch + s of a schedule of totalEpochs·stepsPerEpoch steps.
 */
export interface TaskSchedule {
  /** Global epoch (0-based) at which this task's first local epoch starts: round × localEpochs. */
  startEpoch: number;
  /** Epochs of the whole stage: rounds × localEpochs. */
  totalEpochs: number;
}

export function stageScheduleOf(stage: StageBudget, round: number): TaskSchedule {
  if (!Number.isInteger(round) || round < 0 || round >= stage.rounds) {
    throw new InputError(`schedule: round ${round} is outside the stage's ${stage.rounds} rounds`);
  }
  return { startEpoch: round * stage.localEpochs, totalEpochs: stage.rounds * stage.localEpochs };
}

/**
 * The LR at the start of a global epoch (0-based) of a stage of `totalEpochs`, warming up over
 * `warmupEpochs`: what a report or a plan check shows. At a site the schedule runs per step (the
 * same function with both lengths × steps-per-epoch), so within an epoch the LR moves smoothly.
 */
export function lrAtGlobalEpoch(
  epoch: number,
  schedule: { baseLr: number; warmupEpochs: number; totalEpochs: number; minLrRatio?: number },
): number {
  return warmupCosineLr(epoch, {
    baseLr: schedule.baseLr,
    warmup: schedule.warmupEpochs,
    total: schedule.totalEpochs,
    minLrRatio: schedule.minLrRatio,
  });
}

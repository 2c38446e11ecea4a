import type { NamedArray } from '../../../libs/weights/src';
import type { Stage, TaskBody } from '../../../libs/protocol/src';
import type { PairedAucCovariance } from '../../../libs/metrics/src';

/** Progress of a running task: fraction done in [0, 1] and a short human-readable note. */
export type ProgressReporter = (fraction: number, message?: string) => void;

export interface ExecutionContext {
  /** Aborted when the agent stops (SIGINT) or the task is abandoned: executors stop early. */
  signal: AbortSignal;
  progress: ProgressReporter;
}

/** A training stage's outcome: the full locally trained weights (filters select what leaves). */
export interface TrainResult {
  kind: 'train';
  weights: NamedArray[];
  nSamples: number;
  /** Aggregate metrics only (e.g. mean loss): keys `^[a-z][a-z0-9_./-]{0,63}$`, finite values. */
  metrics: Record<string, number>;
}

/** An evaluation's outcome: counts and per-class score histograms, never per-patient scores. */
export interface EvalResult {
  kind: 'evaluate';
  nPositive: number;
  nNegative: number;
  /** Absent when a class is missing at this site. */
  auc?: number;
  histogram: { bins: number; positive: number[]; negative: number[] };
  metrics?: Record<string, number>;
  /**
   * A paired evaluation (the task's `compareWith`): per compared model, in the task's order, the
   * DeLong aggregates of (task's model, compared model) on the same test patients.
   */
  paired?: (PairedAucCovariance & { modelDigest: string })[];
}

export type TaskResult = TrainResult | EvalResult;

/**
 * One stage's work at the site (NVFlare's executor): receives the verified task and the decoded
 * global weights, returns what the agent will filter, sign and send. Injectable so that the agent
 * can be tested without tfjs.
 */
export interface TaskExecutor {
  readonly stage: Stage;
  /** `compared`: a paired evaluation's other models, decoded, in the order of `compareWith`. */
  execute(
    task: TaskBody,
    global: NamedArray[],
    ctx: ExecutionContext,
    compared?: readonly NamedArray[][],
  ): Promise<TaskResult>;
}

export type ExecutorSet = Partial<Record<Stage, TaskExecutor>>;

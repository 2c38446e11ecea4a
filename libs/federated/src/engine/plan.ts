import type { OptimiserName, WeightEncoding } from '../../../protocol/src';
import type { SecureAggregationPlan } from '../privacy/secagg-task';
import type { CrossSiteModels } from './schedule';

/**
 * The part of a run plan the engine reads. The coordinator's validated `RunPlanDto` satisfies it
 * structurally; a simulator builds it from the same plan file. Kept apart from the DTO so that
 * libs/federated does not depend on the coordinator's validation classes.
 */
export interface EnginePlan {
  stages: {
    ssl?: EngineStagePlan & { maskRatio: number };
    finetune?: EngineStagePlan & { frozenEncoderWarmupEpochs?: number };
  };
  quorum: { minSites: number };
  roundDeadlineSeconds: number;
  maxRetries?: number;
  encoding: WeightEncoding;
  /**
   * `threshold`: a fixed operating point for every evaluation task (absent: chosen on validation).
   * `compareWith`: models (digests in the blob store) the final global is compared with, site by
   * site on the same patients, in the paired evaluation round at the end of the run.
   * `batchSize`: evaluation tasks' batch size (absent: the fine-tune stage's, else the SSL stage's, else 1).
   * `crossSiteModels`: whose models the cross-site matrix evaluates (schedule.ts `CROSS_SITE_MODELS`;
   * absent: 'global-finetuned').
   */
  evaluation: {
    final: boolean;
    everyKRounds?: number;
    crossSite?: boolean;
    crossSiteModels?: CrossSiteModels;
    threshold?: number;
    batchSize?: number;
    compareWith?: string[];
  };
  /** 'all' (or absent): every linked site; else only these. */
  sites?: 'all' | string[];
  initialModel?: string;
  seed: number;
  /** The DCE phases the model takes, in acquisition order; carried to every task's config. */
  phases?: string[];
  /** The network config recorded with the run; its `phaseTimes` (nominal seconds) travel with `phases`. */
  model?: Record<string, unknown>;
  /** The plan's privacy section; the engine reads its secure-aggregation part. */
  privacy?: SecureAggregationPlan;
}

export interface EngineStagePlan {
  rounds: number;
  localEpochs: number;
  batchSize: number;
  optimiser: { name: OptimiserName; lr: number; weightDecay?: number };
  /** LR warm-up at the start of the stage's one schedule, in epochs (absent: none). */
  warmupEpochs?: number;
}

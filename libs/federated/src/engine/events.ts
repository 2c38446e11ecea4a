import type { ConsentRefusalCode } from '../../../protocol/src/consent';
import type { EvalResultBody, SiteState, WeightEncoding } from '../../../protocol/src';
import type { SiteMetrics, UpdateEntry } from '../types';
import type { SecAggStepName } from '../privacy/secagg-sessions';
import type { RoundState } from './state';

/**
 * What happens to a run, as the engine hears it. Adapters turn sockets, timers and the store's
 * answers into these; a simulator builds them directly. Every answer from a site has already been
 * verified by the protocol layer (signature, replay, run/round/task scope) before it becomes an
 * event: the engine judges only whether it is still wanted.
 */
export type EngineEvent =
  | RunStarted
  | { type: 'site-linked'; siteId: string }
  | { type: 'site-left'; siteId: string }
  /** A verified `status`; the one an agent sends after reconnecting ends a disconnect grace. */
  | { type: 'site-status'; siteId: string; state: SiteState; taskId?: string }
  | { type: 'task-delivered'; siteId: string; taskId: string }
  | { type: 'task-failed'; siteId: string; taskId: string; reason: string }
  | {
      type: 'task-acked';
      siteId: string;
      taskId: string;
      accepted: boolean;
      reason?: string;
      /** A site that refused the run's plan (consent), and why. */
      refusalCode?: ConsentRefusalCode;
    }
  | { type: 'update-received'; siteId: string; taskId: string; update: ReceivedUpdate; entry: UpdateEntry }
  /** An authentic update the gate refused on arrival (`code` is the gate's, e.g. NON_FINITE). */
  | {
      type: 'update-refused';
      siteId: string;
      taskId: string;
      update: ReceivedUpdate;
      code: string;
      reason: string;
    }
  | { type: 'evaluation-received'; siteId: string; taskId: string; result: EvalResultBody }
  /**
   * A site's SecAgg message of `step`, already admitted into the session's server by the adapter
   * (it asked `openTaskOf(...).secure.accepting` first); keys carry the clear training metrics.
   */
  | { type: 'secagg-received'; siteId: string; taskId: string; step: SecAggStepName; metrics?: SiteMetrics }
  /** The session's server refused a site's SecAgg message (`code` is its SECAGG_… code). */
  | {
      type: 'secagg-refused';
      siteId: string;
      taskId: string;
      step: SecAggStepName;
      code: string;
      reason: string;
    }
  /** The adapter closed `step` and sent the next step's messages (or could not: the attempt fails). */
  | { type: 'secagg-closed'; sessionId: string; step: SecAggStepName; ok: true }
  | { type: 'secagg-closed'; sessionId: string; step: SecAggStepName; ok: false; reason: string }
  | AggregationFinished
  | { type: 'aggregation-failed'; reason: string }
  | { type: 'strategy-restored' }
  | { type: 'strategy-restore-failed'; reason: string }
  | { type: 'local-models-built'; models: BuiltLocalModel[] }
  | { type: 'local-models-failed'; reason: string }
  /** Time passed (a wake-up the engine asked for, or any poll). */
  | { type: 'tick' }
  /** An admin stopped the run: it ends where it is, its open round failed. */
  | { type: 'stop'; reason?: string };

/**
 * The run begins (or resumes after a restart): the sites linked now and what the store holds of
 * the run's rounds, so that done rounds are skipped and an unfinished one is resumed.
 */
export interface RunStarted {
  type: 'run-started';
  linkedSites: readonly string[];
  recordedRounds: readonly RecordedRound[];
  /** Size of the plan's initial model in the blob store; absent if it is not there. */
  initialModelBytes?: number;
}

/** One round as the store has it. */
export interface RecordedRound {
  stage: string;
  round: number;
  state: RoundState;
  outputDigest?: string;
  /** Size of the output model in the blob store (a resumed round's update limit derives from it). */
  outputBytes?: number;
  /** The highest `attempts` of its tasks (0 if none): task ids stay unique across restarts. */
  lastAttempt: number;
}

/** An update as the protocol layer verified it; `digest` is the verified SHA-512, never recomputed. */
export interface ReceivedUpdate {
  digest: string;
  signature: string;
  bytes: number;
  nSamples: number;
  encoding: WeightEncoding;
  /** The encoded payload, handed on to the store-update command (the engine never reads it). */
  payload?: Uint8Array;
}

/** The fold (or an evaluation's pooling) the engine asked for is done. */
export interface AggregationFinished {
  type: 'aggregation-finished';
  /** The new global (training) or the evaluated model (evaluation). */
  outputDigest: string;
  /** Size of the output model, for the next round's update limit. */
  outputBytes: number;
  /** Training: the sites folded, in fold order, and the fold's metrics. */
  sites?: readonly string[];
  metrics?: SiteMetrics;
}

export interface BuiltLocalModel {
  siteId: string;
  finetuneRound: number;
  digest: string;
  bytes: number;
  /** The site's validation cut-off for this model (its update's `val_threshold`), if it reported one. */
  threshold?: number;
}

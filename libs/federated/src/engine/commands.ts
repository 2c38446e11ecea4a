import type {
  EvalResultBody,
  Stage,
  TaskConfigDto,
  TaskInstructionDto,
  WeightEncoding,
} from '../../../protocol/src';
import type { SecAggStepName } from '../privacy/secagg-sessions';
import type { UpdateEntry } from '../types';
import type { RoundState, TaskState, UpdateStatus } from './state';
import type { LocalModelRef, RoundStep } from './schedule';

/**
 * What the engine asks its adapters to do, in order. Commands are data: the coordinator's ledger
 * turns the persist ones into store calls, its dispatcher signs and sends tasks, and a simulator
 * keeps them in memory. Four are requests whose answer comes back as an event:
 * `send-task` (→ task-delivered/failed), `aggregate` (→ aggregation-finished/failed),
 * `restore-strategy` (→ strategy-restored/…-failed), `build-local-models` (→ local-models-built/…-failed),
 * `secagg-close` (→ secagg-closed).
 */
export type EngineCommand =
  | { kind: 'send-task'; siteId: string; task: TaskToSend }
  | { kind: 'insert-round'; round: RoundRow }
  | { kind: 'update-round'; runId: string; stage: Stage; round: number; changes: RoundChanges }
  | { kind: 'insert-task'; task: TaskRow }
  | { kind: 'set-task-state'; taskId: string; state: TaskState }
  /** Put the payload in the blob store and insert its row (`status` accepted or rejected). */
  | { kind: 'store-update'; update: UpdateRow; payload?: Uint8Array }
  | { kind: 'set-update-status'; taskId: string; status: UpdateStatus; reason?: string }
  | { kind: 'record-metrics'; metrics: MetricRow[] }
  | { kind: 'audit'; entry: AuditEntry }
  | { kind: 'log'; level: 'info' | 'warn'; message: string; fields: Record<string, unknown> }
  | AggregateCommand
  | SecAggCloseCommand
  | { kind: 'restore-strategy'; runId: string; lastDone: RoundStep }
  /**
   * `localOnlyRound`: the plan's matrix is of local-only models, each site's the update it sent in
   * that round (never folded) on that round's input; absent: each site's last aggregated
   * fine-tune update on the global it trained from.
   */
  | { kind: 'build-local-models'; runId: string; finetuneRounds: number; localOnlyRound?: number }
  /** Feed a tick at (or after) `atMs`; replaces any earlier wake-up of the run. */
  | { kind: 'wake-at'; atMs: number }
  | { kind: 'end-run'; runId: string; outcome: 'complete' | 'fail'; reason?: string; finalDigest?: string };

/** The signed task's body, less what the dispatcher adds (sender, nonce, timestamp). */
export interface TaskToSend {
  runId: string;
  stage: Stage;
  round: number;
  taskId: string;
  globalWeightsDigest: string;
  config: TaskConfigDto;
  /** Epoch ms after which the update is no longer accepted. */
  deadline: number;
  /** The strategy's configureFit / configureEvaluate answer for this site, as signed in the task. */
  instruction: TaskInstructionDto;
  /** The run's plan for the site's consent (RunSpec.sitePlan), when the adapter sends it. */
  plan?: Record<string, unknown>;
}

export type AggregateCommand =
  | {
      kind: 'aggregate';
      /**
       * 'fit': the strategy folds the updates into the next global. 'token-centre': the
       * token-centring round (schedule.ts `TOKEN_CENTRING_ROUND`): the global with its
       * `head/token_center` set to the updates' centres averaged by sample count, no strategy.
       */
      what: 'fit' | 'token-centre';
      runId: string;
      step: RoundStep;
      /** The global the round trained from. */
      globalDigest: string;
      /** Survivors of the round checks, in site-id order, with their blob digests. */
      updates: (UpdateEntry & { digest: string })[];
      /**
       * Secure aggregation: no update was ever stored (`updates` is empty); the adapter unmasks
       * the session's sum, which is the mean over `survivors`, and folds that in their place.
       */
      secure?: { sessionId: string; survivors: string[] };
    }
  | {
      kind: 'aggregate';
      what: 'evaluate';
      runId: string;
      step: RoundStep;
      /** The model evaluated (the global, or a site's local model in a cross-site round). */
      modelDigest: string;
      /** Whose model: 'global' or the local model's site. */
      modelOf: 'global' | LocalModelRef;
      /**
       * A paired evaluation round: the models the global was compared with, in the order of
       * every result's `paired` list (the engine checked each answer against it).
       */
      compareWith?: string[];
      results: Record<string, EvalResultBody>;
    };

/**
 * End a SecAgg step of a secure round: the adapter closes `closing` in the session's server
 * (`members` sent it) and sends each member of the next step its message, signed for its task;
 * answered by `secagg-closed`, which it feeds *before* sending, so no reply can beat it.
 */
export interface SecAggCloseCommand {
  kind: 'secagg-close';
  runId: string;
  step: RoundStep;
  sessionId: string;
  closing: Exclude<SecAggStepName, 'unmask'>;
  members: string[];
  /** Each member's task (its messages are scoped to it), and the next step's deadline. */
  taskIds: Record<string, string>;
  deadline: number;
}

export interface RoundRow {
  runId: string;
  stage: Stage;
  round: number;
  state: RoundState;
  inputDigest: string;
  startedAt: string;
  deadlineAt: string;
}

export type RoundChanges = Partial<{
  state: RoundState;
  outputDigest: string;
  endedAt: string;
  reason: string;
}>;

export interface TaskRow {
  id: string;
  runId: string;
  stage: Stage;
  round: number;
  siteId: string;
  state: TaskState;
  createdAt: string;
  attempts: number;
}

export interface UpdateRow {
  taskId: string;
  runId: string;
  stage: Stage;
  round: number;
  siteId: string;
  digest: string;
  signature: string;
  bytes: number;
  nSamples: number;
  encoding: WeightEncoding;
  status: UpdateStatus;
  rejectReason?: string;
  receivedAt: string;
}

export interface MetricRow {
  runId: string;
  stage: Stage;
  round: number;
  siteId?: string;
  name: string;
  value: number;
  recordedAt: string;
}

export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  outcome: 'ok' | 'error' | 'rejected';
  detail: Record<string, unknown>;
  /** A refusal: the adapter may throttle these (audit/refusal-throttle). */
  refusal?: boolean;
}

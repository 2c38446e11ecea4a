import type { EvalResultBody, TaskConfigDto } from '../../../protocol/src';
import type { UpdateEntry } from '../types';
import type { RecordedRound } from './events';
import type { RoundStep } from './schedule';
import type { SecureAttempt } from './secure-round';

/**
 * The run's state as plain data (no class, no timer, no socket): what the engine returns with
 * every step and receives back with the next event. Cloned on every step, so an adapter can keep
 * old states (for a log or a test) without seeing them change.
 */

export const ROUND_STATES = ['dispatched', 'collecting', 'aggregating', 'done', 'failed'] as const;
export type RoundState = (typeof ROUND_STATES)[number];
export const TASK_STATES = ['pending', 'sent', 'received', 'rejected', 'timed-out'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const UPDATE_STATUSES = ['accepted', 'rejected', 'aggregated'] as const;
export type UpdateStatus = (typeof UPDATE_STATUSES)[number];

/** What became of one selected site in an attempt. */
export type SiteOutcome = 'waiting' | 'answered' | 'dropped';

export interface SiteTask {
  taskId: string;
  outcome: SiteOutcome;
  /** The task's transfer: still sending, delivered (acknowledged) or failed. */
  delivery: 'sending' | 'delivered' | 'failed';
  /** Disconnected mid-round: dropped at this time unless its status after reconnecting keeps it. */
  graceUntil?: number;
  dropReason?: string;
}

/** One attempt of a round: the sites asked, their answers, its deadline. */
export interface AttemptState {
  /** 1 for this run's first attempt of the round since the engine (re)started. */
  number: number;
  /** The attempt number across restarts, as stored with tasks and in task ids. */
  storedAttempt: number;
  deadlineMs: number;
  config: TaskConfigDto;
  /** By site id, inserted in site-id order. */
  sites: Record<string, SiteTask>;
  updates: Record<string, UpdateEntry & { digest: string }>;
  evaluations: Record<string, EvalResultBody>;
  /** Every task settled (delivered or failed) and the round recorded as collecting. */
  collecting: boolean;
  /** A training attempt with secure aggregation: its SecAgg steps (secure-round.ts). */
  secure?: SecureAttempt;
}

export interface RoundRun {
  step: RoundStep;
  /** The model the round sends: the global, or a site's local model in a cross-site round. */
  modelDigest: string;
  /** selecting: waiting for a quorum of linked sites; open: collecting; aggregating: folding. */
  phase: 'selecting' | 'open' | 'aggregating';
  /** While selecting: dispatch anyway (to whoever is linked) at this time. */
  selectUntil: number;
  /** The store's last attempt of this round before this process (task ids stay unique). */
  attemptBase: number;
  attemptsDone: number;
  attempt?: AttemptState;
}

export type RunPhase =
  'not-started' | 'waiting-for-sites' | 'restoring' | 'running' | 'building-local-models' | 'ended';

export interface EngineState {
  runId: string;
  phase: RunPhase;
  /** Linked sites, in site-id order. */
  linked: string[];
  /** The store's rounds of this run, by `roundKey`. */
  recorded: Record<string, RecordedRound>;
  /** Known model sizes by digest (a task's update limit derives from its model's size). */
  modelBytes: Record<string, number>;
  /** The current global model (training rounds move it; evaluation rounds read it). */
  global?: string;
  /** The plan's rounds, cross-site rounds appended once their models are built. */
  steps: RoundStep[];
  /** Index in `steps` of the round to run next (or running now). */
  next: number;
  /** While waiting for the first quorum of sites. */
  waitUntil?: number;
  /** The strategy's server state was restored (or needed no restoring) before training. */
  strategyReady: boolean;
  /** The last training round the store had as done: whose saved strategy state to restore. */
  lastDoneTraining?: RoundStep;
  crossSiteBuilt: boolean;
  /** Cross-site rounds: each site's local model digest. */
  localModels: Record<string, string>;
  round?: RoundRun;
  /** The wake-up last asked for. */
  wakeAt?: number;
  ended?: { outcome: 'complete' | 'fail' | 'stopped'; reason?: string; finalDigest?: string };
}

/**
 * Rows the coordinator persists, in the shape services use (camelCase, ISO-8601 times). Both the
 * SQLite store and a later PostgreSQL store map their columns to exactly these records.
 */

export interface SiteRecord {
  id: string;
  publicKey: string;
  fingerprint: string;
  enrolledAt: string;
  revokedAt?: string;
  revokedReason?: string;
}

export const RUN_STATES = ['created', 'running', 'completed', 'failed', 'stopped'] as const;
export type RunState = (typeof RUN_STATES)[number];

export interface RunRecord {
  id: string;
  name: string;
  /** The validated plan as canonical JSON text: what the run was created with, never edited. */
  planJson: string;
  /** SHA-512 hex of `planJson`, so reports can say exactly which plan produced a result. */
  planDigest: string;
  state: RunState;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  /** Why the run failed or was stopped. */
  reason?: string;
}

export const ROUND_STATES = ['dispatched', 'collecting', 'aggregating', 'done', 'failed'] as const;
export type RoundState = (typeof ROUND_STATES)[number];

export interface RoundRecord {
  runId: string;
  /** 'ssl' | 'finetune' | 'evaluate' (libs/protocol STAGES). */
  stage: string;
  round: number;
  state: RoundState;
  /** Digest of the global weights the round started from (absent for a first SSL round). */
  inputDigest?: string;
  /** Digest of the aggregated weights, once aggregated. */
  outputDigest?: string;
  startedAt: string;
  deadlineAt: string;
  endedAt?: string;
  reason?: string;
}

export const TASK_STATES = ['pending', 'sent', 'received', 'rejected', 'timed-out'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export interface TaskRecord {
  id: string;
  runId: string;
  stage: string;
  round: number;
  siteId: string;
  state: TaskState;
  createdAt: string;
  attempts: number;
}

export const UPDATE_STATUSES = ['accepted', 'rejected', 'aggregated'] as const;
export type UpdateStatus = (typeof UPDATE_STATUSES)[number];

/** Metadata of one site update; the weights themselves live in the blob store under `digest`. */
export interface UpdateRecord {
  id?: number;
  taskId: string;
  runId: string;
  stage: string;
  round: number;
  siteId: string;
  digest: string;
  signature: string;
  bytes: number;
  nSamples: number;
  encoding: string;
  status: UpdateStatus;
  rejectReason?: string;
  receivedAt: string;
  /** When retention deleted the update's blob (models/update-retention.ts); the row stays. */
  blobDeletedAt?: string;
}

export interface MetricRecord {
  runId: string;
  stage?: string;
  round?: number;
  /** Absent for a coordinator-side (global) metric. */
  siteId?: string;
  name: string;
  value: number;
  recordedAt: string;
}

/** One site's evaluation of one model: aggregate numbers only, never per-patient values. */
export interface EvaluationRecord {
  runId: string;
  modelDigest: string;
  /** Whose model: 'global', or a site id for the cross-site matrix. */
  modelOf: string;
  /** Where it was evaluated. */
  siteId: string;
  /** The evaluation round that produced it: stage 'evaluate' and its round (rounds/run-schedule.ts). */
  stage?: string;
  round?: number;
  n: number;
  nPositive: number;
  auc?: number;
  aucLow?: number;
  aucHigh?: number;
  /** Score histograms (per class) for the pooled AUC; JSON-serialisable. */
  histograms?: unknown;
  recordedAt: string;
}

/**
 * A strategy's server state after one training round (FedAdam's moments and step). The tensors
 * live in the blob store under `stateDigest` (weight codec, float32); a restart restores the row
 * of the last finished training round, so the resumed run continues bit for bit.
 */
export interface StrategyStateRecord {
  runId: string;
  stage: string;
  round: number;
  /** The strategy's name, checked on restore. */
  strategy: string;
  stateDigest: string;
  /** Number of state tensors (0 is never stored: stateless strategies write no row). */
  tensors: number;
  recordedAt: string;
}

export interface AuditRecord {
  id: number;
  at: string;
  /** Who: `admin:<token fingerprint>`, `site:<id>`, `anonymous@<ip>`, or `coordinator`. */
  actor: string;
  /** What, as a stable dotted name: `runs.create`, `sites.revoke`, `auth.denied`, `message.rejected`. */
  action: string;
  target?: string;
  /** `ok`, `denied`, `rejected` or `error`. */
  outcome: string;
  detail?: Record<string, unknown>;
}

export type NewAuditRecord = Omit<AuditRecord, 'id' | 'at'> & { at?: string };

export interface AuditQuery {
  /** Return entries with id < before (paging backwards from the newest). */
  before?: number;
  limit: number;
  action?: string;
  actor?: string;
  outcome?: string;
  target?: string;
}

import { Generated } from 'kysely';

/**
 * The tables as Kysely sees them through its CamelCasePlugin: camelCase here, snake_case in SQL.
 * Nullable columns are `T | null`; the repositories turn NULL into an absent field, so records
 * (records.ts) never carry `null`. One schema for SQLite and PostgreSQL (migrations.ts).
 */
export interface SitesTable {
  id: string;
  publicKey: string;
  fingerprint: string;
  enrolledAt: string;
  revokedAt: string | null;
  revokedReason: string | null;
}

export interface RunsTable {
  id: string;
  name: string;
  planJson: string;
  planDigest: string;
  state: string;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  reason: string | null;
}

export interface RoundsTable {
  runId: string;
  stage: string;
  round: number;
  state: string;
  inputDigest: string | null;
  outputDigest: string | null;
  startedAt: string;
  deadlineAt: string;
  endedAt: string | null;
  reason: string | null;
  /** Insertion order within a run (migration 3): the tie-break after started_at. */
  seq: number | null;
}

export interface TasksTable {
  id: string;
  runId: string;
  stage: string;
  round: number;
  siteId: string;
  state: string;
  createdAt: string;
  attempts: number;
}

export interface UpdatesTable {
  id: Generated<number>;
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
  status: string;
  rejectReason: string | null;
  receivedAt: string;
  /** When retention deleted the update's blob (migration 3); the digest stays for the audit. */
  blobDeletedAt: string | null;
}

export interface MetricsTable {
  id: Generated<number>;
  runId: string;
  stage: string | null;
  round: number | null;
  siteId: string | null;
  name: string;
  value: number;
  recordedAt: string;
}

export interface EvaluationResultsTable {
  id: Generated<number>;
  runId: string;
  modelDigest: string;
  modelOf: string;
  siteId: string;
  stage: string | null;
  round: number | null;
  n: number;
  nPositive: number;
  auc: number | null;
  aucLow: number | null;
  aucHigh: number | null;
  /** JSON text. */
  histograms: string | null;
  recordedAt: string;
}

export interface StrategyStatesTable {
  runId: string;
  stage: string;
  round: number;
  strategy: string;
  stateDigest: string;
  tensors: number;
  recordedAt: string;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  /** JSON text. */
  detail: string | null;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface StoreSchema {
  sites: SitesTable;
  runs: RunsTable;
  rounds: RoundsTable;
  tasks: TasksTable;
  updates: UpdatesTable;
  metrics: MetricsTable;
  evaluationResults: EvaluationResultsTable;
  strategyStates: StrategyStatesTable;
  auditLog: AuditLogTable;
  settings: SettingsTable;
}

/** Which SQL dialect a store speaks; the only place migrations differ. */
export type StoreDialect = 'sqlite' | 'postgres';

import {
  AuditQuery,
  AuditRecord,
  EvaluationRecord,
  MetricRecord,
  NewAuditRecord,
  RoundRecord,
  RunRecord,
  SiteRecord,
  StrategyStateRecord,
  TaskRecord,
  UpdateRecord,
} from './records';

/**
 * The persistence contract. Every method returns a Promise even though better-sqlite3 is
 * synchronous, so a PostgreSQL store (a network client) can implement the same interfaces
 * without touching a single service.
 */

export interface SitesRepository {
  /** Inserts or refreshes a site from the provisioning registry; never clears a revocation. */
  upsert(site: SiteRecord): Promise<void>;
  get(id: string): Promise<SiteRecord | undefined>;
  list(): Promise<SiteRecord[]>;
  revoke(id: string, at: string, reason: string): Promise<SiteRecord | undefined>;
  /** Clears a revocation: the site was provisioned again with a new key (docs/PROTOCOL.md §2.2). */
  readmit(id: string): Promise<void>;
}

export interface RunsRepository {
  insert(run: RunRecord): Promise<void>;
  get(id: string): Promise<RunRecord | undefined>;
  list(): Promise<RunRecord[]>;
  /**
   * Moves a run from one of `from` to `to` in one statement; returns the updated run, or
   * undefined if the run was not in one of `from` (someone else moved it first).
   */
  transition(
    id: string,
    from: readonly RunRecord['state'][],
    to: RunRecord['state'],
    changes: Pick<RunRecord, 'startedAt' | 'endedAt' | 'reason'>,
  ): Promise<RunRecord | undefined>;
}

export interface RoundsRepository {
  insert(round: RoundRecord): Promise<void>;
  get(runId: string, stage: string, round: number): Promise<RoundRecord | undefined>;
  listForRun(runId: string): Promise<RoundRecord[]>;
  update(
    runId: string,
    stage: string,
    round: number,
    changes: Partial<Pick<RoundRecord, 'state' | 'outputDigest' | 'endedAt' | 'reason'>>,
  ): Promise<void>;
  /** The earliest round of a run that is neither done nor failed: where a restart resumes. */
  firstUnfinished(runId: string): Promise<RoundRecord | undefined>;
}

export interface TasksRepository {
  insert(task: TaskRecord): Promise<void>;
  get(id: string): Promise<TaskRecord | undefined>;
  listForRound(runId: string, stage: string, round: number): Promise<TaskRecord[]>;
  setState(id: string, state: TaskRecord['state'], attempts?: number): Promise<void>;
}

export interface UpdatesRepository {
  insert(update: UpdateRecord): Promise<number>;
  listForRound(runId: string, stage: string, round: number): Promise<UpdateRecord[]>;
  setStatus(id: number, status: UpdateRecord['status'], rejectReason?: string): Promise<void>;
}

export interface MetricsRepository {
  insertMany(metrics: MetricRecord[]): Promise<void>;
  listForRun(runId: string): Promise<MetricRecord[]>;
}

export interface EvaluationsRepository {
  insert(result: EvaluationRecord): Promise<void>;
  listForRun(runId: string): Promise<EvaluationRecord[]>;
}

export interface StrategyStatesRepository {
  /** Stores (or replaces, when a round is re-run after a restart) the state after a round. */
  put(state: StrategyStateRecord): Promise<void>;
  get(runId: string, stage: string, round: number): Promise<StrategyStateRecord | undefined>;
}

/** Append-only: there is deliberately no update or delete. */
export interface AuditRepository {
  append(entry: NewAuditRecord): Promise<AuditRecord>;
  query(query: AuditQuery): Promise<AuditRecord[]>;
}

/** Small named values the coordinator keeps between starts (e.g. the admin token's hash). */
export interface SettingsRepository {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

/** Counts the coordinator's /metrics reads at scrape time (aggregates over all runs). */
export interface StatsRepository {
  runsByState(): Promise<{ state: string; count: number }[]>;
  roundsByState(): Promise<{ state: string; count: number }[]>;
  /** Updates by status and refusal reason (absent for accepted/aggregated), with their bytes. */
  updatesByOutcome(): Promise<{ status: string; reason?: string; count: number; bytes: number }[]>;
  /** Start and end of every finished round, for the round duration histogram. */
  finishedRounds(): Promise<{ stage: string; startedAt: string; endedAt: string }[]>;
  /** When each site's latest update arrived. */
  lastUpdatePerSite(): Promise<{ siteId: string; at: string }[]>;
}

/**
 * Retention of per-site update blobs: the updates of folded rounds whose blobs may go, and the
 * mark that they went (the row, digest and signature stay as evidence).
 */
export interface RetentionRepository {
  /**
   * Updates (not yet retired) of rounds that ended `done` and are older than the newest
   * `keepRounds` done rounds of their run and stage.
   */
  retirable(
    keepRounds: number,
  ): Promise<{ id: number; digest: string; runId: string; stage: string; round: number }[]>;
  markRetired(ids: number[], at: string): Promise<void>;
  /** Whether any update row not yet retired still names this digest (equal bytes are stored once). */
  digestStillNeeded(digest: string): Promise<boolean>;
}

export interface CoordinatorStore {
  readonly kind: string;
  readonly sites: SitesRepository;
  readonly runs: RunsRepository;
  readonly rounds: RoundsRepository;
  readonly tasks: TasksRepository;
  readonly updates: UpdatesRepository;
  readonly metrics: MetricsRepository;
  readonly evaluations: EvaluationsRepository;
  readonly strategyStates: StrategyStatesRepository;
  readonly audit: AuditRepository;
  readonly settings: SettingsRepository;
  readonly stats: StatsRepository;
  readonly retention: RetentionRepository;
  /** Versions of the migrations applied, in order. */
  migrations(): Promise<number[]>;
  /** Cheap round trip for /health. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Nest injection token for the CoordinatorStore. */
export const COORDINATOR_STORE = Symbol('COORDINATOR_STORE');

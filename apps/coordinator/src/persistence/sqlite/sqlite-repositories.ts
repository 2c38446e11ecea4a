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
} from '../records';
import {
  AuditRepository,
  EvaluationsRepository,
  MetricsRepository,
  RoundsRepository,
  RunsRepository,
  SettingsRepository,
  SitesRepository,
  StrategyStatesRepository,
  TasksRepository,
  UpdatesRepository,
} from '../repositories';
import { SqliteDatabase } from './open-database';
import { fromRow, Row, toParams } from './rows';

export class SqliteSitesRepository implements SitesRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async upsert(site: SiteRecord): Promise<void> {
    // A revocation recorded here survives a registry that still lists the site as active.
    this.db
      .prepare(
        `INSERT INTO sites (id, public_key, fingerprint, enrolled_at, revoked_at, revoked_reason)
         VALUES (@id, @publicKey, @fingerprint, @enrolledAt, @revokedAt, @revokedReason)
         ON CONFLICT (id) DO UPDATE SET
           public_key = excluded.public_key, fingerprint = excluded.fingerprint,
           enrolled_at = excluded.enrolled_at,
           revoked_at = COALESCE(sites.revoked_at, excluded.revoked_at),
           revoked_reason = COALESCE(sites.revoked_reason, excluded.revoked_reason)`,
      )
      .run(
        toParams({ ...site }, ['id', 'publicKey', 'fingerprint', 'enrolledAt', 'revokedAt', 'revokedReason']),
      );
  }

  async get(id: string): Promise<SiteRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM sites WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow<SiteRecord>(row);
  }

  async list(): Promise<SiteRecord[]> {
    return (this.db.prepare('SELECT * FROM sites ORDER BY id').all() as Row[]).map((r) =>
      fromRow<SiteRecord>(r),
    );
  }

  async revoke(id: string, at: string, reason: string): Promise<SiteRecord | undefined> {
    this.db
      .prepare('UPDATE sites SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL')
      .run(at, reason, id);
    return this.get(id);
  }

  async readmit(id: string): Promise<void> {
    this.db.prepare('UPDATE sites SET revoked_at = NULL, revoked_reason = NULL WHERE id = ?').run(id);
  }
}

export class SqliteRunsRepository implements RunsRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async insert(run: RunRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO runs (id, name, plan_json, plan_digest, state, created_at, started_at, ended_at, reason)
         VALUES (@id, @name, @planJson, @planDigest, @state, @createdAt, @startedAt, @endedAt, @reason)`,
      )
      .run(
        toParams({ ...run }, [
          'id',
          'name',
          'planJson',
          'planDigest',
          'state',
          'createdAt',
          'startedAt',
          'endedAt',
          'reason',
        ]),
      );
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow<RunRecord>(row);
  }

  async list(): Promise<RunRecord[]> {
    return (this.db.prepare('SELECT * FROM runs ORDER BY created_at, id').all() as Row[]).map((r) =>
      fromRow<RunRecord>(r),
    );
  }

  async transition(
    id: string,
    from: readonly RunRecord['state'][],
    to: RunRecord['state'],
    changes: Pick<RunRecord, 'startedAt' | 'endedAt' | 'reason'>,
  ): Promise<RunRecord | undefined> {
    const placeholders = from.map(() => '?').join(', ');
    const result = this.db
      .prepare(
        `UPDATE runs SET state = ?, started_at = COALESCE(?, started_at), ended_at = COALESCE(?, ended_at),
           reason = COALESCE(?, reason)
         WHERE id = ? AND state IN (${placeholders})`,
      )
      .run(to, changes.startedAt ?? null, changes.endedAt ?? null, changes.reason ?? null, id, ...from);
    return result.changes === 1 ? this.get(id) : undefined;
  }
}

export class SqliteRoundsRepository implements RoundsRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async insert(round: RoundRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO rounds (run_id, stage, round, state, input_digest, output_digest, started_at, deadline_at, ended_at, reason)
         VALUES (@runId, @stage, @round, @state, @inputDigest, @outputDigest, @startedAt, @deadlineAt, @endedAt, @reason)`,
      )
      .run(
        toParams({ ...round }, [
          'runId',
          'stage',
          'round',
          'state',
          'inputDigest',
          'outputDigest',
          'startedAt',
          'deadlineAt',
          'endedAt',
          'reason',
        ]),
      );
  }

  async get(runId: string, stage: string, round: number): Promise<RoundRecord | undefined> {
    const row = this.db
      .prepare('SELECT * FROM rounds WHERE run_id = ? AND stage = ? AND round = ?')
      .get(runId, stage, round) as Row | undefined;
    return row && fromRow<RoundRecord>(row);
  }

  async listForRun(runId: string): Promise<RoundRecord[]> {
    return (
      this.db.prepare('SELECT * FROM rounds WHERE run_id = ? ORDER BY started_at, rowid').all(runId) as Row[]
    ).map((r) => fromRow<RoundRecord>(r));
  }

  async update(
    runId: string,
    stage: string,
    round: number,
    changes: Partial<Pick<RoundRecord, 'state' | 'outputDigest' | 'endedAt' | 'reason'>>,
  ): Promise<void> {
    this.db
      .prepare(
        `UPDATE rounds SET state = COALESCE(@state, state), output_digest = COALESCE(@outputDigest, output_digest),
           ended_at = COALESCE(@endedAt, ended_at), reason = COALESCE(@reason, reason)
         WHERE run_id = @runId AND stage = @stage AND round = @round`,
      )
      .run({
        ...toParams({ ...changes }, ['state', 'outputDigest', 'endedAt', 'reason']),
        runId,
        stage,
        round,
      });
  }

  async firstUnfinished(runId: string): Promise<RoundRecord | undefined> {
    const row = this.db
      .prepare(
        `SELECT * FROM rounds WHERE run_id = ? AND state NOT IN ('done', 'failed') ORDER BY started_at, rowid LIMIT 1`,
      )
      .get(runId) as Row | undefined;
    return row && fromRow<RoundRecord>(row);
  }
}

export class SqliteTasksRepository implements TasksRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async insert(task: TaskRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO tasks (id, run_id, stage, round, site_id, state, created_at, attempts)
         VALUES (@id, @runId, @stage, @round, @siteId, @state, @createdAt, @attempts)`,
      )
      .run(
        toParams({ ...task }, ['id', 'runId', 'stage', 'round', 'siteId', 'state', 'createdAt', 'attempts']),
      );
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow<TaskRecord>(row);
  }

  async listForRound(runId: string, stage: string, round: number): Promise<TaskRecord[]> {
    return (
      this.db
        .prepare('SELECT * FROM tasks WHERE run_id = ? AND stage = ? AND round = ? ORDER BY site_id')
        .all(runId, stage, round) as Row[]
    ).map((r) => fromRow<TaskRecord>(r));
  }

  async setState(id: string, state: TaskRecord['state'], attempts?: number): Promise<void> {
    this.db
      .prepare('UPDATE tasks SET state = ?, attempts = COALESCE(?, attempts) WHERE id = ?')
      .run(state, attempts ?? null, id);
  }
}

export class SqliteUpdatesRepository implements UpdatesRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async insert(update: UpdateRecord): Promise<number> {
    const result = this.db
      .prepare(
        `INSERT INTO updates (task_id, run_id, stage, round, site_id, digest, signature, bytes, n_samples, encoding,
           status, reject_reason, received_at)
         VALUES (@taskId, @runId, @stage, @round, @siteId, @digest, @signature, @bytes, @nSamples, @encoding,
           @status, @rejectReason, @receivedAt)`,
      )
      .run(
        toParams({ ...update }, [
          'taskId',
          'runId',
          'stage',
          'round',
          'siteId',
          'digest',
          'signature',
          'bytes',
          'nSamples',
          'encoding',
          'status',
          'rejectReason',
          'receivedAt',
        ]),
      );
    return Number(result.lastInsertRowid);
  }

  async listForRound(runId: string, stage: string, round: number): Promise<UpdateRecord[]> {
    return (
      this.db
        .prepare('SELECT * FROM updates WHERE run_id = ? AND stage = ? AND round = ? ORDER BY id')
        .all(runId, stage, round) as Row[]
    ).map((r) => fromRow<UpdateRecord>(r));
  }

  async setStatus(id: number, status: UpdateRecord['status'], rejectReason?: string): Promise<void> {
    this.db
      .prepare('UPDATE updates SET status = ?, reject_reason = ? WHERE id = ?')
      .run(status, rejectReason ?? null, id);
  }
}

export class SqliteMetricsRepository implements MetricsRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async insertMany(metrics: MetricRecord[]): Promise<void> {
    const insert = this.db.prepare(
      `INSERT INTO metrics (run_id, stage, round, site_id, name, value, recorded_at)
       VALUES (@runId, @stage, @round, @siteId, @name, @value, @recordedAt)`,
    );
    this.db.transaction((rows: MetricRecord[]) => {
      for (const m of rows) {
        insert.run(toParams({ ...m }, ['runId', 'stage', 'round', 'siteId', 'name', 'value', 'recordedAt']));
      }
    })(metrics);
  }

  async listForRun(runId: string): Promise<MetricRecord[]> {
    return (
      this.db
        .prepare(
          'SELECT run_id, stage, round, site_id, name, value, recorded_at FROM metrics WHERE run_id = ? ORDER BY id',
        )
        .all(runId) as Row[]
    ).map((r) => fromRow<MetricRecord>(r));
  }
}

export class SqliteEvaluationsRepository implements EvaluationsRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async insert(result: EvaluationRecord): Promise<void> {
    const params = toParams(
      {
        ...result,
        histograms: result.histograms === undefined ? undefined : JSON.stringify(result.histograms),
      },
      [
        'runId',
        'modelDigest',
        'modelOf',
        'siteId',
        'stage',
        'round',
        'n',
        'nPositive',
        'auc',
        'aucLow',
        'aucHigh',
        'histograms',
        'recordedAt',
      ],
    );
    this.db
      .prepare(
        `INSERT INTO evaluation_results (run_id, model_digest, model_of, site_id, stage, round, n, n_positive, auc,
           auc_low, auc_high, histograms, recorded_at)
         VALUES (@runId, @modelDigest, @modelOf, @siteId, @stage, @round, @n, @nPositive, @auc, @aucLow, @aucHigh,
           @histograms, @recordedAt)`,
      )
      .run(params);
  }

  async listForRun(runId: string): Promise<EvaluationRecord[]> {
    return (
      this.db
        .prepare(
          `SELECT run_id, model_digest, model_of, site_id, stage, round, n, n_positive, auc, auc_low, auc_high,
             histograms, recorded_at
           FROM evaluation_results WHERE run_id = ? ORDER BY id`,
        )
        .all(runId) as Row[]
    ).map((r) => {
      const record = fromRow<EvaluationRecord>(r);
      if (typeof record.histograms === 'string') record.histograms = JSON.parse(record.histograms) as unknown;
      return record;
    });
  }
}

export class SqliteStrategyStatesRepository implements StrategyStatesRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async put(state: StrategyStateRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO strategy_states (run_id, stage, round, strategy, state_digest, tensors, recorded_at)
         VALUES (@runId, @stage, @round, @strategy, @stateDigest, @tensors, @recordedAt)
         ON CONFLICT (run_id, stage, round) DO UPDATE SET
           strategy = excluded.strategy, state_digest = excluded.state_digest, tensors = excluded.tensors,
           recorded_at = excluded.recorded_at`,
      )
      .run(
        toParams({ ...state }, [
          'runId',
          'stage',
          'round',
          'strategy',
          'stateDigest',
          'tensors',
          'recordedAt',
        ]),
      );
  }

  async get(runId: string, stage: string, round: number): Promise<StrategyStateRecord | undefined> {
    const row = this.db
      .prepare('SELECT * FROM strategy_states WHERE run_id = ? AND stage = ? AND round = ?')
      .get(runId, stage, round) as Row | undefined;
    return row && fromRow<StrategyStateRecord>(row);
  }
}

export class SqliteAuditRepository implements AuditRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async append(entry: NewAuditRecord): Promise<AuditRecord> {
    const at = entry.at ?? new Date().toISOString();
    const result = this.db
      .prepare('INSERT INTO audit_log (at, actor, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)')
      .run(
        at,
        entry.actor,
        entry.action,
        entry.target ?? null,
        entry.outcome,
        entry.detail === undefined ? null : JSON.stringify(entry.detail),
      );
    return { ...entry, id: Number(result.lastInsertRowid), at };
  }

  async query(query: AuditQuery): Promise<AuditRecord[]> {
    const conditions: [string, unknown][] = [];
    if (query.before !== undefined) conditions.push(['id < ?', query.before]);
    for (const field of ['action', 'actor', 'outcome', 'target'] as const) {
      if (query[field] !== undefined) conditions.push([`${field} = ?`, query[field]]);
    }
    const where = conditions.map(([sql]) => sql);
    const params = conditions.map(([, value]) => value);
    const sql = `SELECT * FROM audit_log ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...params, query.limit) as Row[]).map((r) => {
      const record = fromRow<AuditRecord & { detail?: string }>(r);
      return {
        ...record,
        detail: record.detail ? (JSON.parse(record.detail) as Record<string, unknown>) : undefined,
      };
    });
  }
}

export class SqliteSettingsRepository implements SettingsRepository {
  constructor(private readonly db: SqliteDatabase) {}

  async get(key: string): Promise<string | undefined> {
    const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row?.value;
  }

  async set(key: string, value: string): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }
}

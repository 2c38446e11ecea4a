import { Kysely, sql } from 'kysely';
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
import {
  AuditRepository,
  EvaluationsRepository,
  MetricsRepository,
  RetentionRepository,
  StatsRepository,
  RoundsRepository,
  RunsRepository,
  SettingsRepository,
  SitesRepository,
  StrategyStatesRepository,
  TasksRepository,
  UpdatesRepository,
} from './repositories';
import { StoreSchema } from './schema';

export type StoreDb = Kysely<StoreSchema>;

/** A row as a record: SQL NULL becomes an absent field, so records never carry `null`. */
function present<T>(row: object): T {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(row))
    if (value !== null && value !== undefined) out[field] = value;
  return out as T;
}

function maybe<T>(row: object | undefined): T | undefined {
  return row === undefined ? undefined : present<T>(row);
}

/** Absent optional fields as NULL, the way the tables want them. */
function nulls<T extends object>(record: T, fields: readonly (keyof T)[]): T {
  const out = { ...record } as Record<keyof T, unknown>;
  for (const f of fields) out[f] ??= null;
  return out as T;
}

/** Rows per multi-row INSERT: far below SQLite's and PostgreSQL's bound-parameter limits. */
const INSERT_CHUNK = 200;

export class KyselySitesRepository implements SitesRepository {
  constructor(private readonly db: StoreDb) {}

  async upsert(site: SiteRecord): Promise<void> {
    // A revocation recorded here survives a registry that still lists the site as active.
    await this.db
      .insertInto('sites')
      .values(nulls(site, ['revokedAt', 'revokedReason']) as never)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          publicKey: eb.ref('excluded.publicKey'),
          fingerprint: eb.ref('excluded.fingerprint'),
          enrolledAt: eb.ref('excluded.enrolledAt'),
          revokedAt: eb.fn.coalesce('sites.revokedAt', 'excluded.revokedAt'),
          revokedReason: eb.fn.coalesce('sites.revokedReason', 'excluded.revokedReason'),
        })),
      )
      .execute();
  }

  async get(id: string): Promise<SiteRecord | undefined> {
    return maybe(await this.db.selectFrom('sites').selectAll().where('id', '=', id).executeTakeFirst());
  }

  async list(): Promise<SiteRecord[]> {
    const rows = await this.db.selectFrom('sites').selectAll().orderBy('id').execute();
    return rows.map((r) => present<SiteRecord>(r));
  }

  async revoke(id: string, at: string, reason: string): Promise<SiteRecord | undefined> {
    await this.db
      .updateTable('sites')
      .set({ revokedAt: at, revokedReason: reason })
      .where('id', '=', id)
      .where('revokedAt', 'is', null)
      .execute();
    return this.get(id);
  }

  async readmit(id: string): Promise<void> {
    await this.db
      .updateTable('sites')
      .set({ revokedAt: null, revokedReason: null })
      .where('id', '=', id)
      .execute();
  }
}

export class KyselyRunsRepository implements RunsRepository {
  constructor(private readonly db: StoreDb) {}

  async insert(run: RunRecord): Promise<void> {
    await this.db
      .insertInto('runs')
      .values(nulls(run, ['startedAt', 'endedAt', 'reason']) as never)
      .execute();
  }

  async get(id: string): Promise<RunRecord | undefined> {
    return maybe(await this.db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst());
  }

  async list(): Promise<RunRecord[]> {
    const rows = await this.db.selectFrom('runs').selectAll().orderBy('createdAt').orderBy('id').execute();
    return rows.map((r) => present<RunRecord>(r));
  }

  async transition(
    id: string,
    from: readonly RunRecord['state'][],
    to: RunRecord['state'],
    changes: Pick<RunRecord, 'startedAt' | 'endedAt' | 'reason'>,
  ): Promise<RunRecord | undefined> {
    if (!from.length) return undefined;
    const row = await this.db
      .updateTable('runs')
      .set((eb) => ({
        state: to,
        startedAt: eb.fn.coalesce(eb.val(changes.startedAt ?? null), 'startedAt'),
        endedAt: eb.fn.coalesce(eb.val(changes.endedAt ?? null), 'endedAt'),
        reason: eb.fn.coalesce(eb.val(changes.reason ?? null), 'reason'),
      }))
      .where('id', '=', id)
      .where('state', 'in', from)
      .returningAll()
      .executeTakeFirst();
    return maybe(row);
  }
}

export class KyselyRoundsRepository implements RoundsRepository {
  constructor(private readonly db: StoreDb) {}

  async insert(round: RoundRecord): Promise<void> {
    await this.db
      .insertInto('rounds')
      .values((eb) => ({
        ...(nulls(round, ['inputDigest', 'outputDigest', 'endedAt', 'reason']) as Required<RoundRecord>),
        seq: eb
          .selectFrom('rounds')
          .select(sql<number>`COALESCE(MAX(seq), 0) + 1`.as('next'))
          .where('runId', '=', round.runId),
      }))
      .execute();
  }

  async get(runId: string, stage: string, round: number): Promise<RoundRecord | undefined> {
    const row = await this.db
      .selectFrom('rounds')
      .selectAll()
      .where('runId', '=', runId)
      .where('stage', '=', stage)
      .where('round', '=', round)
      .executeTakeFirst();
    return maybe(row && withoutSeq(row));
  }

  async listForRun(runId: string): Promise<RoundRecord[]> {
    const rows = await this.db
      .selectFrom('rounds')
      .selectAll()
      .where('runId', '=', runId)
      .orderBy('startedAt')
      .orderBy('seq')
      .execute();
    return rows.map((r) => present<RoundRecord>(withoutSeq(r)));
  }

  async update(
    runId: string,
    stage: string,
    round: number,
    changes: Partial<Pick<RoundRecord, 'state' | 'outputDigest' | 'endedAt' | 'reason'>>,
  ): Promise<void> {
    await this.db
      .updateTable('rounds')
      .set((eb) => ({
        state: eb.fn.coalesce(eb.val(changes.state ?? null), 'state'),
        outputDigest: eb.fn.coalesce(eb.val(changes.outputDigest ?? null), 'outputDigest'),
        endedAt: eb.fn.coalesce(eb.val(changes.endedAt ?? null), 'endedAt'),
        reason: eb.fn.coalesce(eb.val(changes.reason ?? null), 'reason'),
      }))
      .where('runId', '=', runId)
      .where('stage', '=', stage)
      .where('round', '=', round)
      .execute();
  }

  async firstUnfinished(runId: string): Promise<RoundRecord | undefined> {
    const row = await this.db
      .selectFrom('rounds')
      .selectAll()
      .where('runId', '=', runId)
      .where('state', 'not in', ['done', 'failed'])
      .orderBy('startedAt')
      .orderBy('seq')
      .limit(1)
      .executeTakeFirst();
    return maybe(row && withoutSeq(row));
  }
}

function withoutSeq<T extends { seq: unknown }>(row: T): Omit<T, 'seq'> {
  const { seq: _seq, ...rest } = row;
  return rest;
}

export class KyselyTasksRepository implements TasksRepository {
  constructor(private readonly db: StoreDb) {}

  async insert(task: TaskRecord): Promise<void> {
    await this.db.insertInto('tasks').values(task).execute();
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    return maybe(await this.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst());
  }

  async listForRound(runId: string, stage: string, round: number): Promise<TaskRecord[]> {
    const rows = await this.db
      .selectFrom('tasks')
      .selectAll()
      .where('runId', '=', runId)
      .where('stage', '=', stage)
      .where('round', '=', round)
      .orderBy('siteId')
      .execute();
    return rows.map((r) => present<TaskRecord>(r));
  }

  async setState(id: string, state: TaskRecord['state'], attempts?: number): Promise<void> {
    await this.db
      .updateTable('tasks')
      .set((eb) => ({ state, attempts: eb.fn.coalesce(eb.val(attempts ?? null), 'attempts') }))
      .where('id', '=', id)
      .execute();
  }
}

export class KyselyUpdatesRepository implements UpdatesRepository {
  constructor(private readonly db: StoreDb) {}

  async insert(update: UpdateRecord): Promise<number> {
    const { id: _id, ...fields } = update;
    const row = await this.db
      .insertInto('updates')
      .values(nulls(fields, ['rejectReason']) as never)
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async listForRound(runId: string, stage: string, round: number): Promise<UpdateRecord[]> {
    const rows = await this.db
      .selectFrom('updates')
      .selectAll()
      .where('runId', '=', runId)
      .where('stage', '=', stage)
      .where('round', '=', round)
      .orderBy('id')
      .execute();
    return rows.map((r) => present<UpdateRecord>(r));
  }

  async setStatus(id: number, status: UpdateRecord['status'], rejectReason?: string): Promise<void> {
    await this.db
      .updateTable('updates')
      .set({ status, rejectReason: rejectReason ?? null })
      .where('id', '=', id)
      .execute();
  }
}

export class KyselyMetricsRepository implements MetricsRepository {
  constructor(private readonly db: StoreDb) {}

  async insertMany(metrics: MetricRecord[]): Promise<void> {
    if (!metrics.length) return;
    const rows = metrics.map((m) => nulls(m, ['stage', 'round', 'siteId']));
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('metrics')
          .values(rows.slice(i, i + INSERT_CHUNK) as never)
          .execute();
      }
    });
  }

  async listForRun(runId: string): Promise<MetricRecord[]> {
    const rows = await this.db
      .selectFrom('metrics')
      .select(['runId', 'stage', 'round', 'siteId', 'name', 'value', 'recordedAt'])
      .where('runId', '=', runId)
      .orderBy('id')
      .execute();
    return rows.map((r) => present<MetricRecord>(r));
  }
}

export class KyselyEvaluationsRepository implements EvaluationsRepository {
  constructor(private readonly db: StoreDb) {}

  async insert(result: EvaluationRecord): Promise<void> {
    const row = {
      ...nulls(result, ['stage', 'round', 'auc', 'aucLow', 'aucHigh']),
      histograms: result.histograms === undefined ? null : JSON.stringify(result.histograms),
    };
    await this.db
      .insertInto('evaluationResults')
      .values(row as never)
      .execute();
  }

  async listForRun(runId: string): Promise<EvaluationRecord[]> {
    const rows = await this.db
      .selectFrom('evaluationResults')
      .select([
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
      ])
      .where('runId', '=', runId)
      .orderBy('id')
      .execute();
    return rows.map((r) => {
      const record = present<EvaluationRecord>(r);
      if (typeof record.histograms === 'string') record.histograms = JSON.parse(record.histograms) as unknown;
      return record;
    });
  }
}

export class KyselyStrategyStatesRepository implements StrategyStatesRepository {
  constructor(private readonly db: StoreDb) {}

  async put(state: StrategyStateRecord): Promise<void> {
    await this.db
      .insertInto('strategyStates')
      .values(state)
      .onConflict((oc) =>
        oc.columns(['runId', 'stage', 'round']).doUpdateSet((eb) => ({
          strategy: eb.ref('excluded.strategy'),
          stateDigest: eb.ref('excluded.stateDigest'),
          tensors: eb.ref('excluded.tensors'),
          recordedAt: eb.ref('excluded.recordedAt'),
        })),
      )
      .execute();
  }

  async get(runId: string, stage: string, round: number): Promise<StrategyStateRecord | undefined> {
    const row = await this.db
      .selectFrom('strategyStates')
      .selectAll()
      .where('runId', '=', runId)
      .where('stage', '=', stage)
      .where('round', '=', round)
      .executeTakeFirst();
    return maybe(row);
  }
}

export class KyselyAuditRepository implements AuditRepository {
  constructor(private readonly db: StoreDb) {}

  async append(entry: NewAuditRecord): Promise<AuditRecord> {
    const at = entry.at ?? new Date().toISOString();
    const row = await this.db
      .insertInto('auditLog')
      .values({
        at,
        actor: entry.actor,
        action: entry.action,
        target: entry.target ?? null,
        outcome: entry.outcome,
        detail: entry.detail === undefined ? null : JSON.stringify(entry.detail),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { ...entry, id: Number(row.id), at };
  }

  async query(query: AuditQuery): Promise<AuditRecord[]> {
    let select = this.db.selectFrom('auditLog').selectAll();
    if (query.before !== undefined) select = select.where('id', '<', query.before);
    for (const field of ['action', 'actor', 'outcome', 'target'] as const) {
      const value = query[field];
      if (value !== undefined) select = select.where(field, '=', value);
    }
    const rows = await select.orderBy('id', 'desc').limit(query.limit).execute();
    return rows.map((r) => {
      const record = present<AuditRecord & { detail?: string }>(r);
      return {
        ...record,
        detail: record.detail ? (JSON.parse(record.detail) as Record<string, unknown>) : undefined,
      };
    });
  }
}

export class KyselySettingsRepository implements SettingsRepository {
  constructor(private readonly db: StoreDb) {}

  async get(key: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  }

  async set(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('settings')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })))
      .execute();
  }
}

export class KyselyStatsRepository implements StatsRepository {
  constructor(private readonly db: StoreDb) {}

  async runsByState(): Promise<{ state: string; count: number }[]> {
    const rows = await this.db
      .selectFrom('runs')
      .select(['state', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('state')
      .execute();
    return rows.map((r) => ({ state: r.state, count: Number(r.count) }));
  }

  async roundsByState(): Promise<{ state: string; count: number }[]> {
    const rows = await this.db
      .selectFrom('rounds')
      .select(['state', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('state')
      .execute();
    return rows.map((r) => ({ state: r.state, count: Number(r.count) }));
  }

  async updatesByOutcome(): Promise<{ status: string; reason?: string; count: number; bytes: number }[]> {
    const rows = await this.db
      .selectFrom('updates')
      .select([
        'status',
        'rejectReason',
        (eb) => eb.fn.countAll<number>().as('count'),
        (eb) => eb.fn.sum<number>('bytes').as('bytes'),
      ])
      .groupBy(['status', 'rejectReason'])
      .execute();
    return rows.map((r) => ({
      status: r.status,
      ...(r.rejectReason === null ? {} : { reason: r.rejectReason }),
      count: Number(r.count),
      bytes: Number(r.bytes ?? 0),
    }));
  }

  async finishedRounds(): Promise<{ stage: string; startedAt: string; endedAt: string }[]> {
    const rows = await this.db
      .selectFrom('rounds')
      .select(['stage', 'startedAt', 'endedAt'])
      .where('state', '=', 'done')
      .where('endedAt', 'is not', null)
      .execute();
    return rows.map((r) => ({ stage: r.stage, startedAt: r.startedAt, endedAt: r.endedAt! }));
  }

  async lastUpdatePerSite(): Promise<{ siteId: string; at: string }[]> {
    const rows = await this.db
      .selectFrom('updates')
      .select(['siteId', (eb) => eb.fn.max('receivedAt').as('at')])
      .groupBy('siteId')
      .execute();
    return rows.map((r) => ({ siteId: r.siteId, at: String(r.at) }));
  }
}

export class KyselyRetentionRepository implements RetentionRepository {
  constructor(private readonly db: StoreDb) {}

  async retirable(
    keepRounds: number,
  ): Promise<{ id: number; digest: string; runId: string; stage: string; round: number }[]> {
    // Rank each run+stage's done rounds newest first; updates of ranks beyond keepRounds may go.
    const rows = await this.db
      .with('ranked', (db) =>
        db
          .selectFrom('rounds')
          .select([
            'runId',
            'stage',
            'round',
            sql<number>`row_number() OVER (PARTITION BY run_id, stage ORDER BY round DESC)`.as('rank'),
          ])
          .where('state', '=', 'done'),
      )
      .selectFrom('updates')
      .innerJoin('ranked', (join) =>
        join
          .onRef('ranked.runId', '=', 'updates.runId')
          .onRef('ranked.stage', '=', 'updates.stage')
          .onRef('ranked.round', '=', 'updates.round'),
      )
      .select(['updates.id', 'updates.digest', 'updates.runId', 'updates.stage', 'updates.round'])
      .where('ranked.rank', '>', keepRounds)
      .where('updates.blobDeletedAt', 'is', null)
      .orderBy('updates.id')
      .execute();
    return rows.map((r) => ({ ...r, id: Number(r.id) }));
  }

  async markRetired(ids: number[], at: string): Promise<void> {
    for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
      await this.db
        .updateTable('updates')
        .set({ blobDeletedAt: at })
        .where('id', 'in', ids.slice(i, i + INSERT_CHUNK))
        .execute();
    }
  }

  async digestStillNeeded(digest: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('updates')
      .select('id')
      .where('digest', '=', digest)
      .where('blobDeletedAt', 'is', null)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }
}

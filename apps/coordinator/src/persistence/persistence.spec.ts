import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresServer } from '../../../../test/support/postgres-server';
import { KyselyStore } from './kysely-store';
import { STORE_MIGRATIONS, StoreMigration } from './migrations';
import { openStore } from './open-store';
import { PostgresStore } from './postgres/postgres-store';
import { RunRecord } from './records';
import { SqliteStore } from './sqlite/sqlite-store';

// A database of its own per test on a shared 2-core machine: seconds, not milliseconds, on PostgreSQL.
jest.setTimeout(30_000);

const T0 = '2026-01-01T00:00:00.000Z';
const VERSIONS = STORE_MIGRATIONS.map((m) => m.version);

function run(id: string, state: RunRecord['state'] = 'created'): RunRecord {
  return { id, name: `run ${id}`, planJson: '{}', planDigest: 'd'.repeat(128), state, createdAt: T0 };
}

/** Opens a new empty database of one kind; `again` reopens the same one. */
interface StoreKind {
  name: 'sqlite' | 'postgres';
  /** Starts what the kind needs once (the PostgreSQL server). */
  setup(): Promise<void>;
  fresh(migrations?: readonly StoreMigration[]): Promise<{
    store: KyselyStore;
    again: (migrations?: readonly StoreMigration[]) => Promise<KyselyStore>;
  }>;
}

let dir: string;
let postgres: PostgresServer | undefined;
let databases = 0;

const sqliteKind: StoreKind = {
  name: 'sqlite',
  setup: async () => undefined,
  async fresh(migrations) {
    const file = join(dir, `db${++databases}`, 'state.sqlite');
    const open = async (list = STORE_MIGRATIONS) => {
      const store = SqliteStore.open(file, list);
      await store.migrations().catch(async (err) => {
        await store.close();
        throw err;
      });
      return store;
    };
    return { store: await open(migrations), again: open };
  },
};

const postgresKind: StoreKind = {
  name: 'postgres',
  async setup() {
    postgres ??= await PostgresServer.start();
  },
  async fresh(migrations) {
    if (!postgres) throw new Error('the PostgreSQL server did not start');
    const url = await postgres.createDatabase(`store_${++databases}`);
    const open = (list = STORE_MIGRATIONS) => PostgresStore.open(url, list);
    return { store: await open(migrations), again: open };
  },
};

beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-store-'))));
afterAll(async () => {
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each([sqliteKind, postgresKind])('$name store', (kind) => {
  let store: KyselyStore;
  beforeAll(() => kind.setup(), 120_000);
  beforeEach(async () => ({ store } = await kind.fresh()));
  afterEach(() => store.close());

  it('migrates a new database once and keeps data across reopen', async () => {
    expect(await store.migrations()).toEqual(VERSIONS);
    expect(store.kind).toBe(kind.name);
    await store.close();
    const first = await kind.fresh();
    await first.store.runs.insert(run('r1'));
    await first.store.close();
    store = await first.again();
    expect(await store.migrations()).toEqual(VERSIONS);
    expect((await store.runs.get('r1'))?.name).toBe('run r1');
  });

  it('applies only newer migrations and refuses a database from a newer build', async () => {
    await store.close();
    const old = await kind.fresh(STORE_MIGRATIONS.slice(0, 1));
    expect(await old.store.migrations()).toEqual([1]);
    await old.store.close();
    store = await old.again();
    expect(await store.migrations()).toEqual(VERSIONS);
    await store.close();
    const later: StoreMigration = {
      version: 99,
      name: '0099_later',
      statements: () => ['CREATE TABLE later (x INTEGER)'],
    };
    store = await old.again([...STORE_MIGRATIONS, later]);
    expect(await store.migrations()).toEqual([...VERSIONS, 99]);
    await store.close();
    await expect(old.again()).rejects.toMatchObject({ message: expect.stringMatching(/99.*newer phcc-fed/) });
    ({ store } = await kind.fresh());
  });

  it('moves a run only from the states allowed', async () => {
    await store.runs.insert(run('r1'));
    expect(await store.runs.transition('r1', ['running'], 'completed', {})).toBeUndefined();
    const started = await store.runs.transition('r1', ['created'], 'running', { startedAt: T0 });
    expect(started).toMatchObject({ state: 'running', startedAt: T0 });
    expect(started).not.toHaveProperty('endedAt');
    expect(await store.runs.transition('r1', ['created'], 'running', { startedAt: T0 })).toBeUndefined();
    // Driver errors can come from another jest realm, where `toThrow` does not see an Error.
    await expect(store.runs.insert(run('r1'))).rejects.toMatchObject({
      message: expect.stringMatching(/UNIQUE|unique constraint/),
    });
  });

  it('keeps a revocation when the registry is synced again', async () => {
    const site = { id: 'hospital-a', publicKey: 'k', fingerprint: 'f', enrolledAt: T0 };
    await store.sites.upsert(site);
    await store.sites.revoke('hospital-a', T0, 'key lost');
    await store.sites.upsert({ ...site, publicKey: 'k2' });
    expect(await store.sites.get('hospital-a')).toEqual({
      ...site,
      publicKey: 'k2',
      revokedAt: T0,
      revokedReason: 'key lost',
    });
  });

  it('finds the first unfinished round in insertion order, with tasks and updates linked to it', async () => {
    await store.runs.insert(run('r1', 'running'));
    await store.sites.upsert({ id: 's1', publicKey: 'k', fingerprint: 'f', enrolledAt: T0 });
    // Same start time: the order of insertion decides (SQLite's rowid did before migration 3).
    const base = { runId: 'r1', deadlineAt: T0, startedAt: '2026-01-01T00:00:01Z' };
    await store.rounds.insert({ ...base, stage: 'ssl', round: 1, state: 'done' });
    await store.rounds.insert({ ...base, stage: 'ssl', round: 2, state: 'collecting' });
    await store.rounds.insert({ ...base, stage: 'finetune', round: 1, state: 'dispatched' });
    expect((await store.rounds.listForRun('r1')).map((r) => `${r.stage}/${r.round}`)).toEqual([
      'ssl/1',
      'ssl/2',
      'finetune/1',
    ]);
    expect(await store.rounds.firstUnfinished('r1')).toEqual({
      ...base,
      stage: 'ssl',
      round: 2,
      state: 'collecting',
    });
    await store.rounds.update('r1', 'ssl', 2, { state: 'done', outputDigest: 'a'.repeat(128) });
    expect((await store.rounds.get('r1', 'ssl', 2))?.outputDigest).toBe('a'.repeat(128));
    expect((await store.rounds.firstUnfinished('r1'))?.stage).toBe('finetune');

    const task = {
      id: 't1',
      runId: 'r1',
      stage: 'ssl',
      round: 2,
      siteId: 's1',
      state: 'sent' as const,
      createdAt: T0,
      attempts: 1,
    };
    await store.tasks.insert(task);
    await store.tasks.setState('t1', 'received');
    expect(await store.tasks.get('t1')).toEqual({ ...task, state: 'received' });
    await expect(store.tasks.insert({ ...task, id: 't2', round: 9 })).rejects.toMatchObject({
      message: expect.stringMatching(/FOREIGN KEY|foreign key/),
    });
    const update = {
      taskId: 't1',
      runId: 'r1',
      stage: 'ssl',
      round: 2,
      siteId: 's1',
      digest: 'b'.repeat(128),
      signature: 'sig',
      bytes: 1234,
      nSamples: 40,
      encoding: 'float16',
      status: 'accepted' as const,
      receivedAt: T0,
    };
    const id = await store.updates.insert(update);
    await store.updates.setStatus(id, 'rejected', 'norm outlier');
    expect(await store.updates.listForRound('r1', 'ssl', 2)).toEqual([
      { ...update, id, status: 'rejected', rejectReason: 'norm outlier' },
    ]);
  });

  it('stores metrics and evaluation results per run', async () => {
    await store.runs.insert(run('r1'));
    await store.metrics.insertMany([
      { runId: 'r1', stage: 'ssl', round: 1, siteId: 's1', name: 'loss', value: 0.5, recordedAt: T0 },
      { runId: 'r1', name: 'global.loss', value: 0.1 + 0.2, recordedAt: T0 },
    ]);
    expect((await store.metrics.listForRun('r1')).map((m) => [m.name, m.value, m.siteId])).toEqual([
      ['loss', 0.5, 's1'],
      // Double precision on both: a REAL column in PostgreSQL would round this to float32.
      ['global.loss', 0.1 + 0.2, undefined],
    ]);
    const evaluation = {
      runId: 'r1',
      modelDigest: 'c'.repeat(128),
      modelOf: 'global',
      siteId: 's1',
      stage: 'evaluate',
      round: 3,
      n: 30,
      nPositive: 10,
      auc: 0.8,
      histograms: { pos: [1, 2], neg: [3, 4] },
      recordedAt: T0,
    };
    await store.evaluations.insert(evaluation);
    expect(await store.evaluations.listForRun('r1')).toEqual([evaluation]);
  });

  it('keeps the audit log append-only and pages it newest first with filters', async () => {
    for (let i = 0; i < 5; i++) {
      await store.audit.append({
        actor: 'admin',
        action: i % 2 ? 'runs.create' : 'sites.revoke',
        outcome: 'ok',
        detail: { i },
      });
    }
    const page1 = await store.audit.query({ limit: 2 });
    expect(page1.map((e) => e.id)).toEqual([5, 4]);
    const page2 = await store.audit.query({ limit: 2, before: 4 });
    expect(page2.map((e) => e.id)).toEqual([3, 2]);
    expect((await store.audit.query({ limit: 10, action: 'runs.create' })).map((e) => e.detail)).toEqual([
      { i: 3 },
      { i: 1 },
    ]);
    const appendOnly = { message: expect.stringMatching(/append-only/) };
    await expect(sql`DELETE FROM audit_log`.execute(store.db)).rejects.toMatchObject(appendOnly);
    await expect(sql`UPDATE audit_log SET outcome = 'x'`.execute(store.db)).rejects.toMatchObject(appendOnly);
    expect(await store.audit.query({ limit: 10 })).toHaveLength(5);
  });

  it('migration 2 marks the evaluation rows written before it as the final evaluation (evaluate/0)', async () => {
    await store.close();
    const v1 = await kind.fresh(STORE_MIGRATIONS.slice(0, 1));
    await sql`INSERT INTO runs (id, name, plan_json, plan_digest, state, created_at) VALUES ('r1', 'r', '{}', 'd', 'completed', ${T0})`.execute(
      v1.store.db,
    );
    await sql`INSERT INTO evaluation_results (run_id, model_digest, model_of, site_id, n, n_positive, recorded_at)
       VALUES ('r1', 'm', 'global', 's1', 4, 2, ${T0})`.execute(v1.store.db);
    await v1.store.close();
    store = await v1.again();
    expect(await store.migrations()).toEqual(VERSIONS);
    expect(await store.evaluations.listForRun('r1')).toEqual([
      {
        runId: 'r1',
        modelDigest: 'm',
        modelOf: 'global',
        siteId: 's1',
        stage: 'evaluate',
        round: 0,
        n: 4,
        nPositive: 2,
        recordedAt: T0,
      },
    ]);
  });

  it("keeps a strategy's state per round, replaced when a round is re-run", async () => {
    await store.runs.insert(run('r1', 'running'));
    const state = {
      runId: 'r1',
      stage: 'finetune',
      round: 1,
      strategy: 'fedadam',
      stateDigest: 'e'.repeat(128),
      tensors: 3,
      recordedAt: T0,
    };
    expect(await store.strategyStates.get('r1', 'finetune', 1)).toBeUndefined();
    await store.strategyStates.put(state);
    await store.strategyStates.put({ ...state, stateDigest: 'f'.repeat(128) });
    expect(await store.strategyStates.get('r1', 'finetune', 1)).toEqual({
      ...state,
      stateDigest: 'f'.repeat(128),
    });
    expect(await store.strategyStates.get('r1', 'ssl', 1)).toBeUndefined();
  });

  it('counts for /metrics and finds the update blobs retention may delete', async () => {
    await store.runs.insert(run('r1', 'running'));
    await store.sites.upsert({ id: 's1', publicKey: 'k', fingerprint: 'f', enrolledAt: T0 });
    const ids: number[] = [];
    for (const round of [1, 2, 3]) {
      const at = `2026-01-01T00:0${round}:00.000Z`;
      const done = round < 3;
      await store.rounds.insert({
        runId: 'r1',
        stage: 'ssl',
        round,
        state: done ? 'done' : 'collecting',
        startedAt: at,
        deadlineAt: T0,
        ...(done ? { endedAt: `2026-01-01T00:0${round}:30.000Z` } : {}),
      });
      const taskId = `t${round}`;
      await store.tasks.insert({
        id: taskId,
        runId: 'r1',
        stage: 'ssl',
        round,
        siteId: 's1',
        state: 'received',
        createdAt: at,
        attempts: 1,
      });
      const update = {
        taskId,
        runId: 'r1',
        stage: 'ssl',
        round,
        siteId: 's1',
        signature: 's',
        nSamples: 4,
        encoding: 'float16',
        receivedAt: at,
      };
      ids.push(
        await store.updates.insert({
          ...update,
          digest: `d${round}`,
          bytes: 100,
          status: done ? 'aggregated' : 'accepted',
        }),
      );
      if (round === 2)
        await store.updates.insert({
          ...update,
          digest: 'bad',
          bytes: 7,
          status: 'rejected',
          rejectReason: 'NORM_OUTLIER',
        });
    }
    expect(await store.stats.runsByState()).toEqual([{ state: 'running', count: 1 }]);
    expect(sortBy(await store.stats.roundsByState(), 'state')).toEqual([
      { state: 'collecting', count: 1 },
      { state: 'done', count: 2 },
    ]);
    expect(sortBy(await store.stats.updatesByOutcome(), 'status')).toEqual([
      { status: 'accepted', count: 1, bytes: 100 },
      { status: 'aggregated', count: 2, bytes: 200 },
      { status: 'rejected', reason: 'NORM_OUTLIER', count: 1, bytes: 7 },
    ]);
    expect(await store.stats.finishedRounds()).toHaveLength(2);
    expect(await store.stats.lastUpdatePerSite()).toEqual([{ siteId: 's1', at: '2026-01-01T00:03:00.000Z' }]);

    // Keep the newest done round's updates: round 1's (the aggregated and nothing else) may go.
    const retirable = await store.retention.retirable(1);
    expect(retirable.map((u) => [u.id, u.digest, u.round])).toEqual([[ids[0], 'd1', 1]]);
    expect(await store.retention.digestStillNeeded('d1')).toBe(true);
    await store.retention.markRetired([ids[0]], T0);
    expect(await store.retention.retirable(1)).toEqual([]);
    expect(await store.retention.digestStillNeeded('d1')).toBe(false);
    expect((await store.retention.retirable(0)).map((u) => u.digest).sort()).toEqual(['bad', 'd2']);
  });

  it('keeps settings', async () => {
    expect(await store.settings.get('k')).toBeUndefined();
    await store.settings.set('k', 'v1');
    await store.settings.set('k', 'v2');
    expect(await store.settings.get('k')).toBe('v2');
    expect(await store.ping()).toBe(true);
  });
});

describe('SqliteStore file', () => {
  it('is WAL, and the database and its WAL are readable by their owner only', async () => {
    const file = join(dir, 'modes', 'state.sqlite');
    const store = await openStore(file);
    expect((store as SqliteStore).journalMode()).toBe('wal');
    await store.runs.insert(run('r1'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'modes')).mode & 0o777).toBe(0o700);
    await store.close();
  });

  it('adopts a database written by the hand-written migrator of phcc-fed 0.1', async () => {
    const file = join(dir, 'legacy.sqlite');
    const legacy = new Database(file);
    for (const statement of STORE_MIGRATIONS[0].statements('sqlite')) legacy.exec(statement);
    legacy.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    legacy.prepare(`INSERT INTO schema_migrations VALUES (1, 'initial schema', ?)`).run(T0);
    legacy
      .prepare(
        `INSERT INTO runs (id, name, plan_json, plan_digest, state, created_at) VALUES ('r1', 'r', '{}', 'd', 'created', ?)`,
      )
      .run(T0);
    legacy.close();
    const store = await openStore(file);
    expect(await store.migrations()).toEqual(VERSIONS);
    expect((await store.runs.get('r1'))?.state).toBe('created');
    await store.close();
  });
});

function sortBy<T>(rows: T[], key: keyof T): T[] {
  return [...rows].sort((a, b) => String(a[key]).localeCompare(String(b[key])));
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqlite/sqlite-store';
import { migrate } from './sqlite/open-database';
import { SQLITE_MIGRATIONS } from './sqlite/migrations';
import { RunRecord } from './records';

const T0 = '2026-01-01T00:00:00.000Z';

function run(id: string, state: RunRecord['state'] = 'created'): RunRecord {
  return { id, name: `run ${id}`, planJson: '{}', planDigest: 'd'.repeat(128), state, createdAt: T0 };
}

describe('SqliteStore', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-store-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates a new file once, in WAL mode, and keeps data across reopen', async () => {
    const file = join(dir, 'sub', 'state.sqlite');
    const store = SqliteStore.open(file);
    expect(store.journalMode()).toBe('wal');
    expect(await store.migrations()).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
    await store.runs.insert(run('r1'));
    await store.close();

    const again = SqliteStore.open(file);
    expect(await again.migrations()).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
    expect((await again.runs.get('r1'))?.name).toBe('run r1');
    await again.close();
  });

  it('applies only newer migrations and refuses a database from a newer build', () => {
    const db = new Database(':memory:');
    expect(migrate(db, SQLITE_MIGRATIONS.slice(0, 1))).toEqual([1]);
    expect(migrate(db, SQLITE_MIGRATIONS.slice(0, 1))).toEqual([]);
    const extra = { version: 99, name: 'later', sql: 'CREATE TABLE later (x INTEGER)' };
    expect(migrate(db, [...SQLITE_MIGRATIONS, extra])).toEqual([
      ...SQLITE_MIGRATIONS.slice(1).map((m) => m.version),
      99,
    ]);
    expect(() => migrate(db, SQLITE_MIGRATIONS)).toThrow(/99.*newer phcc-fed/);
    db.close();
  });

  it('moves a run only from the states allowed', async () => {
    const store = SqliteStore.open(':memory:');
    await store.runs.insert(run('r1'));
    expect(await store.runs.transition('r1', ['running'], 'completed', {})).toBeUndefined();
    const started = await store.runs.transition('r1', ['created'], 'running', { startedAt: T0 });
    expect(started).toMatchObject({ state: 'running', startedAt: T0 });
    expect(started).not.toHaveProperty('endedAt');
    expect(await store.runs.transition('r1', ['created'], 'running', { startedAt: T0 })).toBeUndefined();
    // better-sqlite3's errors can come from another jest realm, where `toThrow` does not see an Error.
    await expect(store.runs.insert(run('r1'))).rejects.toMatchObject({
      message: expect.stringMatching(/UNIQUE/),
    });
    await store.close();
  });

  it('keeps a revocation when the registry is synced again', async () => {
    const store = SqliteStore.open(':memory:');
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
    await store.close();
  });

  it('finds the first unfinished round, with tasks and updates linked to it', async () => {
    const store = SqliteStore.open(':memory:');
    await store.runs.insert(run('r1', 'running'));
    await store.sites.upsert({ id: 's1', publicKey: 'k', fingerprint: 'f', enrolledAt: T0 });
    const base = { runId: 'r1', stage: 'ssl', deadlineAt: T0 };
    await store.rounds.insert({ ...base, round: 1, state: 'done', startedAt: '2026-01-01T00:00:01Z' });
    await store.rounds.insert({ ...base, round: 2, state: 'collecting', startedAt: '2026-01-01T00:00:02Z' });
    expect((await store.rounds.firstUnfinished('r1'))?.round).toBe(2);
    await store.rounds.update('r1', 'ssl', 2, { state: 'done', outputDigest: 'a'.repeat(128) });
    expect(await store.rounds.firstUnfinished('r1')).toBeUndefined();

    await store.tasks.insert({
      id: 't1',
      runId: 'r1',
      stage: 'ssl',
      round: 2,
      siteId: 's1',
      state: 'sent',
      createdAt: T0,
      attempts: 1,
    });
    await expect(
      store.tasks.insert({
        id: 't2',
        runId: 'r1',
        stage: 'ssl',
        round: 9,
        siteId: 's1',
        state: 'sent',
        createdAt: T0,
        attempts: 1,
      }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/FOREIGN KEY/) });
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
    await store.close();
  });

  it('stores metrics and evaluation results per run', async () => {
    const store = SqliteStore.open(':memory:');
    await store.runs.insert(run('r1'));
    await store.metrics.insertMany([
      { runId: 'r1', stage: 'ssl', round: 1, siteId: 's1', name: 'loss', value: 0.5, recordedAt: T0 },
      { runId: 'r1', name: 'global.loss', value: 0.25, recordedAt: T0 },
    ]);
    expect((await store.metrics.listForRun('r1')).map((m) => [m.name, m.value, m.siteId])).toEqual([
      ['loss', 0.5, 's1'],
      ['global.loss', 0.25, undefined],
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
    await store.close();
  });

  it('keeps the audit log append-only and pages it newest first with filters', async () => {
    const store = SqliteStore.open(':memory:');
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
    const db = (store as unknown as { db: Database.Database }).db;
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    expect(() => db.prepare("UPDATE audit_log SET outcome = 'x'").run()).toThrow(/append-only/);
    await store.close();
  });

  it('migration 2 marks the evaluation rows written before it as the final evaluation (evaluate/0)', async () => {
    const file = join(dir, 'v1.sqlite');
    const v1 = new Database(file);
    migrate(v1, SQLITE_MIGRATIONS.slice(0, 1));
    v1.prepare(
      `INSERT INTO runs (id, name, plan_json, plan_digest, state, created_at) VALUES ('r1', 'r', '{}', 'd', 'completed', ?)`,
    ).run(T0);
    v1.prepare(
      `INSERT INTO evaluation_results (run_id, model_digest, model_of, site_id, n, n_positive, recorded_at)
       VALUES ('r1', 'm', 'global', 's1', 4, 2, ?)`,
    ).run(T0);
    v1.close();
    const store = SqliteStore.open(file);
    expect(await store.migrations()).toEqual([1, 2]);
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
    await store.close();
  });

  it("keeps a strategy's state per round, replaced when a round is re-run", async () => {
    const store = SqliteStore.open(':memory:');
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
    await store.close();
  });

  it('keeps settings', async () => {
    const store = SqliteStore.open(':memory:');
    expect(await store.settings.get('k')).toBeUndefined();
    await store.settings.set('k', 'v1');
    await store.settings.set('k', 'v2');
    expect(await store.settings.get('k')).toBe('v2');
    expect(await store.ping()).toBe(true);
    await store.close();
  });
});

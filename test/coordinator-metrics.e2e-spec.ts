import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../libs/common/src';
import { provision } from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { CoordinatorMetrics } from '../apps/coordinator/src/metrics/coordinator-metrics';
import { COORDINATOR_STORE, CoordinatorStore } from '../apps/coordinator/src/persistence';

/**
 * /metrics, /health/live and /health/ready of a coordinator on 127.0.0.1: the store-derived
 * metrics show the rounds and updates a run left in the store, engine-reported ones show what
 * was counted, and readiness fails when the blob folder or the store stops taking writes.
 */
jest.setTimeout(60_000);

const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

describe('coordinator metrics and probes', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  let store: CoordinatorStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-metrics-e2e-'));
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'http://127.0.0.1:1', siteIds: ['hospital-a'] });
    coordinator = await startCoordinator({
      dbFile: join(dir, 'db', 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: 'metrics-e2e-token-0123456789',
      log: silentLog,
    });
    store = coordinator.app.get(COORDINATOR_STORE);
  });
  afterAll(async () => {
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const scrape = async () => {
    const response = await fetch(`${coordinator.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain;.*version=0.0.4/);
    return response.text();
  };

  it('exports the rounds, updates and durations in the store and what the engine reported', async () => {
    await store.runs.insert({
      id: 'r1',
      name: 'r',
      planJson: '{}',
      planDigest: 'd',
      state: 'running',
      createdAt: T(0),
    });
    for (const round of [1, 2]) {
      const done = round === 1;
      await store.rounds.insert({
        runId: 'r1',
        stage: 'ssl',
        round,
        state: done ? 'done' : 'collecting',
        startedAt: T(round * 10),
        deadlineAt: T(59),
        ...(done ? { endedAt: T(round * 10 + 7) } : {}),
      });
      await store.tasks.insert({
        id: `t${round}`,
        runId: 'r1',
        stage: 'ssl',
        round,
        siteId: 'hospital-a',
        state: 'received',
        createdAt: T(0),
        attempts: 1,
      });
      const update = {
        taskId: `t${round}`,
        runId: 'r1',
        stage: 'ssl',
        round,
        siteId: 'hospital-a',
        digest: 'x',
        signature: 's',
        nSamples: 1,
        encoding: 'float16',
        receivedAt: T(round * 10 + 5),
      };
      await store.updates.insert({ ...update, bytes: 1000, status: done ? 'aggregated' : 'accepted' });
      if (!done)
        await store.updates.insert({
          ...update,
          bytes: 10,
          status: 'rejected',
          rejectReason: 'NORM_OUTLIER',
        });
    }
    const metrics = coordinator.app.get(CoordinatorMetrics);
    metrics.observeFold('ssl', 0.2);
    metrics.countRefusal('BAD_SIGNATURE');
    metrics.countBytes('out', 4096);

    const text = await scrape();
    // (The round engine may fail this hand-made run, whose plan is empty: its state is not the point.)
    expect(text).toMatch(/^phcc_runs\{state="\w+"\} 1$/m);
    expect(text).toContain('phcc_rounds{state="done"} 1');
    expect(text).toContain('phcc_rounds{state="collecting"} 1');
    expect(text).toContain('phcc_updates{status="aggregated",reason=""} 1');
    expect(text).toContain('phcc_updates{status="rejected",reason="NORM_OUTLIER"} 1');
    expect(text).toContain('phcc_update_bytes_received{status="aggregated"} 1000');
    expect(text).toContain('phcc_round_duration_seconds_bucket{le="15",stage="ssl"} 1');
    expect(text).toContain('phcc_round_duration_seconds_sum{stage="ssl"} 7');
    expect(text).toContain(
      `phcc_site_last_update_timestamp_seconds{site="hospital-a"} ${Date.parse(T(25)) / 1000}`,
    );
    expect(text).toContain('phcc_fold_duration_seconds_count{stage="ssl"} 1');
    expect(text).toContain('phcc_update_refusals_total{code="BAD_SIGNATURE"} 1');
    expect(text).toContain('phcc_transfer_bytes_total{direction="out"} 4096');
    expect(text).toContain('phcc_connected_sites 0');
    expect(text).toContain('phcc_store_up 1');
    // Not a standby (deploy/README.md §8): this coordinator serves.
    expect(text).toContain('phcc_coordinator_active 1');
    expect(text).toMatch(/phcc_process_resident_memory_bytes \d+/);
  });

  it('keeps the database and blob folders private', () => {
    expect(statSync(join(dir, 'db', 'state.sqlite')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'db')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'data', 'blobs')).mode & 0o777).toBe(0o700);
  });

  it('is live and ready, and not ready once the blob folder or the store refuses writes', async () => {
    expect(await (await fetch(`${coordinator.url}/health/live`)).json()).toEqual({ live: true });
    const ready = await fetch(`${coordinator.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      ready: true,
      checks: { store: { ok: true, kind: 'sqlite' }, blobs: { ok: true } },
    });

    // Root ignores file modes, so the blob folder is broken by a file where its tmp/ folder was.
    const tmp = join(dir, 'data', 'blobs', 'tmp');
    rmSync(tmp, { recursive: true });
    writeFileSync(tmp, '');
    const noBlobs = await fetch(`${coordinator.url}/health/ready`);
    expect(noBlobs.status).toBe(503);
    expect(await noBlobs.json()).toMatchObject({
      ready: false,
      checks: { store: { ok: true }, blobs: { ok: false, error: 'ENOTDIR' } },
    });
    // /health itself reads too (issue #18 row 6: it said "ok" over a damaged store).
    const health = await fetch(`${coordinator.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'error', db: { ok: true }, blobs: { ok: false } });

    await store.close();
    const noStore = await fetch(`${coordinator.url}/health/ready`);
    expect(noStore.status).toBe(503);
    expect(await noStore.json()).toMatchObject({ checks: { store: { ok: false } } });
    const healthNoStore = await fetch(`${coordinator.url}/health`);
    expect(healthNoStore.status).toBe(503);
    expect(await healthNoStore.json()).toMatchObject({ status: 'error', db: { ok: false } });
    expect(await scrape()).toMatch(/phcc_store_errors_total\{operation="health.ready"\} 1/);
  });
});

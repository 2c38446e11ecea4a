import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot, silentLog } from '../libs/common/src';
import { provision } from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { EventStreamReader } from './support/sse';

/**
 * The dashboard's live streams over real HTTP: authenticated like every route, a snapshot first,
 * then only what changed, open to observers, and ended cleanly when the coordinator stops.
 */
const ADMIN = 'e2e-live-admin-token-0123456789';

describe('coordinator live events (server-sent)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;

  const open = (path: string, token = ADMIN) =>
    fetch(coordinator.url + path, { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-live-e2e-'));
    provision({
      outDir: join(dir, 'kits'),
      coordinatorUrl: 'http://127.0.0.1:8080',
      siteIds: ['site-a', 'site-b'],
    });
    coordinator = await startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: ADMIN,
      log: silentLog,
    });
  });
  afterAll(async () => {
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a stream without a token and a run that does not exist', async () => {
    expect((await fetch(`${coordinator.url}/events/runs`)).status).toBe(401);
    expect((await open('/events/runs/r-20260101-000000-abcdef')).status).toBe(404);
  });

  it('streams the runs list and one run: snapshot, then the changes only', async () => {
    const runs = await EventStreamReader.open(`${coordinator.url}/events/runs`, ADMIN);
    expect(runs.response.status).toBe(200);
    expect(runs.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await runs.next()).toEqual({ event: 'snapshot', data: { type: 'snapshot', entities: [] } });

    const created = await fetch(`${coordinator.url}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/yaml' },
      body: readFileSync(join(packageRoot(), 'configs', 'plans', 'quick.yaml'), 'utf8'),
    });
    const run = (await created.json()) as { id: string };
    const change = await runs.next();
    expect(change.event).toBe('change');
    expect(change.data).toMatchObject({
      upserts: [{ kind: 'run', key: run.id, value: { state: 'created', strategy: 'fedavg', sites: 'all' } }],
      removals: [],
    });

    const issued = await fetch(`${coordinator.url}/auth/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'observer', label: 'live test' }),
    });
    const { token: observer } = (await issued.json()) as { token: string };
    const one = await EventStreamReader.open(`${coordinator.url}/events/runs/${run.id}`, observer);
    const snapshot = (await one.next()).data as {
      type: string;
      entities: { kind: string; value: { plan?: unknown } }[];
    };
    expect(snapshot.type).toBe('snapshot');
    expect(snapshot.entities.map((e) => e.kind)).toEqual(['run']);
    expect(snapshot.entities[0].value.plan).toMatchObject({ name: 'quick demo' });

    const stopped = await fetch(`${coordinator.url}/runs/${run.id}/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'live test' }),
    });
    expect(stopped.status).toBe(200);
    await stopped.text();
    expect((await one.next()).data).toMatchObject({
      type: 'change',
      upserts: [{ kind: 'run', value: { state: 'stopped', reason: 'live test' } }],
    });
    await runs.cancel();
    await one.cancel();
  });

  it('ends open streams when the coordinator closes instead of hanging its shutdown', async () => {
    const stream = await EventStreamReader.open(`${coordinator.url}/events/sites`, ADMIN);
    const sites = (await stream.next()).data as {
      entities: { key: string; value: { connected: boolean } }[];
    };
    expect(sites.entities.map((e) => [e.key, e.value.connected])).toEqual([
      ['site-a', false],
      ['site-b', false],
    ]);
    const started = Date.now();
    await coordinator.close();
    // Bounded by the HTTP keep-alive timeout of the test client's idle connections (5 s), not by the stream.
    expect(Date.now() - started).toBeLessThan(6_000);
    await expect(stream.next(2_000)).rejects.toThrow(/ended/);
    coordinator = undefined as unknown as RunningCoordinator;
  });
});

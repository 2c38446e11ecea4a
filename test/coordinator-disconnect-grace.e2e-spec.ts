import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'socket.io-client';
import { silentLog } from '../libs/common/src';
import { decodeWeights, encodeWeights, NamedArray } from '../libs/weights/src';
import {
  LoadedSiteKit,
  loadSiteKit,
  provision,
  sendTransfer,
  SiteState,
  socketIoTransport,
  TaskBody,
} from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { BlobStore } from '../apps/coordinator/src/models/blob-store';
import { COORDINATOR_STORE, CoordinatorStore } from '../apps/coordinator/src/persistence/repositories';
import { adminApi } from './support/admin-api';
import { connectSite, onTasks, siteSigner } from './support/simulated-site';

/**
 * The coordinator's disconnect grace (rounds/disconnect-grace.ts) against simulated sites written
 * with libs/protocol only: a site whose socket drops mid-round keeps its task if it reconnects
 * within the grace and says (status) it still holds it, and its update then counts; one that comes
 * back `idle` (a restarted agent) is dropped at once; one that never comes back is dropped when the
 * grace ends, long before the deadline.
 */
const TOKEN = 'e2e-grace-token-0123456789';
const SITES = ['site-a', 'site-b', 'site-c'] as const;
const GRACE_MS = 3_000;
const DEADLINE_S = 60;
const INITIAL: NamedArray[] = [
  { name: 'decoder/w', shape: [2], values: Float32Array.from([0.5, -0.5]) },
  { name: 'encoder/w', shape: [3], values: Float32Array.from([1, 2, 3]) },
  { name: 'head/w', shape: [2], values: Float32Array.from([0.1, 0.2]) },
];

/** What site-c does once it has acknowledged its task and dropped its socket. */
type Comeback = 'with-task' | 'restarted' | 'never';

interface Sim {
  socket: Socket;
}

/** A site reduced to the protocol; site-c drops its socket after the task-ack and acts out `comeback`. */
async function startSite(url: string, kit: LoadedSiteKit, siteId: string, comeback?: Comeback): Promise<Sim> {
  const sim: Sim = { socket: await connectSite(url, kit, siteId) };
  const sign = siteSigner(kit, siteId);
  const status = (socket: Socket, state: SiteState, task?: TaskBody) =>
    socket.timeout(5000).emitWithAck(
      'status',
      sign('status', {
        state,
        ...(task ? { runId: task.runId, round: task.round, taskId: task.taskId } : {}),
      }),
    );

  const answer = async (task: TaskBody, globalBytes: Buffer): Promise<void> => {
    const scope = { runId: task.runId, round: task.round, taskId: task.taskId, stage: task.stage };
    await sim.socket.timeout(5000).emitWithAck('task-ack', sign('task-ack', { ...scope, accepted: true }));
    if (comeback) {
      sim.socket.disconnect();
      if (comeback === 'never') return;
      await new Promise((resolve) => setTimeout(resolve, 300));
      sim.socket = await connectSite(url, kit, siteId);
      if (comeback === 'restarted') {
        await status(sim.socket, 'idle');
        return;
      }
      await status(sim.socket, 'training', task);
    }
    const arrays = decodeWeights(globalBytes)
      .filter((a) => /^(encoder|decoder)\//.test(a.name))
      .map((a) => ({ ...a, values: a.values.map(() => 0.01) }));
    const payload = encodeWeights(arrays, 'float32');
    const envelope = sign(
      'update',
      {
        ...scope,
        nSamples: 10,
        metrics: { loss: 1 },
        encoding: 'float32',
        kind: task.config.updateKind,
        baseDigest: task.globalWeightsDigest,
      },
      payload,
    );
    await sendTransfer(socketIoTransport(sim.socket), envelope, payload).catch(() => undefined);
  };

  onTasks(sim.socket, kit, answer);
  return sim;
}

describe('coordinator: a site that disconnects mid-round (grace period)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  const kits: Record<string, LoadedSiteKit> = {};
  let sims: Sim[] = [];
  const admin = adminApi(() => coordinator.url, TOKEN);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-grace-e2e-'));
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'http://127.0.0.1:8080', siteIds: [...SITES] });
    for (const id of SITES) kits[id] = loadSiteKit(join(dir, 'kits', 'sites', id));
    coordinator = await startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: TOKEN,
      disconnectGraceMs: GRACE_MS,
      log: silentLog,
    });
  });
  afterEach(() => {
    for (const sim of sims) sim.socket.disconnect();
    sims = [];
  });
  afterAll(async () => {
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One SSL round, quorum 2 of 3; returns its wall time and each site's task and update state. */
  async function oneRound(comeback: Comeback) {
    for (const id of SITES)
      sims.push(await startSite(coordinator.url, kits[id], id, id === 'site-c' ? comeback : undefined));
    const initial = await coordinator.app.get(BlobStore).put(encodeWeights(INITIAL, 'float32'));
    const created = await admin<{ id: string }>('POST', '/runs', {
      stages: {
        ssl: {
          rounds: 1,
          localEpochs: 1,
          optimiser: { name: 'sgd', lr: 0.01 },
          batchSize: 2,
          maskRatio: 0.5,
        },
      },
      strategy: { name: 'fedavg' },
      quorum: { minSites: 2 },
      roundDeadlineSeconds: DEADLINE_S,
      encoding: 'float32',
      evaluation: { final: false },
      initialModel: initial.digest,
      seed: 5,
    });
    await admin('POST', `/runs/${created.id}/start`);
    type Detail = { state: string; reason?: string; rounds: { startedAt: string; endedAt?: string }[] };
    let detail = await admin<Detail>('GET', `/runs/${created.id}`);
    for (let i = 0; i < 150 && detail.state === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      detail = await admin<Detail>('GET', `/runs/${created.id}`);
    }
    expect(detail).toMatchObject({ state: 'completed' });
    const db = coordinator.app.get<symbol, CoordinatorStore>(COORDINATOR_STORE);
    const tasks = await db.tasks.listForRound(created.id, 'ssl', 0);
    const updates = await db.updates.listForRound(created.id, 'ssl', 0);
    const [round] = detail.rounds;
    return {
      seconds: (Date.parse(round.endedAt!) - Date.parse(round.startedAt)) / 1000,
      tasks: Object.fromEntries(tasks.map((t) => [t.siteId, t.state])),
      updates: Object.fromEntries(updates.map((u) => [u.siteId, u.status])),
    };
  }

  it('keeps the task of a site that reconnects within the grace still holding it: its update counts', async () => {
    const round = await oneRound('with-task');
    expect(round.tasks).toEqual({ 'site-a': 'received', 'site-b': 'received', 'site-c': 'received' });
    expect(round.updates).toEqual({ 'site-a': 'aggregated', 'site-b': 'aggregated', 'site-c': 'aggregated' });
  }, 20_000);

  it('drops a site at once when it reconnects idle (a restarted agent lost its task)', async () => {
    const round = await oneRound('restarted');
    expect(round.tasks['site-c']).toBe('timed-out');
    expect(round.updates).toEqual({ 'site-a': 'aggregated', 'site-b': 'aggregated' });
    expect(round.seconds).toBeLessThan(GRACE_MS / 1000);
  }, 20_000);

  it('drops a site that never comes back when the grace ends, long before the deadline', async () => {
    const round = await oneRound('never');
    expect(round.tasks['site-c']).toBe('timed-out');
    expect(round.updates).toEqual({ 'site-a': 'aggregated', 'site-b': 'aggregated' });
    expect(round.seconds).toBeGreaterThanOrEqual(GRACE_MS / 1000 - 0.1);
    expect(round.seconds).toBeLessThan(DEADLINE_S / 4);
  }, 20_000);
});

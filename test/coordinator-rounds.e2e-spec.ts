import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'socket.io-client';
import { getLogger, silentLog } from '../libs/common/src';
import { decodeWeights, encodeWeights, NamedArray } from '../libs/weights/src';
import { TOKEN_CENTRING_ROUND } from '../libs/federated/src';
import {
  LoadedSiteKit,
  loadSiteKit,
  provision,
  sendTransfer,
  socketIoTransport,
  TaskBody,
} from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { BlobStore } from '../apps/coordinator/src/models/blob-store';
import { COORDINATOR_STORE, CoordinatorStore } from '../apps/coordinator/src/persistence/repositories';
import { adminApi } from './support/admin-api';
import { connectSite, onTasks, siteSigner } from './support/simulated-site';

/**
 * Round orchestration end to end on 127.0.0.1: a real coordinator and three simulated sites
 * written with libs/protocol only (no tfjs). Each site answers a task with the global weights plus
 * a fixed per-site delta, so the aggregated model can be computed by hand. hospital-c sends NaN in
 * the SSL round (rejected, audited, the round closes with the other two); hospital-a replays its
 * accepted update (refused REPLAY, audited); hospital-b first uploads its SSL update with altered
 * weights (DIGEST_MISMATCH) and with an altered signature (BAD_SIGNATURE), both refused and audited
 * before its genuine one is accepted; the run still completes with a pooled AUC.
 */
const TOKEN = 'e2e-rounds-token-0123456789';
const SITES = ['hospital-a', 'hospital-b', 'hospital-c'] as const;
type SiteId = (typeof SITES)[number];
const SAMPLES: Record<SiteId, number> = { 'hospital-a': 10, 'hospital-b': 30, 'hospital-c': 20 };
const DELTA: Record<SiteId, number> = { 'hospital-a': 0.01, 'hospital-b': 0.02, 'hospital-c': 0.03 };
/** bins = 2; pooled: pos [1, 4], neg [4, 1] → AUC = (16 + ½·8) / 25 = 0.8. */
const HISTOGRAMS: Record<SiteId, { positive: number[]; negative: number[] }> = {
  'hospital-a': { positive: [0, 2], negative: [2, 0] },
  'hospital-b': { positive: [1, 1], negative: [1, 1] },
  'hospital-c': { positive: [0, 1], negative: [1, 0] },
};

const INITIAL: NamedArray[] = [
  { name: 'decoder/w', shape: [4], values: Float32Array.from([0.5, -0.5, 1, 2]) },
  { name: 'encoder/b', shape: [2], values: Float32Array.from([0, 0.25]) },
  { name: 'encoder/w', shape: [2, 3], values: Float32Array.from([1, 2, 3, -1, -2, -3]) },
  { name: 'head/w', shape: [2], values: Float32Array.from([0.1, 0.2]) },
];

const PARTS: Record<string, RegExp> = { ssl: /^(encoder|decoder)\//, finetune: /^(encoder|head)\// };

interface SimSite {
  socket: Socket;
  replays: { code?: string }[];
  /** Acks of hospital-b's tampered SSL uploads: altered weights, then an altered signature. */
  tampered: { code?: string }[];
}

/** A site agent reduced to the protocol: answers every task deterministically. */
async function startSite(
  url: string,
  kit: LoadedSiteKit,
  siteId: SiteId,
  hold: (stage: string, socket: Socket, task: TaskBody) => boolean = () => false,
): Promise<SimSite> {
  const socket = await connectSite(url, kit, siteId);
  const sim: SimSite = { socket, replays: [], tampered: [] };
  const sign = siteSigner(kit, siteId);

  const answer = async (task: TaskBody, globalBytes: Buffer): Promise<void> => {
    const scope = { runId: task.runId, round: task.round, taskId: task.taskId, stage: task.stage };
    await socket.timeout(5000).emitWithAck('task-ack', sign('task-ack', { ...scope, accepted: true }));
    if (hold(task.stage, socket, task)) return; // a site still training (or gone) when the round is decided
    if (task.stage === 'evaluate') {
      const h = HISTOGRAMS[siteId];
      const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
      await socket.timeout(5000).emitWithAck(
        'eval-result',
        sign('eval-result', {
          ...scope,
          modelDigest: task.globalWeightsDigest,
          nPositive: sum(h.positive),
          nNegative: sum(h.negative),
          histogram: { bins: 2, ...h },
        }),
      );
      return;
    }
    const poison = siteId === 'hospital-c' && task.stage === 'ssl';
    const arrays = decodeWeights(globalBytes)
      .filter((a) => PARTS[task.stage].test(a.name))
      .map((a) => ({
        ...a,
        values: a.values.map((v, i) =>
          poison && i === 0 ? NaN : (task.config.updateKind === 'weights' ? v : 0) + DELTA[siteId],
        ),
      }));
    const payload = encodeWeights(arrays, 'float32');
    const envelope = sign(
      'update',
      {
        ...scope,
        nSamples: SAMPLES[siteId],
        metrics: { loss: 1 + DELTA[siteId] },
        encoding: 'float32',
        kind: task.config.updateKind,
        baseDigest: task.globalWeightsDigest,
      },
      payload,
    );
    if (siteId === 'hospital-b' && task.stage === 'ssl') {
      // A man in the middle flips a weight byte after b signed them; then forges the signature instead.
      const alteredWeights = Buffer.from(payload);
      alteredWeights[alteredWeights.length - 1] ^= 0xff;
      const first = envelope.signature[0] === 'A' ? 'B' : 'A';
      const alteredSignature = { ...envelope, signature: first + envelope.signature.slice(1) };
      for (const [sent, bytes] of [
        [envelope, alteredWeights],
        [alteredSignature, payload],
      ] as const) {
        await sendTransfer(socketIoTransport(socket), sent, bytes).then(
          () => sim.tampered.push({}),
          (err: { code?: string }) => sim.tampered.push({ code: err.code }),
        );
      }
    }
    await sendTransfer(socketIoTransport(socket), envelope, payload).catch(() => undefined);
    if (siteId === 'hospital-a' && task.stage === 'ssl') {
      // An eavesdropper (or a buggy agent) sends the accepted update again, byte for byte.
      await sendTransfer(socketIoTransport(socket), envelope, payload).then(
        () => sim.replays.push({}),
        (err: { code?: string }) => sim.replays.push({ code: err.code }),
      );
    }
  };

  onTasks(socket, kit, answer);
  return sim;
}

describe('coordinator rounds (127.0.0.1)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  const kits: Record<string, LoadedSiteKit> = {};
  const sims: Partial<Record<SiteId, SimSite>> = {};

  const admin = adminApi(() => coordinator.url, TOKEN);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-rounds-e2e-'));
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'http://127.0.0.1:8080', siteIds: [...SITES] });
    for (const id of SITES) kits[id] = loadSiteKit(join(dir, 'kits', 'sites', id));
    coordinator = await startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: TOKEN,
      // A disconnected site is dropped after this grace (test/coordinator-disconnect-grace.e2e-spec.ts).
      disconnectGraceMs: 2_000,
      log: process.env.ROUNDS_DEBUG ? getLogger('debug') : silentLog,
    });
    for (const id of SITES) sims[id] = await startSite(coordinator.url, kits[id], id);
  });
  afterAll(async () => {
    for (const sim of Object.values(sims)) sim?.socket.disconnect();
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs SSL, fine-tune and evaluation rounds to a hand-computed FedAvg and a pooled AUC', async () => {
    const blobs = coordinator.app.get(BlobStore);
    const initial = await blobs.put(encodeWeights(INITIAL, 'float32'));
    const stage = { rounds: 1, localEpochs: 1, optimiser: { name: 'adam', lr: 0.001 }, batchSize: 2 };
    const created = await admin<{ id: string }>('POST', '/runs', {
      name: 'rounds e2e',
      stages: { ssl: { ...stage, maskRatio: 0.6 }, finetune: stage },
      strategy: { name: 'fedavg', params: { updateKind: 'weights' } },
      quorum: { minSites: 2 },
      roundDeadlineSeconds: 20,
      maxRetries: 0,
      encoding: 'float32',
      evaluation: { final: true },
      initialModel: initial.digest,
      seed: 7,
    });
    expect(created.id).toBeDefined();
    await admin('POST', `/runs/${created.id}/start`);

    type Detail = {
      state: string;
      reason?: string;
      rounds: { stage: string; round: number; state: string; outputDigest?: string }[];
    };
    let detail: Detail = await admin<Detail>('GET', `/runs/${created.id}`);
    for (let i = 0; i < 100 && detail.state === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      detail = await admin<Detail>('GET', `/runs/${created.id}`);
    }
    expect(detail.reason).toBeUndefined();
    expect(detail.state).toBe('completed');
    // The token-centring round (finetune/10000) opens the fine-tune stage; these weights have no
    // head/token_center, so it leaves the global as it is and the hand-computed folds still hold.
    expect(detail.rounds.map((r) => `${r.stage}/${r.round}/${r.state}`).sort()).toEqual([
      'evaluate/0/done',
      'finetune/0/done',
      'finetune/10000/done',
      'ssl/0/done',
    ]);

    // SSL: a (10 samples, +0.01) and b (30, +0.02); c's NaN update was rejected → +0.0175 on encoder + decoder.
    // Fine-tune: a, b, c (20, +0.03) → +(0.1 + 0.6 + 0.6) / 60 on encoder + head.
    const ssl = detail.rounds.find((r) => r.stage === 'ssl')!;
    const finetune = detail.rounds.find((r) => r.stage === 'finetune' && r.round === 0)!;
    const afterSsl = decodeWeights(await blobs.get(ssl.outputDigest!));
    const final = decodeWeights(await blobs.get(finetune.outputDigest!));
    const shift = { ssl: 0.0175, finetune: 1.3 / 60 };
    for (const tensor of INITIAL) {
      const expectedSsl = /^(encoder|decoder)\//.test(tensor.name) ? shift.ssl : 0;
      const expectedFinal = expectedSsl + (/^(encoder|head)\//.test(tensor.name) ? shift.finetune : 0);
      const gotSsl = afterSsl.find((a) => a.name === tensor.name)!;
      const gotFinal = final.find((a) => a.name === tensor.name)!;
      tensor.values.forEach((v, i) => {
        expect(gotSsl.values[i]).toBeCloseTo(v + expectedSsl, 6);
        expect(gotFinal.values[i]).toBeCloseTo(v + expectedFinal, 6);
      });
    }

    const results = await admin<{
      metrics: { name: string; value: number; siteId?: string; stage?: string }[];
      evaluations: { siteId: string; auc?: number; modelDigest: string }[];
    }>('GET', `/runs/${created.id}/results`);
    expect(results.metrics.find((m) => m.name === 'eval/pooled_auc')?.value).toBeCloseTo(0.8, 12);
    expect(results.evaluations.map((e) => [e.siteId, e.auc, e.modelDigest])).toEqual([
      ['hospital-a', 1, finetune.outputDigest],
      ['hospital-b', 0.5, finetune.outputDigest],
      ['hospital-c', 1, finetune.outputDigest],
    ]);
    expect(results.metrics.find((m) => m.name === 'train/num_sites' && m.stage === 'ssl')?.value).toBe(2);

    expect(sims['hospital-a']!.replays).toEqual([{ code: 'REPLAY' }]);
    // b's tampered uploads were refused with their codes, and its genuine one still made the round.
    expect(sims['hospital-b']!.tampered).toEqual([{ code: 'DIGEST_MISMATCH' }, { code: 'BAD_SIGNATURE' }]);
    const audit = (
      await admin<{ entries: { actor: string; detail: { code: string } }[] }>(
        'GET',
        '/audit?action=update.rejected',
      )
    ).entries;
    expect(audit.map((e) => [e.actor, e.detail.code]).sort()).toEqual([
      ['site:hospital-a', 'REPLAY'],
      ['site:hospital-b', 'BAD_SIGNATURE'],
      ['site:hospital-b', 'DIGEST_MISMATCH'],
      ['site:hospital-c', 'NON_FINITE'],
    ]);
  }, 20_000);

  it('drops a site that disconnects mid-round and closes the round with the others, long before the deadline', async () => {
    sims['hospital-c']!.socket.disconnect();
    sims['hospital-c'] = await startSite(
      coordinator.url,
      kits['hospital-c'],
      'hospital-c',
      (_stage, socket) => {
        setTimeout(() => socket.disconnect(), 50);
        return true;
      },
    );
    const blobs = coordinator.app.get(BlobStore);
    const initial = await blobs.put(encodeWeights(INITIAL, 'float32'));
    const started = Date.now();
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
      roundDeadlineSeconds: 120,
      encoding: 'float32',
      evaluation: { final: false },
      initialModel: initial.digest,
      seed: 5,
    });
    await admin('POST', `/runs/${created.id}/start`);
    let detail = await admin<{ state: string; reason?: string }>('GET', `/runs/${created.id}`);
    for (let i = 0; i < 100 && detail.state === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      detail = await admin<{ state: string; reason?: string }>('GET', `/runs/${created.id}`);
    }
    expect(detail).toMatchObject({ state: 'completed' });
    expect(Date.now() - started).toBeLessThan(20_000);
    const db = coordinator.app.get<symbol, CoordinatorStore>(COORDINATOR_STORE);
    const tasks = await db.tasks.listForRound(created.id, 'ssl', 0);
    expect(tasks.map((t) => [t.siteId, t.state]).sort()).toEqual([
      ['hospital-a', 'received'],
      ['hospital-b', 'received'],
      ['hospital-c', 'timed-out'],
    ]);
    const updates = await db.updates.listForRound(created.id, 'ssl', 0);
    expect(updates.map((u) => [u.siteId, u.status]).sort()).toEqual([
      ['hospital-a', 'aggregated'],
      ['hospital-b', 'aggregated'],
    ]);
  }, 20_000);
});

describe('coordinator rounds: restart with the same --db', () => {
  it('resumes a running run at its first unfinished round', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phcc-rounds-resume-'));
    const kits: Record<string, LoadedSiteKit> = {};
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'http://127.0.0.1:8080', siteIds: [...SITES] });
    for (const id of SITES) kits[id] = loadSiteKit(join(dir, 'kits', 'sites', id));
    const start = () =>
      startCoordinator({
        dbFile: join(dir, 'state.sqlite'),
        kitDir: join(dir, 'kits'),
        dataDir: join(dir, 'data'),
        port: 0,
        adminToken: TOKEN,
        log: silentLog,
      });
    const call = async <T>(url: string, method: string, path: string, body?: unknown): Promise<T> => {
      const response = await fetch(url + path, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      return (await response.json()) as T;
    };
    type Detail = {
      state: string;
      reason?: string;
      rounds: { stage: string; round: number; state: string }[];
    };
    const waitFor = async (url: string, id: string, done: (d: Detail) => boolean): Promise<Detail> => {
      let detail = await call<Detail>(url, 'GET', `/runs/${id}`);
      for (let i = 0; i < 100 && !done(detail); i++) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        detail = await call<Detail>(url, 'GET', `/runs/${id}`);
      }
      return detail;
    };
    const sockets: Socket[] = [];
    try {
      let coordinator = await start();
      const initial = await coordinator.app.get(BlobStore).put(encodeWeights(INITIAL, 'float32'));
      for (const id of SITES) {
        sockets.push(
          (
            await startSite(
              coordinator.url,
              kits[id],
              id,
              (stage, _socket, task) => stage === 'finetune' && task.round === 0,
            )
          ).socket,
        );
      }
      const stage = { rounds: 1, localEpochs: 1, optimiser: { name: 'sgd', lr: 0.01 }, batchSize: 2 };
      const run = await call<{ id: string }>(coordinator.url, 'POST', '/runs', {
        stages: { ssl: { ...stage, maskRatio: 0.5 }, finetune: stage },
        strategy: { name: 'fedavg' },
        quorum: { minSites: 2 },
        roundDeadlineSeconds: 60,
        encoding: 'float32',
        evaluation: { final: false },
        initialModel: initial.digest,
        seed: 3,
      });
      await call(coordinator.url, 'POST', `/runs/${run.id}/start`);
      // SSL closes with a and b (c's NaN update is rejected); every site then holds its fine-tune update.
      const collecting = await waitFor(
        coordinator.url,
        run.id,
        (d) =>
          d.rounds.some((r) => r.stage === 'finetune' && r.round === 0 && r.state === 'collecting') ||
          d.state !== 'running',
      );
      try {
        expect(collecting.state).toBe('running');
      } finally {
        await coordinator.close(); // killed mid-round: the run stays running in the database
        for (const socket of sockets.splice(0)) socket.disconnect();
      }

      coordinator = await start();
      try {
        for (const id of SITES) sockets.push((await startSite(coordinator.url, kits[id], id)).socket);
        const done = await waitFor(coordinator.url, run.id, (d) => d.state !== 'running');
        expect(done.reason).toBeUndefined();
        expect(done.state).toBe('completed');
        // The token-centring round, done before the restart, is not run again either.
        expect(done.rounds.map((r) => `${r.stage}/${r.state}`).sort()).toEqual([
          'finetune/done',
          'finetune/done',
          'ssl/done',
        ]);
        const db = coordinator.app.get<symbol, CoordinatorStore>(COORDINATOR_STORE);
        const sslTasks = await db.tasks.listForRound(run.id, 'ssl', 0);
        const finetuneTasks = await db.tasks.listForRound(run.id, 'finetune', 0);
        expect(sslTasks).toHaveLength(3); // the done SSL round was not run again
        expect(await db.tasks.listForRound(run.id, 'finetune', TOKEN_CENTRING_ROUND)).toHaveLength(3);
        // Three tasks from before the restart; after it, the round is dispatched as soon as a quorum
        // (2) of the reconnecting sites is linked, so the second attempt has 2 or 3 tasks.
        expect(finetuneTasks.filter((t) => t.attempts === 1)).toHaveLength(3);
        expect(finetuneTasks.filter((t) => t.attempts === 2).length).toBeGreaterThanOrEqual(2);
      } finally {
        for (const socket of sockets) socket.disconnect();
        await coordinator.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'socket.io-client';
import { getLogger, silentLog } from '../libs/common/src';
import { decodeWeights, encodeWeights, NamedArray } from '../libs/weights/src';
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
 * Every-k evaluation, the cross-site matrix and FedAdam's server state across a restart, end to
 * end on 127.0.0.1 with a real coordinator and three simulated sites (libs/protocol only, no
 * tfjs). A site's fine-tune update is a fixed per-site delta, so each site's local model is
 * known by hand; its evaluation answer depends on which model it was sent (a site's own local
 * model scores AUC 1 at that site, any other model 0.5), so the matrix can be checked cell by cell.
 */
const TOKEN = 'e2e-evaluation-token-0123456789';
const SITES = ['hospital-a', 'hospital-b', 'hospital-c'] as const;
type SiteId = (typeof SITES)[number];
const SAMPLES: Record<SiteId, number> = { 'hospital-a': 10, 'hospital-b': 30, 'hospital-c': 20 };
const DELTA: Record<SiteId, number> = { 'hospital-a': 0.01, 'hospital-b': -0.02, 'hospital-c': 0.03 };
/** bins = 2. AUC 1: pos [0, 2], neg [2, 0]; AUC 0.5: pos [1, 1], neg [1, 1]. */
const PERFECT = { positive: [0, 2], negative: [2, 0] };
const CHANCE = { positive: [1, 1], negative: [1, 1] };

const INITIAL: NamedArray[] = [
  { name: 'decoder/w', shape: [4], values: Float32Array.from([0.5, -0.5, 1, 2]) },
  { name: 'encoder/w', shape: [2, 3], values: Float32Array.from([1, 2, 3, -1, -2, -3]) },
  { name: 'head/w', shape: [2], values: Float32Array.from([0.1, 0.2]) },
];
const FINETUNE_PARTS = /^(encoder|head)\//;
const PARTS: Record<string, RegExp> = { ssl: /^(encoder|decoder)\//, finetune: FINETUNE_PARTS };

/** `global` with `delta` added to the fine-tuned parts, in float32: a site's local model. */
function withDelta(global: readonly NamedArray[], delta: number): NamedArray[] {
  return global.map((t) => ({
    ...t,
    values: FINETUNE_PARTS.test(t.name)
      ? t.values.map((v) => v + Math.fround(delta))
      : new Float32Array(t.values),
  }));
}

interface SimSite {
  socket: Socket;
  /** Digest of the model each task sent, by `stage/round`. */
  received: Map<string, string>;
  /** Each task's config as the site's gate accepted it, by `stage/round`. */
  configs: Map<string, TaskBody['config']>;
}

/**
 * Whose local model `bytes` are, if any: the global of the last fine-tune task with one site's
 * delta on it, encoded as the coordinator stores models (float32), byte for byte.
 */
function ownerOf(bytes: Buffer, lastFinetuneGlobal: Buffer | undefined): SiteId | undefined {
  if (!lastFinetuneGlobal) return undefined;
  const base = decodeWeights(lastFinetuneGlobal);
  return SITES.find((id) => encodeWeights(withDelta(base, DELTA[id]), 'float32').equals(bytes));
}

/** A site agent reduced to the protocol: answers every task deterministically. */
async function startSite(
  url: string,
  kit: LoadedSiteKit,
  siteId: SiteId,
  hold: (task: TaskBody) => boolean = () => false,
): Promise<SimSite> {
  const socket = await connectSite(url, kit, siteId);
  const sim: SimSite = { socket, received: new Map(), configs: new Map() };
  let lastFinetuneGlobal: Buffer | undefined;
  const sign = siteSigner(kit, siteId);

  const answer = async (task: TaskBody, globalBytes: Buffer): Promise<void> => {
    sim.received.set(`${task.stage}/${task.round}`, task.globalWeightsDigest);
    sim.configs.set(`${task.stage}/${task.round}`, task.config);
    const scope = { runId: task.runId, round: task.round, taskId: task.taskId, stage: task.stage };
    await socket.timeout(5000).emitWithAck('task-ack', sign('task-ack', { ...scope, accepted: true }));
    if (hold(task)) return;
    if (task.stage === 'evaluate') {
      const owner = ownerOf(globalBytes, lastFinetuneGlobal);
      const h =
        owner === undefined
          ? siteId === 'hospital-b'
            ? CHANCE
            : PERFECT
          : owner === siteId
            ? PERFECT
            : CHANCE;
      await socket.timeout(5000).emitWithAck(
        'eval-result',
        sign('eval-result', {
          ...scope,
          modelDigest: task.globalWeightsDigest,
          nPositive: 2,
          nNegative: 2,
          histogram: { bins: 2, ...h },
        }),
      );
      return;
    }
    if (task.stage === 'finetune') lastFinetuneGlobal = globalBytes;
    const arrays = decodeWeights(globalBytes)
      .filter((a) => PARTS[task.stage].test(a.name))
      .map((a) => ({ ...a, values: a.values.map(() => DELTA[siteId]) }));
    const payload = encodeWeights(arrays, 'float32');
    const envelope = sign(
      'update',
      {
        ...scope,
        nSamples: SAMPLES[siteId],
        metrics: { loss: 1 },
        encoding: 'float32',
        kind: 'delta',
        baseDigest: task.globalWeightsDigest,
      },
      payload,
    );
    await sendTransfer(socketIoTransport(socket), envelope, payload).catch(() => undefined);
  };

  onTasks(socket, kit, answer);
  return sim;
}

type Detail = {
  state: string;
  reason?: string;
  rounds: { stage: string; round: number; state: string; inputDigest?: string; outputDigest?: string }[];
};
type Score = { auc: number | null; ci95: [number, number] | null; n: number; nPositive: number };
type Results = {
  metrics: { name: string; value: number; siteId?: string; stage?: string; round?: number }[];
  evaluations: { siteId: string; modelOf: string; round?: number }[];
  evaluation: {
    periodic: {
      round: number;
      afterFinetuneRounds: number;
      modelDigest: string;
      pooledAuc: number;
      sites: Record<string, Score>;
    }[];
    final: { modelDigest: string; pooledAuc: number; sites: Record<string, Score> } | null;
    crossSite: {
      models: Record<string, { digest: string; finetuneRound: number }>;
      matrix: Record<string, Record<string, Score>>;
    } | null;
  };
};

const stage = { localEpochs: 1, optimiser: { name: 'adam', lr: 0.001 }, batchSize: 2 };
const fedadam = { name: 'fedadam', params: { eta: 0.05, beta1: 0.9, beta2: 0.99, tau: 0.001 } };

function setup(dirPrefix: string) {
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'http://127.0.0.1:8080', siteIds: [...SITES] });
  const kits = Object.fromEntries(
    SITES.map((id) => [id, loadSiteKit(join(dir, 'kits', 'sites', id))]),
  ) as Record<SiteId, LoadedSiteKit>;
  const start = () =>
    startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: TOKEN,
      log: process.env.EVAL_DEBUG ? getLogger('debug') : silentLog,
    });
  return { dir, kits, start };
}

async function waitFor(
  admin: ReturnType<typeof adminApi>,
  id: string,
  done: (d: Detail) => boolean,
): Promise<Detail> {
  let detail = await admin<Detail>('GET', `/runs/${id}`);
  for (let i = 0; i < 150 && !done(detail); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    detail = await admin<Detail>('GET', `/runs/${id}`);
  }
  return detail;
}

describe('coordinator evaluation: every k rounds and the cross-site matrix (127.0.0.1)', () => {
  const { dir, kits, start } = setup('phcc-evaluation-e2e-');
  let coordinator: RunningCoordinator;
  const sims: SimSite[] = [];
  const admin = adminApi(() => coordinator.url, TOKEN);

  beforeAll(async () => {
    coordinator = await start();
    for (const id of SITES) sims.push(await startSite(coordinator.url, kits[id], id));
  });
  afterAll(async () => {
    for (const sim of sims) sim.socket.disconnect();
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('evaluates after every fine-tune round, at the end, and each local model at every site', async () => {
    const blobs = coordinator.app.get(BlobStore);
    const initial = await blobs.put(encodeWeights(INITIAL, 'float32'));
    const run = await admin<{ id: string }>('POST', '/runs', {
      stages: { finetune: { ...stage, rounds: 2 } },
      strategy: { name: 'fedavg' },
      quorum: { minSites: 3 },
      roundDeadlineSeconds: 20,
      encoding: 'float32',
      evaluation: { final: true, everyKRounds: 1, crossSite: true },
      initialModel: initial.digest,
      seed: 9,
    });
    await admin('POST', `/runs/${run.id}/start`);
    const detail = await waitFor(admin, run.id, (d) => d.state !== 'running');
    expect(detail.reason).toBeUndefined();
    expect(detail.state).toBe('completed');
    expect(detail.rounds.map((r) => `${r.stage}/${r.round}`)).toEqual([
      'finetune/10000', // the token-centring round opens the fine-tune stage
      'finetune/0',
      'evaluate/1',
      'finetune/1',
      'evaluate/0', // after the last round: the final evaluation, no every-k duplicate
      'evaluate/10000',
      'evaluate/10001',
      'evaluate/10002',
    ]);
    const outputOf = (round: number) =>
      detail.rounds.find((r) => r.stage === 'finetune' && r.round === round)!.outputDigest;

    const results = await admin<Results>('GET', `/runs/${run.id}/results`);
    const { periodic, final, crossSite } = results.evaluation;
    // Every-k: the global after fine-tune round c, at every site, with its pooled AUC.
    expect(periodic.map((p) => [p.afterFinetuneRounds, p.modelDigest])).toEqual([[1, outputOf(0)]]);
    // Summed histograms pos [1, 5], neg [5, 1]: (5·5 + ½·(1·5 + 5·1)) / 36.
    const pooled = 30 / 36;
    for (const p of periodic) {
      expect(p.pooledAuc).toBeCloseTo(pooled, 12);
      expect(Object.entries(p.sites).map(([site, s]) => [site, s.auc, s.n])).toEqual([
        ['hospital-a', 1, 4],
        ['hospital-b', 0.5, 4],
        ['hospital-c', 1, 4],
      ]);
    }
    expect(final?.modelDigest).toBe(outputOf(1));
    expect(final?.pooledAuc).toBeCloseTo(pooled, 12);
    // The demo and other readers take the run's last pooled AUC: the final evaluation's.
    expect(
      results.metrics.filter((m) => m.name === 'eval/pooled_auc' && !m.siteId).map((m) => m.round),
    ).toEqual([1, 0]);

    // Cross-site: each row is the site's local model (its delta on the global the last fine-tune
    // round started from), bit for bit, and that is what every site was sent.
    expect(crossSite).not.toBeNull();
    const lastBase = detail.rounds.find((r) => r.stage === 'finetune' && r.round === 1)!.inputDigest!;
    const base = decodeWeights(await blobs.get(lastBase));
    for (const [i, id] of SITES.entries()) {
      const model = crossSite!.models[id];
      expect(model.finetuneRound).toBe(1);
      const expected = encodeWeights(withDelta(base, DELTA[id]), 'float32');
      expect(Buffer.from(await blobs.get(model.digest)).equals(expected)).toBe(true);
      for (const sim of sims) expect(sim.received.get(`evaluate/${10_000 + i}`)).toBe(model.digest);
    }
    const aucs = Object.fromEntries(
      Object.entries(crossSite!.matrix).map(([owner, row]) => [
        owner,
        Object.fromEntries(Object.entries(row).map(([at, s]) => [at, s.auc])),
      ]),
    );
    expect(aucs).toEqual({
      'hospital-a': { 'hospital-a': 1, 'hospital-b': 0.5, 'hospital-c': 0.5 },
      'hospital-b': { 'hospital-a': 0.5, 'hospital-b': 1, 'hospital-c': 0.5 },
      'hospital-c': { 'hospital-a': 0.5, 'hospital-b': 0.5, 'hospital-c': 1 },
    });
    expect(crossSite!.matrix['hospital-a']['hospital-b']).toEqual({
      auc: 0.5,
      ci95: null,
      n: 4,
      nPositive: 2,
    });
  }, 30_000);
});

describe('coordinator evaluation: a cross-site matrix of local-only models (127.0.0.1)', () => {
  it("trains each site's own model from the initial model after the final evaluation (its own SSL first: protocol 1.4), folds none, and evaluates each at every site", async () => {
    const { dir, kits, start } = setup('phcc-local-only-e2e-');
    const coordinator = await start();
    const admin = adminApi(() => coordinator.url, TOKEN);
    const sims: SimSite[] = [];
    try {
      for (const id of SITES) sims.push(await startSite(coordinator.url, kits[id], id));
      const blobs = coordinator.app.get(BlobStore);
      const initial = await blobs.put(encodeWeights(INITIAL, 'float32'));
      const run = await admin<{ id: string }>('POST', '/runs', {
        stages: { ssl: { ...stage, rounds: 1, maskRatio: 0.6 }, finetune: { ...stage, rounds: 2 } },
        strategy: { name: 'fedavg' },
        quorum: { minSites: 3 },
        roundDeadlineSeconds: 20,
        encoding: 'float32',
        evaluation: { final: true, crossSite: true, crossSiteModels: 'local-only' },
        initialModel: initial.digest,
        seed: 9,
      });
      await admin('POST', `/runs/${run.id}/start`);
      const detail = await waitFor(admin, run.id, (d) => d.state !== 'running');
      expect(detail.reason).toBeUndefined();
      expect(detail.state).toBe('completed');
      expect(detail.rounds.map((r) => `${r.stage}/${r.round}`)).toEqual([
        'ssl/0',
        'finetune/10000',
        'finetune/0',
        'finetune/1',
        'evaluate/0',
        'finetune/20000', // the local-only round: no output model, the global untouched
        'evaluate/10000',
        'evaluate/10001',
        'evaluate/10002',
      ]);
      const localOnlyRound = detail.rounds.find((r) => r.stage === 'finetune' && r.round === 20_000)!;
      expect(localOnlyRound.inputDigest).toBe(initial.digest);
      expect(localOnlyRound.outputDigest).toBeUndefined();
      const final = detail.rounds.find((r) => r.stage === 'evaluate' && r.round === 0)!;
      expect(final.inputDigest).toBe(
        detail.rounds.find((r) => r.stage === 'finetune' && r.round === 1)!.outputDigest,
      );
      for (const sim of sims) expect(sim.received.get('finetune/20000')).toBe(initial.digest);
      // The SSL stage's whole budget and recipe crossed the wire in the signed task, through the
      // site's gate; its SSL rounds' tasks carry none.
      for (const sim of sims) {
        expect(sim.configs.get('finetune/20000')).toMatchObject({
          localOnly: true,
          localEpochs: 2,
          localOnlySsl: {
            epochs: 1,
            learningRate: 0.001,
            batchSize: 2,
            maskRatio: 0.6,
            optimiser: 'adam',
            weightDecay: 0,
            warmupEpochs: 0,
          },
        });
        expect(sim.configs.get('ssl/0')).toMatchObject({ localEpochs: 1, maskRatio: 0.6 });
        expect(sim.configs.get('ssl/0')?.localOnlySsl).toBeUndefined();
      }
      const db = coordinator.app.get<symbol, CoordinatorStore>(COORDINATOR_STORE);
      expect(
        (await db.updates.listForRound(run.id, 'finetune', 20_000)).map((u) => [u.siteId, u.status]),
      ).toEqual(SITES.map((id) => [id, 'accepted']));

      // Each row is the site's own delta on the initial model, bit for bit: a model that never
      // saw another site's update. Every site was sent it, and it scores 1 only at its owner.
      const { crossSite } = (await admin<Results>('GET', `/runs/${run.id}/results`)).evaluation;
      for (const [i, id] of SITES.entries()) {
        const model = crossSite!.models[id];
        expect(model.finetuneRound).toBe(20_000);
        const expected = encodeWeights(withDelta(INITIAL, DELTA[id]), 'float32');
        expect(Buffer.from(await blobs.get(model.digest)).equals(expected)).toBe(true);
        for (const sim of sims) expect(sim.received.get(`evaluate/${10_000 + i}`)).toBe(model.digest);
        expect(Object.entries(crossSite!.matrix[id]).map(([at, s]) => [at, s.auc])).toEqual(
          SITES.map((at) => [at, at === id ? 1 : 0.5]),
        );
      }
    } finally {
      for (const sim of sims) sim.socket.disconnect();
      await coordinator.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('coordinator evaluation: FedAdam server state across a restart with the same --db', () => {
  it('ends on the same model, bit for bit, as the same run uninterrupted', async () => {
    const { dir, kits, start } = setup('phcc-fedadam-resume-');
    const plan = (initialModel: string) => ({
      stages: { finetune: { ...stage, rounds: 2 } },
      strategy: fedadam,
      // Every site in every round: the two runs must aggregate the same updates.
      quorum: { minSites: 3 },
      roundDeadlineSeconds: 30,
      encoding: 'float32',
      evaluation: { final: false },
      initialModel,
      seed: 4,
    });
    let coordinator = await start();
    const admin = adminApi(() => coordinator.url, TOKEN);
    let sockets: Socket[] = [];
    try {
      const initial = await coordinator.app.get(BlobStore).put(encodeWeights(INITIAL, 'float32'));
      // Fine-tune round 1 is held by every site: the coordinator is killed while collecting it.
      const holdRound1 = (task: TaskBody) => task.stage === 'finetune' && task.round === 1;
      for (const id of SITES)
        sockets.push((await startSite(coordinator.url, kits[id], id, holdRound1)).socket);

      const interrupted = await admin<{ id: string }>('POST', '/runs', plan(initial.digest));
      await admin('POST', `/runs/${interrupted.id}/start`);
      const collecting = await waitFor(
        admin,
        interrupted.id,
        (d) =>
          d.rounds.some((r) => r.stage === 'finetune' && r.round === 1 && r.state === 'collecting') ||
          d.state !== 'running',
      );
      try {
        expect(collecting.state).toBe('running');
      } finally {
        await coordinator.close();
        for (const socket of sockets) socket.disconnect();
      }

      coordinator = await start();
      sockets = [];
      for (const id of SITES) sockets.push((await startSite(coordinator.url, kits[id], id)).socket);
      const resumed = await waitFor(admin, interrupted.id, (d) => d.state !== 'running');
      expect(resumed.reason).toBeUndefined();
      expect(resumed.state).toBe('completed');

      const uninterrupted = await admin<{ id: string }>('POST', '/runs', plan(initial.digest));
      await admin('POST', `/runs/${uninterrupted.id}/start`);
      const reference = await waitFor(admin, uninterrupted.id, (d) => d.state !== 'running');
      expect(reference.state).toBe('completed');

      const outputs = (d: Detail) =>
        d.rounds.filter((r) => r.stage === 'finetune').map((r) => r.outputDigest);
      expect(outputs(resumed)).toHaveLength(3); // the token-centring round, fine-tune rounds 0 and 1
      expect(outputs(resumed)).toEqual(outputs(reference));
      // Round 1 really ran in the second process (second attempt), from the state round 0 saved;
      // without that state FedAdam restarts its moments and round 1's model differs.
      const db = coordinator.app.get<symbol, CoordinatorStore>(COORDINATOR_STORE);
      const tasks = await db.tasks.listForRound(interrupted.id, 'finetune', 1);
      expect(tasks.filter((t) => t.attempts === 2)).toHaveLength(3);
      expect(await db.strategyStates.get(interrupted.id, 'finetune', 0)).toMatchObject({
        strategy: 'fedadam',
      });
    } finally {
      for (const socket of sockets) socket.disconnect();
      await coordinator.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

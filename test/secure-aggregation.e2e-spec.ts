import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../libs/common/src';
import { createStrategy, InMemoryUpdateSource, NamedArray } from '../libs/federated/src';
import { agentQuery, loadSiteKit, provision, TaskBody } from '../libs/protocol/src';
import { decodeWeights, encodeWeights } from '../libs/weights/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { BlobStore } from '../apps/coordinator/src/models/blob-store';
import { AgentEvent, ExecutionContext, SiteAgent, TaskExecutor, TaskResult } from '../apps/site-agent/src';
import { adminApi } from './support/admin-api';
import { FrameCapture } from './support/frame-capture';
import { connectSite } from './support/simulated-site';

/**
 * Secure aggregation end to end on 127.0.0.1: a real coordinator and three real site agents
 * (protocol 1.2, fake executors: no tfjs), with every WebSocket frame the coordinator receives
 * captured from its raw TCP bytes. The round runs the four SecAgg steps; the coordinator never
 * receives a clear update (no `update` message, no bytes of any site's update or of its encoded
 * input), and the global it aggregates equals plain FedAvg of the sites' clear updates to
 * fixed-point precision.
 */
const TOKEN = 'e2e-secagg-token-0123456789';
const SITES = ['hospital-a', 'hospital-b', 'hospital-c'] as const;
/** A site whose agent speaks protocol 1.1 (before secure aggregation). */
const OLD_SITE = 'hospital-old';
const SAMPLES: Record<string, number> = { 'hospital-a': 10, 'hospital-b': 30, 'hospital-c': 20 };

const INITIAL: NamedArray[] = [
  { name: 'decoder/w', shape: [64], values: Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) / 3) },
  {
    name: 'encoder/w',
    shape: [8, 16],
    values: Float32Array.from({ length: 128 }, (_, i) => Math.cos(i) / 5),
  },
  { name: 'head/w', shape: [4], values: Float32Array.from([0.1, 0.2, 0.3, 0.4]) },
];

/** "Training" moves each weight by a site-specific, value-specific step: updates differ everywhere. */
class StepExecutor implements TaskExecutor {
  constructor(
    readonly stage: 'ssl',
    private readonly siteIndex: number,
    private readonly nSamples: number,
  ) {}

  async execute(_task: TaskBody, global: NamedArray[], ctx: ExecutionContext): Promise<TaskResult> {
    ctx.progress(1);
    const weights = global.map((a) => ({
      name: a.name,
      shape: [...a.shape],
      values: a.values.map((v, i) => v + 0.01 * (this.siteIndex + 1) * Math.sin(i * 0.7 + this.siteIndex)),
    }));
    return { kind: 'train', weights, nSamples: this.nSamples, metrics: { loss: 0.5 + this.siteIndex } };
  }
}

function contains(haystack: Buffer, needle: Buffer): boolean {
  return haystack.indexOf(needle) >= 0;
}

describe('secure aggregation end to end, frames captured (127.0.0.1)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  const capture = new FrameCapture();
  const agents: SiteAgent[] = [];
  const events: Record<string, AgentEvent[]> = {};
  const admin = adminApi(() => coordinator.url, TOKEN);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-secagg-e2e-'));
    provision({
      outDir: join(dir, 'kits'),
      coordinatorUrl: 'http://127.0.0.1:8080',
      siteIds: [...SITES, OLD_SITE],
    });
    coordinator = await startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: TOKEN,
      log: silentLog,
    });
    capture.attach(coordinator.app.getHttpServer());
    for (const [i, siteId] of SITES.entries()) {
      const kit = { ...loadSiteKit(join(dir, 'kits', 'sites', siteId)), coordinatorUrl: coordinator.url };
      events[siteId] = [];
      const agent = new SiteAgent({
        kit,
        executors: { ssl: new StepExecutor('ssl', i, SAMPLES[siteId]) },
        stateDir: join(dir, 'state', siteId),
        transfer: { chunkBytes: 4096 },
        onEvent: (e) => events[siteId].push(e),
      });
      agents.push(agent);
      await agent.start();
    }
  });

  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  type Detail = {
    state: string;
    reason?: string;
    rounds: { stage: string; state: string; outputDigest?: string }[];
  };

  /** Runs one SSL round of the three sites, with or without secure aggregation, to its end. */
  async function runRound(privacy?: object): Promise<{ id: string; detail: Detail }> {
    capture.frames.length = 0;
    for (const siteId of SITES) events[siteId].length = 0;
    const blobs = coordinator.app.get(BlobStore);
    const initial = await blobs.put(encodeWeights(INITIAL, 'float32'));
    const created = await admin<{ id: string }>('POST', '/runs', {
      name: 'secure aggregation e2e',
      stages: {
        ssl: {
          rounds: 1,
          localEpochs: 1,
          optimiser: { name: 'adam', lr: 0.001 },
          batchSize: 2,
          maskRatio: 0.6,
        },
      },
      strategy: { name: 'fedavg' },
      quorum: { minSites: 2 },
      roundDeadlineSeconds: 20,
      maxRetries: 0,
      encoding: 'float32',
      evaluation: { final: false },
      initialModel: initial.digest,
      seed: 7,
      ...(privacy ? { privacy } : {}),
    });
    await admin('POST', `/runs/${created.id}/start`);
    let detail = await admin<Detail>('GET', `/runs/${created.id}`);
    for (let i = 0; i < 150 && detail.state === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      detail = await admin<Detail>('GET', `/runs/${created.id}`);
    }
    expect(detail.reason).toBeUndefined();
    expect(detail.state).toBe('completed');
    return { id: created.id, detail };
  }

  it('sums the masked inputs to plain FedAvg, and no frame the coordinator received holds a clear update', async () => {
    const { id, detail } = await runRound({ secureAggregation: true, threshold: 2 });
    const blobs = coordinator.app.get(BlobStore);

    // What each site put into the sum (its own log of it; it never left the site in clear).
    const inputs = SITES.map((siteId) => {
      const e = events[siteId].find((x) => x.type === 'secure-input');
      if (e?.type !== 'secure-input') throw new Error(`${siteId} took part in no secure round`);
      return { siteId, ...e };
    });

    // 1. The protocol: the four SecAgg steps arrived, and never an update.
    const names = capture.events();
    for (const name of ['secagg-keys', 'secagg-shares', 'secagg-unmask'])
      expect(names.filter((n) => n === name)).toHaveLength(3);
    expect(names).not.toContain('update');
    const text = capture.frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString('utf8'));
    expect(text.some((t) => t.includes('"type":"secagg-masked"'))).toBe(true);
    expect(text.some((t) => t.includes('"type":"update"'))).toBe(false);

    // 2. No bytes of a clear update — as float32 (how a clear round sends it) or as its fixed-point
    //    ring elements before masking — are anywhere in what the coordinator received.
    const received = capture.allBytes();
    const vectorBytes = inputs.reduce((n) => n + (64 + 128 + 4 + 1) * 6, 0);
    expect(received.length).toBeGreaterThan(vectorBytes); // the masked vectors themselves did arrive
    for (const { update } of inputs) {
      for (const tensor of update) {
        const clear = Buffer.from(Float32Array.from(tensor.values).buffer).subarray(0, 16);
        expect(contains(received, clear)).toBe(false);
      }
    }

    // 3. The global equals plain FedAvg of the clear updates, to fixed-point precision.
    const fedavg = createStrategy({ name: 'fedavg' });
    const plain = await fedavg.aggregateFit(0, {
      stage: 'ssl',
      globalLayout: INITIAL.map((a) => ({ name: a.name, shape: a.shape })),
      updates: new InMemoryUpdateSource(
        inputs.map((x) => ({
          siteId: x.siteId,
          kind: 'delta',
          numSamples: x.nSamples,
          deltaNorm: 0,
          metrics: {},
        })),
        inputs.map((x) => [x.siteId, x.update]),
      ),
      loadGlobal: async () => INITIAL.map((a) => ({ ...a, values: Float32Array.from(a.values) })),
    });
    const ssl = detail.rounds.find((r) => r.stage === 'ssl')!;
    const secure = decodeWeights(await blobs.get(ssl.outputDigest!));
    let worst = 0;
    for (const tensor of plain.weights) {
      const got = secure.find((a) => a.name === tensor.name)!;
      tensor.values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got.values[i]))));
    }
    // Fixed point: Σ ≤ 3 · 2^−(f+1) per weighted value over Σw = 60/4096, f ≥ 36; float32 dominates.
    expect(worst).toBeLessThan(1e-6);
    expect(secure.find((a) => a.name === 'encoder/w')!.values[5]).not.toBeCloseTo(INITIAL[1].values[5], 4);

    const results = await admin<{ metrics: { name: string; value: number; siteId?: string }[] }>(
      'GET',
      `/runs/${id}/results`,
    );
    expect(results.metrics.find((m) => m.name === 'train/num_sites')?.value).toBe(3);
    expect(results.metrics.find((m) => m.name === 'train/num_samples')?.value).toBe(60);
  }, 60_000);

  it('the capture sees a clear update when the plan has no secure aggregation (the check above can fail)', async () => {
    await runRound();
    expect(capture.events()).not.toContain('secagg-keys');
    const text = capture.frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString('utf8'));
    expect(text.some((t) => t.includes('"type":"update"'))).toBe(true);
    // hospital-b's clear delta of decoder/w, as its agent computes and encodes it, is in the frames.
    const step = (i: number) => 0.01 * 2 * Math.sin(i * 0.7 + 1);
    const delta = Float32Array.from(INITIAL[0].values, (v, i) => Math.fround(v + step(i)) - v);
    expect(contains(capture.allBytes(), Buffer.from(delta.buffer).subarray(0, 16))).toBe(true);
  }, 60_000);

  it('refuses a 1.1 agent a secure task with UNSUPPORTED_VERSION; it never gets the task, the others finish', async () => {
    const kit = loadSiteKit(join(dir, 'kits', 'sites', OLD_SITE));
    const old = await connectSite(coordinator.url, kit, OLD_SITE, { query: agentQuery(1, {}) });
    const errors: { body: { code: string; reason: string } }[] = [];
    const transfers: unknown[] = [];
    old.on('error', (envelope: { body: { code: string; reason: string } }, ack?: (r: unknown) => void) => {
      errors.push(envelope);
      ack?.({ ok: true });
    });
    old.on('transfer:begin', (frame: unknown) => transfers.push(frame));
    try {
      await runRound({ secureAggregation: true, threshold: 2 });
      expect(transfers).toEqual([]);
      expect(errors.map((e) => e.body.code)).toEqual(['UNSUPPORTED_VERSION']);
      expect(errors[0].body.reason).toMatch(/secure aggregation.*1\.2.*1\.1/);
    } finally {
      old.disconnect();
    }
  }, 60_000);
});

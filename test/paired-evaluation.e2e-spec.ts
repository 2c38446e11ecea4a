import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../libs/common/src';
import { initBackend } from '../libs/compute/src';
import { TINY } from '../libs/model/src/__tests__/tiny-config';
import { modelConfig, PhccModel } from '../libs/model/src/network';
import { constructedCohort, PatientSample } from '../libs/model/src/training';
import { LoadedSiteKit, loadSiteKit, provision } from '../libs/protocol/src';
import { encodeWeights } from '../libs/weights/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { pairedView, PairedComparisonView } from '../apps/coordinator/src/evaluation/paired-results';
import { BlobStore } from '../apps/coordinator/src/models/blob-store';
import { RunPlanDto } from '../apps/coordinator/src/runs/dto/run-plan.dto';
import { SiteAgent } from '../apps/site-agent/src';
import { modelExecutors } from '../apps/site-agent/src/executors/model-executors';
import { InMemorySite } from '../apps/cli/src/simulate/in-memory-site';
import { runSimulation } from '../apps/cli/src/simulate/simulation';
import { adminApi } from './support/admin-api';
import { cli } from './support/in-process-cli';

/**
 * The paired evaluation over the wire (protocol 1.3), on 127.0.0.1: a real coordinator and two
 * real site agents running the tiny network's executors on their own cohorts. The plan compares
 * its final global A with an uploaded model B; each agent receives the model bundle, scores both
 * on its test split and sends only the pair's DeLong aggregates. `GET /runs/{id}/results` must
 * give exactly what `phcc-fed simulate` computes in process for the same plan, models and data.
 * A paired evaluation asked for only after a run has completed (`phcc-fed admin runs pair`, an
 * evaluation-only follow-up run) must give exactly the numbers the run's own plan gave.
 */
const TOKEN = 'e2e-paired-evaluation-token-0123';
const SITES = ['hospital-a', 'hospital-b'] as const;
const config = modelConfig(TINY);
const data: Record<string, PatientSample[]> = Object.fromEntries(
  SITES.map((id, k) => [
    id,
    constructedCohort(config, { patients: 12, seed: 20 + k }).map((p, i) => ({
      ...p,
      split: i < 4 ? 'train' : 'test',
    })),
  ]),
);
const executorsOf = (id: string) => modelExecutors({ modelConfig: config, data: async () => data[id] });
const A = () => encodeWeights(PhccModel.create(TINY, 2).params.getWeights(), 'float32');
const B = () => encodeWeights(PhccModel.create(TINY, 5).params.getWeights(), 'float32');
const plan = (initialModel: string, compareWith: string[]) => ({
  stages: {},
  strategy: { name: 'fedavg' },
  quorum: { minSites: 2 },
  roundDeadlineSeconds: 60,
  encoding: 'float32',
  evaluation: { final: true, compareWith },
  initialModel,
  seed: 1,
});

describe('paired evaluation over the wire = in the simulator (127.0.0.1, tiny network)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phcc-paired-e2e-'));
  let coordinator: RunningCoordinator;
  const agents: SiteAgent[] = [];
  const admin = adminApi(() => coordinator.url, TOKEN);

  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'http://127.0.0.1:8080', siteIds: [...SITES] });
    coordinator = await startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: TOKEN,
      log: silentLog,
    });
    for (const id of SITES) {
      const kit: LoadedSiteKit = {
        ...loadSiteKit(join(dir, 'kits', 'sites', id)),
        coordinatorUrl: coordinator.url,
      };
      const agent = new SiteAgent({ kit, executors: executorsOf(id), stateDir: join(dir, 'agents', id) });
      await agent.start();
      agents.push(agent);
    }
  });
  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores per-site pair aggregates and serves the fixed-effect comparison the simulator computes', async () => {
    const blobs = coordinator.app.get(BlobStore);
    const a = await blobs.put(A());
    const b = await blobs.put(B());
    const run = await admin<{ id: string }>('POST', '/runs', plan(a.digest, [b.digest]));
    await admin('POST', `/runs/${run.id}/start`);
    let detail = await admin<{ state: string; reason?: string; rounds: { stage: string; round: number }[] }>(
      'GET',
      `/runs/${run.id}`,
    );
    for (let i = 0; i < 600 && detail.state === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      detail = await admin('GET', `/runs/${run.id}`);
    }
    expect(detail.reason).toBeUndefined();
    expect(detail.state).toBe('completed');
    expect(detail.rounds.map((r) => `${r.stage}/${r.round}`)).toEqual(['evaluate/0', 'evaluate/20000']);
    const results = await admin<{ paired: PairedComparisonView[] }>('GET', `/runs/${run.id}/results`);
    expect(results.paired).toHaveLength(1);
    const [wire] = results.paired;
    expect(wire.modelA).toBe(a.digest);
    expect(wire.modelB).toBe(b.digest);
    expect(wire.sites.map((s) => s.site)).toEqual([...SITES]);
    expect(wire.nPositive + wire.nNegative).toBe(16);

    // The same plan, models and cohorts in process.
    const outcome = await runSimulation({
      plan: plan('', []) as unknown as RunPlanDto,
      initialModel: A(),
      compareModels: [B()],
      sites: SITES.map((id) => new InMemorySite(id, executorsOf(id), join(dir, 'sim', id))),
      workDir: join(dir, 'sim'),
      log: silentLog,
    });
    expect(outcome.state).toBe('completed');
    const metrics = await outcome.store.metrics.listForRun(outcome.runId);
    outcome.store.close();
    expect(pairedView(metrics, [b.digest], a.digest)).toEqual([wire]);
  }, 120_000);

  /** Polls GET /runs/{id} until the run leaves `running`. */
  async function ended(id: string) {
    let detail = await admin<{ state: string; reason?: string }>('GET', `/runs/${id}`);
    for (let i = 0; i < 900 && detail.state === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      detail = await admin('GET', `/runs/${id}`);
    }
    return detail;
  }

  it('a paired evaluation launched after the run completed gives the numbers the run’s own plan gave', async () => {
    const blobs = coordinator.app.get(BlobStore);
    const a = await blobs.put(A());
    const b = await blobs.put(B());
    // One fine-tune round, batch 4 (the evaluation scores 4 patients at a time; a stage-less plan
    // would default to 1), compared with B at the end: the reference.
    const trained = {
      ...plan(a.digest, [b.digest]),
      stages: {
        finetune: { rounds: 1, localEpochs: 1, batchSize: 4, optimiser: { name: 'adam', lr: 1e-3 } },
      },
    };
    const run = await admin<{ id: string }>('POST', '/runs', trained);
    await admin('POST', `/runs/${run.id}/start`);
    expect(await ended(run.id)).toMatchObject({ state: 'completed' });
    const reference = await admin<{ paired: PairedComparisonView[] }>('GET', `/runs/${run.id}/results`);
    expect(reference.paired).toHaveLength(1);
    expect(reference.paired[0].modelA).not.toBe(a.digest); // the trained global, not the initial model

    process.env.PHCC_ADMIN_TOKEN = TOKEN;
    try {
      const adminCli = (...args: string[]) =>
        cli('admin', '--coordinator', coordinator.url, 'runs', 'pair', ...args);
      const paired = await adminCli(run.id, '--with', b.digest, '--wait', '--json', '--interval', '0.1');
      expect(paired.stderr).toBe('');
      expect(paired.code).toBe(0);
      const followUp = JSON.parse(paired.stdout.trim().split('\n').at(-1)!) as {
        runId: string;
        paired: PairedComparisonView[];
      };
      expect(followUp.runId).not.toBe(run.id);
      expect(followUp.paired).toEqual(reference.paired);
      const detail = await admin<{
        plan: { stages: object; initialModel: string; evaluation: object };
        rounds: { stage: string; round: number }[];
      }>('GET', `/runs/${followUp.runId}`);
      expect(detail.plan.stages).toEqual({});
      expect(detail.plan.initialModel).toBe(reference.paired[0].modelA);
      expect(detail.plan.evaluation).toEqual({ final: false, compareWith: [b.digest], batchSize: 4 });
      expect(detail.rounds.map((r) => `${r.stage}/${r.round}`)).toEqual(['evaluate/20000']);

      // --wait without --json: one line per compared model.
      const text = await adminCli(run.id, '--with', b.digest, '--wait', '--interval', '0.1');
      expect(text.code).toBe(0);
      const d = reference.paired[0].difference;
      expect(text.stdout).toContain(
        `A − B ${d.estimate.toFixed(3)} (95 % CI ${d.ci95[0].toFixed(3)} to ${d.ci95[1].toFixed(3)}, p ${d.p.toPrecision(3)})`,
      );

      // Without --wait: the follow-up's id, started.
      const started = await adminCli(run.id, '--with', b.digest);
      expect(started.code).toBe(0);
      const startedId = /^run (\S+) running/.exec(started.stdout)?.[1];
      expect(startedId).toBeDefined();
      expect(await ended(startedId!)).toMatchObject({ state: 'completed' });

      // Bad input: one line each, and no run created.
      const before = (await admin<unknown[]>('GET', '/runs')).length;
      const created = await admin<{ id: string }>('POST', '/runs', plan(a.digest, [b.digest]));
      const refusals = [
        [
          [created.id, '--with', b.digest],
          `run ${created.id} is created: a paired evaluation needs a completed run`,
        ],
        [
          [run.id, '--with', 'f'.repeat(128)],
          'evaluation.compareWith[0]: no model ffffffffffffffff… in the blob store',
        ],
        [[run.id, '--with', 'abc'], '--with abc: not a SHA-512 digest in lowercase hex'],
        [
          [followUp.runId, '--with', b.digest],
          `run ${followUp.runId} has no aggregated model yet (state completed)`,
        ],
        [['r-nope', '--with', b.digest], 'run "r-nope" does not exist'],
      ] as const;
      for (const [args, message] of refusals) {
        const refused = await adminCli(...args);
        expect(refused.code).not.toBe(0);
        expect(refused.stdout).toBe('');
        expect(refused.stderr).toContain(message);
        expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      }
      expect((await admin<unknown[]>('GET', '/runs')).length).toBe(before + 1);
    } finally {
      delete process.env.PHCC_ADMIN_TOKEN;
    }
  }, 180_000);
});

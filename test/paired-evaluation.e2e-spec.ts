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

/**
 * The paired evaluation over the wire (protocol 1.3), on 127.0.0.1: a real coordinator and two
 * real site agents running the tiny network's executors on their own cohorts. The plan compares
 * its final global A with an uploaded model B; each agent receives the model bundle, scores both
 * on its test split and sends only the pair's DeLong aggregates. `GET /runs/{id}/results` must
 * give exactly what `phcc-fed simulate` computes in process for the same plan, models and data.
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
});

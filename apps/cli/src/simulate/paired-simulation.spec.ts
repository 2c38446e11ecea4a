import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../../../libs/common/src';
import { initBackend } from '../../../../libs/compute/src';
import { PAIRED_EVALUATION_ROUND } from '../../../../libs/federated/src';
import { pairedDifferenceAcrossSites } from '../../../../libs/metrics/src';
import { TINY } from '../../../../libs/model/src/__tests__/tiny-config';
import { modelConfig, PhccModel } from '../../../../libs/model/src/network';
import { constructedCohort, PatientSample } from '../../../../libs/model/src/training';
import { sampleBody } from '../../../../libs/protocol/src/test-support/fixtures';
import { TaskBody } from '../../../../libs/protocol/src';
import { decodeWeights, encodeWeights } from '../../../../libs/weights/src';
import { pairedView } from '../../../coordinator/src/evaluation/paired-results';
import { RunPlanDto } from '../../../coordinator/src/runs/dto/run-plan.dto';
import { modelExecutors, pairedTestAggregates } from '../../../site-agent/src/executors/model-executors';
import { InMemorySite } from './in-memory-site';
import { runSimulation } from './simulation';

/**
 * The paired evaluation on the production path, in process: the engine's paired round, the
 * dispatcher's model bundle, the site's real executors and the coordinator's fixed-effect
 * combination. The stored per-site aggregates must equal what `pairedTestAggregates` computes
 * directly from the same executors' options, and the combined result what libs/metrics gives.
 */
const config = modelConfig(TINY);

function cohort(seed: number): PatientSample[] {
  return constructedCohort(config, { patients: 12, seed }).map((p, i) => ({
    ...p,
    split: i < 4 ? 'train' : 'test',
  }));
}

describe('simulate: paired evaluation of the final global against a named model', () => {
  let dir: string;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    dir = mkdtempSync(join(tmpdir(), 'phcc-paired-sim-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("stores each site's DeLong aggregates exactly as the executors compute them, combined by fixed effect", async () => {
    const a = encodeWeights(PhccModel.create(TINY, 2).params.getWeights(), 'float32');
    const b = encodeWeights(PhccModel.create(TINY, 5).params.getWeights(), 'float32');
    const data = { 'hospital-a': cohort(8), 'hospital-b': cohort(11) };
    const optionsOf = (site: keyof typeof data) => ({ modelConfig: config, data: async () => data[site] });
    const sites = (Object.keys(data) as (keyof typeof data)[]).map(
      (site) => new InMemorySite(site, modelExecutors(optionsOf(site)), join(dir, site)),
    );
    const plan = {
      stages: {},
      strategy: { name: 'fedavg' },
      quorum: { minSites: 2 },
      roundDeadlineSeconds: 30,
      maxRetries: 0,
      encoding: 'float32',
      evaluation: { final: false },
      seed: 3,
    } as unknown as RunPlanDto;
    const outcome = await runSimulation({
      plan,
      initialModel: a,
      compareModels: [b],
      sites,
      workDir: join(dir, 'run'),
      log: silentLog,
    });
    expect(outcome.reason).toBeUndefined();
    expect(outcome.state).toBe('completed');
    const rounds = await outcome.store.rounds.listForRun(outcome.runId);
    expect(rounds.map((r) => `${r.stage}/${r.round}/${r.state}`)).toEqual([
      `evaluate/${PAIRED_EVALUATION_ROUND}/done`,
    ]);
    const metrics = await outcome.store.metrics.listForRun(outcome.runId);
    const run = await outcome.store.runs.get(outcome.runId);
    outcome.store.close();
    const compareWith = (JSON.parse(run!.planJson) as RunPlanDto).evaluation.compareWith!;
    const [view] = pairedView(metrics, compareWith, rounds[0].inputDigest ?? null);

    // The same numbers, straight from the executors' code on each site's test split. The task's
    // config is what the engine sends when the plan has no stages (batch size 1).
    const task = { ...sampleBody('task', 'coordinator'), stage: 'evaluate' } as TaskBody;
    task.config = { ...task.config, batchSize: 1 };
    const direct = [];
    for (const site of Object.keys(data) as (keyof typeof data)[])
      direct.push({
        site,
        ...(await pairedTestAggregates(optionsOf(site), task, decodeWeights(a), decodeWeights(b))),
      });
    const expected = pairedDifferenceAcrossSites(direct);
    expect(view.modelB).toBe(compareWith[0]);
    expect(view.sites.map((s) => [s.site, s.aucA, s.aucB, s.nPositive, s.nNegative])).toEqual(
      direct.map((s) => [s.site, s.aucA, s.aucB, s.nPos, s.nNeg]),
    );
    expect(view.difference).toEqual({
      estimate: expected.difference.estimate,
      ci95: expected.difference.ci,
      standardError: expected.difference.standardError,
      z: expected.difference.z,
      p: expected.difference.p,
    });
    expect(view.heterogeneity).toEqual({
      q: expected.difference.q,
      df: 1,
      p: expected.difference.qP,
      i2: expected.difference.i2,
    });
    expect(view.aucA.estimate).toBe(expected.aucA.estimate);
    expect(view.nPositive + view.nNegative).toBe(16);
  });
});

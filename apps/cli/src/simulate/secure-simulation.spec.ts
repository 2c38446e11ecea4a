import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../../../libs/common/src';
import { decodeWeights, encodeWeights, NamedArray } from '../../../../libs/weights/src';
import { RunPlanDto } from '../../../coordinator/src/runs/dto/run-plan.dto';
import { FakeExecutor } from '../../../site-agent/src/test-support/fake-executor';
import { InMemorySite } from './in-memory-site';
import { runSimulation } from './simulation';

/**
 * `phcc-fed simulate` with `privacy.secureAggregation`: the in-process federation runs the SecAgg
 * steps on the same engine, sessions and site-work as the coordinator and the agents, through SSL,
 * the token-centring round and fine-tuning, and ends on the same model as the plain run.
 */
const INITIAL: NamedArray[] = [
  { name: 'decoder/w', shape: [6], values: Float32Array.from([0.5, -0.5, 1, 2, 0, 0.25]) },
  { name: 'encoder/w', shape: [2, 3], values: Float32Array.from([1, 2, 3, -1, -2, -3]) },
  { name: 'head/w', shape: [2], values: Float32Array.from([0.1, 0.2]) },
];

function plan(privacy?: object): RunPlanDto {
  const stage = { rounds: 2, localEpochs: 1, optimiser: { name: 'adam' as const, lr: 0.001 }, batchSize: 2 };
  return {
    stages: { ssl: { ...stage, maskRatio: 0.5 }, finetune: stage },
    strategy: { name: 'fedavg' },
    quorum: { minSites: 2 },
    roundDeadlineSeconds: 30,
    maxRetries: 0,
    encoding: 'float32',
    evaluation: { final: true },
    seed: 3,
    ...(privacy ? { privacy } : {}),
  } as unknown as RunPlanDto;
}

describe('simulate with secure aggregation', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-secure-sim-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function simulate(name: string, privacy?: object) {
    const sites = [0.01, 0.03, -0.02].map(
      (step, i) =>
        new InMemorySite(
          `hospital-${'abc'[i]}`,
          {
            ssl: new FakeExecutor('ssl', step),
            finetune: new FakeExecutor('finetune', 2 * step),
            evaluate: new FakeExecutor('evaluate'),
          },
          join(dir, name, `site-${i}`),
        ),
    );
    const outcome = await runSimulation({
      plan: plan(privacy),
      initialModel: encodeWeights(INITIAL, 'float32'),
      sites,
      workDir: join(dir, name),
      log: silentLog,
    });
    const runs = await outcome.store.rounds.listForRun(outcome.runId);
    const last = runs.filter((r) => r.stage === 'finetune' && r.round === 1)[0];
    const weights = decodeWeights(await outcome.blobs.get(last.outputDigest!));
    // Updates the coordinator stored, over every training round (a secure round stores none).
    let stored = 0;
    for (const r of runs)
      stored += (await outcome.store.updates.listForRound(outcome.runId, r.stage, r.round)).length;
    const metrics = await outcome.store.metrics.listForRun(outcome.runId);
    outcome.store.close();
    return { outcome, weights, stored, metrics };
  }

  it("runs every training round through the SecAgg steps and ends on the plain run's model", async () => {
    const plain = await simulate('plain');
    const secure = await simulate('secure', { secureAggregation: true, threshold: 2 });
    expect(plain.outcome.state).toBe('completed');
    expect(secure.outcome.reason).toBeUndefined();
    expect(secure.outcome.state).toBe('completed');
    for (const tensor of plain.weights) {
      const got = secure.weights.find((a) => a.name === tensor.name)!;
      tensor.values.forEach((v, i) => expect(Math.abs(got.values[i] - v)).toBeLessThan(1e-6));
    }
    // The plain run stored each site's update of each of its 5 training rounds; the secure one none,
    // yet its rounds folded all three sites.
    expect(plain.stored).toBe(15);
    expect(secure.stored).toBe(0);
    const numSites = secure.metrics.filter((m) => m.name === 'train/num_sites').map((m) => m.value);
    expect(numSites).toEqual([3, 3, 3, 3, 3]);
    // …and the model moved: the comparison is not between two untouched globals.
    expect(Math.abs(secure.weights[1].values[0] - INITIAL[1].values[0])).toBeGreaterThan(0.01);
  }, 30_000);
});

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  combineTokenCentre,
  createStrategy,
  LOCAL_ONLY_ROUND,
  taskConfig,
} from '../../../../libs/federated/src';
import { TINY } from '../../../../libs/model/src/__tests__/tiny-config';
import { initBackend } from '../../../../libs/compute/src/select';
import { TOKEN_CENTER } from '../../../../libs/model/src/network/head';
import { modelConfig, PhccModel } from '../../../../libs/model/src/network';
import {
  constructedCohort,
  initTokenCenter,
  PatientSample,
  trainFinetune,
  trainSsl,
} from '../../../../libs/model/src/training';
import { sampleBody } from '../../../../libs/protocol/src/test-support/fixtures';
import { TaskBody, TaskConfigDto } from '../../../../libs/protocol/src';
import { NamedArray } from '../../../../libs/weights/src';
import { ExecutionContext } from '../executor';
import { FinetuneExecutor, SslExecutor } from './model-executors';
import { FileOptimiserStates } from './optimiser-state';

/** Federated training as `train` does it, at the site: token centre, schedule, optimiser state. */
const config = modelConfig(TINY);

function cohort(seed: number, n = 6): PatientSample[] {
  return constructedCohort(config, { patients: n, seed }).map((p, i) => ({
    ...p,
    split: i < n - 2 ? 'train' : 'test',
  }));
}

function task(stage: 'ssl' | 'finetune', round: number, config: Partial<TaskConfigDto> = {}): TaskBody {
  const body = sampleBody('task', 'coordinator');
  return {
    ...body,
    runId: 'run-faithful',
    round,
    stage,
    config: { ...body.config, localEpochs: 1, batchSize: 4, learningRate: 2e-3, ...config },
  } as TaskBody;
}

const ctx = (): ExecutionContext => ({ signal: new AbortController().signal, progress: () => undefined });

function trained(result: Awaited<ReturnType<FinetuneExecutor['execute']>>): NamedArray[] {
  if (result.kind !== 'train') throw new Error('expected a training result');
  return result.weights;
}

const maxDiff = (a: NamedArray[], b: NamedArray[]): number =>
  Math.max(...a.map((w, i) => Math.max(...w.values.map((v, j) => Math.abs(v - b[i].values[j])))));

describe('faithful federated training at the site (tiny network)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it("token centring: the sites' means averaged by count = the central mean over all their patients", async () => {
    const global = PhccModel.create(TINY, 1).params.getWeights();
    const sites = [cohort(3, 6), cohort(4, 9)];
    const shares = [];
    for (const [k, data] of sites.entries()) {
      const result = await new FinetuneExecutor({ modelConfig: config, data: async () => data }).execute(
        task('finetune', 0, { tokenCentring: true }),
        global,
        ctx(),
      );
      if (result.kind !== 'train') throw new Error('expected a training result');
      // Only the centre moved among the stage's parts (encoder + head): nothing was trained.
      const weights = result.weights;
      for (const [i, w] of weights.entries()) {
        if (w.name !== TOKEN_CENTER && !w.name.startsWith('decoder/'))
          expect(w.values).toEqual(global[i].values);
      }
      expect(result.nSamples).toBe(data.filter((p) => p.split === 'train').length);
      shares.push({
        site: `s${k}`,
        count: result.nSamples,
        mean: weights.find((w) => w.name === TOKEN_CENTER)!.values,
      });
    }
    const federated = combineTokenCentre(shares);
    const central = PhccModel.create(TINY, 1);
    const pooled = [...sites[0], ...sites[1]];
    await initTokenCenter(
      central,
      pooled,
      pooled.flatMap((p, i) => (p.split === 'train' ? [i] : [])),
    );
    const expected = central.params.getWeights().find((w) => w.name === TOKEN_CENTER)!.values;
    expect(Math.max(...federated.map((v, i) => Math.abs(v - expected[i])))).toBeLessThan(1e-5);
    expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1e-3);
    central.dispose();
  });

  it('optimiser moments survive between rounds on disk (a restarted agent continues the same way), retries reuse the round before', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phcc-optstate-'));
    try {
      const data = cohort(5, 6);
      const global0 = PhccModel.create(TINY, 2).params.getWeights();
      const keep = { keepOptimiserState: true, optimiser: 'adam' as const, weightDecay: 0.01 };
      const make = () =>
        new SslExecutor({
          modelConfig: config,
          data: async () => data,
          optimiserStates: new FileOptimiserStates(dir),
        });
      const first = make();
      const round0 = trained(await first.execute(task('ssl', 0, keep), global0, ctx()));
      expect(readdirSync(join(dir, 'optimiser'))).toHaveLength(1);
      // A new executor over the same directory = the agent restarted between rounds.
      const round1 = trained(await make().execute(task('ssl', 1, keep), round0, ctx()));
      const retried = trained(await make().execute(task('ssl', 1, keep), round0, ctx()));
      expect(maxDiff(round1, retried)).toBe(0);
      // Without the moments round 1 trains differently.
      const fresh = trained(
        await make().execute(task('ssl', 1, { ...keep, keepOptimiserState: false }), round0, ctx()),
      );
      expect(maxDiff(round1, fresh)).toBeGreaterThan(0);
      // Rounds r and r − 1 are kept per run and stage, no more.
      trained(await make().execute(task('ssl', 2, keep), round1, ctx()));
      expect(readdirSync(join(dir, 'optimiser')).sort()).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the plan's optimiser name and weight decay reach training", async () => {
    const data = cohort(6, 6);
    const global = PhccModel.create(TINY, 3).params.getWeights();
    const logged: Record<string, unknown>[] = [];
    const log = { info: (o: Record<string, unknown>) => logged.push(o) } as never;
    const executor = new SslExecutor({ modelConfig: config, data: async () => data, log });
    const adam = trained(await executor.execute(task('ssl', 0, { optimiser: 'adam' }), global, ctx()));
    const sgd = trained(await executor.execute(task('ssl', 0, { optimiser: 'sgd' }), global, ctx()));
    const decayed = trained(
      await executor.execute(task('ssl', 0, { optimiser: 'adam', weightDecay: 0.9 }), global, ctx()),
    );
    expect(logged.map((o) => o.optimiser)).toEqual(['adam', 'sgd', 'adam']);
    expect(maxDiff(adam, sgd)).toBeGreaterThan(0);
    expect(maxDiff(adam, decayed)).toBeGreaterThan(0);
  });

  it('refuses a schedule that the task does not fit, naming the task', async () => {
    const data = cohort(7, 6);
    const global = PhccModel.create(TINY, 3).params.getWeights();
    const executor = new SslExecutor({ modelConfig: config, data: async () => data });
    await expect(
      executor.execute(task('ssl', 3, { scheduleStartEpoch: 3, scheduleTotalEpochs: 3 }), global, ctx()),
    ).rejects.toThrow(/epochs 4–4 exceed the stage's 3/);
    await expect(executor.execute(task('ssl', 0, { scheduleStartEpoch: 0 }), global, ctx())).rejects.toThrow(
      /come together/,
    );
  });

  it("a local-only task is `train` at the site: the coordinator's config gives the weights `trainFinetune` gives with the same budget and seed", async () => {
    const data = cohort(8, 6);
    const global = PhccModel.create(TINY, 4).params.getWeights();
    const finetune = {
      rounds: 2,
      localEpochs: 1,
      batchSize: 4,
      optimiser: { name: 'adam' as const, lr: 2e-3, weightDecay: 0.05 },
      warmupEpochs: 1,
      frozenEncoderWarmupEpochs: 1,
    };
    const step = { stage: 'finetune' as const, round: LOCAL_ONLY_ROUND };
    const localOnly = taskConfig(
      {
        stages: { finetune },
        quorum: { minSites: 1 },
        roundDeadlineSeconds: 60,
        encoding: 'float32',
        evaluation: { final: true, crossSite: true, crossSiteModels: 'local-only' },
        seed: 9,
      },
      step,
      createStrategy({ name: 'fedavg' }),
      1e9,
    );
    const executor = new FinetuneExecutor({ modelConfig: config, data: async () => data });
    const site = trained(
      await executor.execute(task('finetune', LOCAL_ONLY_ROUND, localOnly), global, ctx()),
    );
    // What `train --stage finetune` runs on this site's patients: the plan's recipe over
    // rounds × local epochs, its own token centre, a fresh AdamW (loops.ts defaults for the rest).
    const train = async (seed: number, epochs: number): Promise<NamedArray[]> => {
      const central = new PhccModel(config, seed);
      try {
        central.params.setWeights(global, { parts: ['encoder', 'head'] });
        await trainFinetune(central, data, {
          seed,
          epochs,
          lr: 2e-3,
          batchSize: 4,
          warmupEpochs: 1,
          weightDecay: 0.05,
          freezeEncoderEpochs: 1,
        });
        return central.params.getWeights();
      } finally {
        central.dispose();
      }
    };
    const trainedParts = (w: NamedArray[]) => w.filter((t) => !t.name.startsWith('decoder/'));
    const expected = trainedParts(await train(localOnly.seed, 2));
    expect(trainedParts(site).map((t) => t.name)).toEqual(expected.map((t) => t.name));
    // Equal up to float32 rounding: the two paths build the same steps but not bit for bit the
    // same kernels' order (measured: 5e-5 at most, on the token centre; ≤ 1e-6 elsewhere), while
    // another seed or one epoch less is far off.
    expect(maxDiff(trainedParts(site), expected)).toBeLessThan(1e-4);
    expect(maxDiff(trainedParts(site), trainedParts(await train(localOnly.seed + 1, 2)))).toBeGreaterThan(
      1e-3,
    );
    expect(maxDiff(trainedParts(site), trainedParts(await train(localOnly.seed, 1)))).toBeGreaterThan(1e-3);
    // `localOnly` is what centres the tokens on the site's own patients first: without it the
    // same task trains from the global's centre, as a federated round does, to another model.
    const { localOnly: _flag, ...asRound } = localOnly;
    const roundLike = trained(
      await executor.execute(task('finetune', LOCAL_ONLY_ROUND, asRound), global, ctx()),
    );
    expect(maxDiff(trainedParts(site), trainedParts(roundLike))).toBeGreaterThan(1e-3);
  });

  it("in an SSL run the local-only task is `train --stage both` at the site: `trainSsl` then `trainFinetune` with the plan's recipes and seed", async () => {
    const data = cohort(9, 6);
    const global = PhccModel.create(TINY, 5).params.getWeights();
    const ssl = {
      rounds: 2,
      localEpochs: 1,
      batchSize: 8,
      optimiser: { name: 'adam' as const, lr: 1e-3, weightDecay: 1e-4 },
      warmupEpochs: 1,
      maskRatio: 0.5,
    };
    const finetune = {
      rounds: 1,
      localEpochs: 2,
      batchSize: 4,
      optimiser: { name: 'adam' as const, lr: 2e-3, weightDecay: 0.05 },
      frozenEncoderWarmupEpochs: 1,
    };
    const localOnly = taskConfig(
      {
        stages: { ssl, finetune },
        quorum: { minSites: 1 },
        roundDeadlineSeconds: 60,
        encoding: 'float32',
        evaluation: { final: true, crossSite: true, crossSiteModels: 'local-only' },
        seed: 10,
      },
      { stage: 'finetune', round: LOCAL_ONLY_ROUND },
      createStrategy({ name: 'fedavg' }),
      1e9,
    );
    const progress: number[] = [];
    const executor = new FinetuneExecutor({ modelConfig: config, data: async () => data });
    const result = await executor.execute(task('finetune', LOCAL_ONLY_ROUND, localOnly), global, {
      ...ctx(),
      progress: (f) => progress.push(f),
    });
    const site = trained(result);
    // `train --stage both` on this site's patients: SSL from the sent encoder and decoder, then a
    // fine-tune from the SSL encoder with the sent head, both seeded alike, each a fresh AdamW
    // over one warm-up + cosine schedule of its stage's whole budget.
    const train = async (seed: number, sslEpochs: number): Promise<NamedArray[]> => {
      const central = new PhccModel(config, seed);
      try {
        central.params.setWeights(global, { parts: ['encoder', 'head'] });
        if (sslEpochs > 0) {
          const pretraining = new PhccModel({ ...config, maskRatio: 0.5 }, seed);
          try {
            pretraining.params.setWeights(global, { parts: ['encoder', 'decoder'] });
            await trainSsl(pretraining, data, {
              seed,
              epochs: sslEpochs,
              lr: 1e-3,
              batchSize: 8,
              warmupEpochs: 1,
              weightDecay: 1e-4,
            });
            central.params.setWeights(pretraining.params.getWeights({ parts: ['encoder'] }), {
              parts: ['encoder'],
            });
          } finally {
            pretraining.dispose();
          }
        }
        await trainFinetune(central, data, {
          seed,
          epochs: 2,
          lr: 2e-3,
          batchSize: 4,
          warmupEpochs: 0,
          weightDecay: 0.05,
          freezeEncoderEpochs: 1,
        });
        return central.params.getWeights();
      } finally {
        central.dispose();
      }
    };
    const trainedParts = (w: NamedArray[]) => w.filter((t) => !t.name.startsWith('decoder/'));
    const expected = trainedParts(await train(localOnly.seed, 2));
    expect(trainedParts(site).map((t) => t.name)).toEqual(expected.map((t) => t.name));
    expect(maxDiff(trainedParts(site), expected)).toBeLessThan(1e-4);
    // Skipping the SSL part, or one SSL epoch less, or another seed, is another model.
    const withoutSsl = trainedParts(await train(localOnly.seed, 0));
    expect(maxDiff(trainedParts(site), withoutSsl)).toBeGreaterThan(1e-3);
    expect(maxDiff(trainedParts(site), trainedParts(await train(localOnly.seed, 1)))).toBeGreaterThan(1e-3);
    expect(maxDiff(trainedParts(site), trainedParts(await train(localOnly.seed + 1, 2)))).toBeGreaterThan(
      1e-3,
    );
    // The same task without `localOnlySsl` (what a pre-1.4 agent would train) is the no-SSL model.
    const { localOnlySsl: _ssl, ...noSsl } = localOnly;
    const skipped = trained(await executor.execute(task('finetune', LOCAL_ONLY_ROUND, noSsl), global, ctx()));
    expect(maxDiff(trainedParts(skipped), withoutSsl)).toBeLessThan(1e-4);
    // The update reports the SSL part's loss, and progress runs once from 0 to 1 over both parts.
    if (result.kind !== 'train') throw new Error('expected a training result');
    expect(result.metrics.ssl_loss).toBeGreaterThan(0);
    expect(progress.every((f, i) => f >= 0 && f <= 1 && (i === 0 || f >= progress[i - 1]))).toBe(true);
    expect(progress.at(-1)).toBeCloseTo(1, 6);
    // A recipe for SSL outside a local-only task is refused, naming the task.
    await expect(
      executor.execute(
        task('finetune', 0, { ...noSsl, localOnly: false, localOnlySsl: localOnly.localOnlySsl }),
        global,
        ctx(),
      ),
    ).rejects.toThrow(/localOnlySsl comes only with localOnly/);
  });
});

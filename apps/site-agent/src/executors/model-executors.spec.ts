import { TINY } from '../../../../libs/model/src/__tests__/tiny-config';
import { initBackend } from '../../../../libs/compute/src';
import { layoutOf } from '../../../../libs/weights/src';
import { modelConfig, PhccModel } from '../../../../libs/model/src/network';
import { constructedCohort, PatientSample, predict } from '../../../../libs/model/src/training';
import { sampleBody } from '../../../../libs/protocol/src/test-support/fixtures';
import { TaskBody } from '../../../../libs/protocol/src';
import { ExecutionContext } from '../executor';
import { EvaluateExecutor, FinetuneExecutor, pairedTestAggregates, SslExecutor } from './model-executors';
import { chooseThreshold, delongPairedCovariance, rocSummary } from '../../../../libs/metrics/src';
import { VAL_THRESHOLD_METRIC } from '../../../../libs/federated/src';
import { ProximalPull } from './proximal-pull';

/** The real executors on the tiny network and an in-memory cohort: a few steps, seconds on 2 cores. */
const config = modelConfig(TINY);

function patients(): PatientSample[] {
  return constructedCohort(config, { patients: 8, seed: 3 }).map((p, i) => ({
    ...p,
    split: i < 4 ? 'train' : 'test',
  }));
}

function task(stage: 'ssl' | 'finetune' | 'evaluate'): TaskBody {
  const body = sampleBody('task', 'coordinator');
  return {
    ...body,
    stage,
    config: { ...body.config, localEpochs: 1, batchSize: 4, learningRate: 1e-3 },
  } as TaskBody;
}

const ctx = (): ExecutionContext & { fractions: number[] } => {
  const fractions: number[] = [];
  return { signal: new AbortController().signal, progress: (f) => fractions.push(f), fractions };
};

describe('model executors (tiny network)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('SSL trains the received global and returns weights of exactly its layout', async () => {
    const global = PhccModel.create(TINY, 1).params.getWeights();
    const data = patients();
    const executor = new SslExecutor({ modelConfig: config, data: async () => data });
    const progress = ctx();
    const result = await executor.execute(task('ssl'), global, progress);
    if (result.kind !== 'train') throw new Error('expected a training result');
    expect(layoutOf(result.weights)).toEqual(layoutOf(global));
    expect(result.nSamples).toBe(4);
    expect(Number.isFinite(result.metrics.loss)).toBe(true);
    const stem = (ws: typeof global) => ws.find((w) => w.name.startsWith('encoder/'))!.values;
    expect(stem(result.weights)).not.toEqual(stem(global));
    expect(progress.fractions.at(-1)).toBe(1);
  });

  it("fine-tune freezes the encoder for the task's freezeEncoderEpochs, and only then", async () => {
    const global = PhccModel.create(TINY, 1).params.getWeights();
    const data = patients();
    expect(new Set(data.filter((p) => p.split === 'train').map((p) => p.label))).toEqual(new Set([0, 1]));
    const executor = new FinetuneExecutor({ modelConfig: config, data: async () => data });
    const changed = async (freezeEncoderEpochs: number | undefined, part: string): Promise<boolean> => {
      const t = task('finetune');
      const result = await executor.execute(
        { ...t, config: { ...t.config, localEpochs: 2, freezeEncoderEpochs } },
        global,
        ctx(),
      );
      if (result.kind !== 'train') throw new Error('expected a training result');
      return result.weights.some(
        (w, i) => w.name.startsWith(part) && w.values.some((v, j) => v !== global[i].values[j]),
      );
    };
    // Both local epochs head-only: the encoder comes back bit for bit, the head has moved.
    expect(await changed(2, 'encoder/')).toBe(false);
    expect(await changed(2, 'head/')).toBe(true);
    // Absent (an older coordinator, or no warm-up) and 1 of 2: the encoder trains.
    expect(await changed(undefined, 'encoder/')).toBe(true);
    expect(await changed(1, 'encoder/')).toBe(true);
  });

  it('evaluation returns counts, AUC and histograms of the labelled test split only', async () => {
    const global = PhccModel.create(TINY, 2).params.getWeights();
    const data = patients();
    const executor = new EvaluateExecutor({ modelConfig: config, data: async () => data, histogramBins: 5 });
    const result = await executor.execute(task('evaluate'), global, ctx());
    if (result.kind !== 'evaluate') throw new Error('expected an evaluation result');
    const test = data.filter((p) => p.split === 'test');
    expect(result.nPositive + result.nNegative).toBe(test.length);
    expect(result.nPositive).toBe(test.filter((p) => p.label === 1).length);
    expect(result.histogram.positive.reduce((a, b) => a + b, 0)).toBe(result.nPositive);
    expect(result.histogram.negative.reduce((a, b) => a + b, 0)).toBe(result.nNegative);
    expect(result.histogram.bins).toBe(5);
    expect(result.auc).toBeGreaterThanOrEqual(0);
    expect(result.auc).toBeLessThanOrEqual(1);
  });

  it('reports sensitivity, specificity, PPV, NPV, accuracy at a cut-off chosen on the validation split, or given', async () => {
    const global = PhccModel.create(TINY, 2).params.getWeights();
    const data = constructedCohort(config, { patients: 12, seed: 5 }).map((p, i) => ({
      ...p,
      split: i < 4 ? 'train' : i < 8 ? 'val' : 'test',
    }));
    expect(new Set(data.filter((p) => p.split === 'val').map((p) => p.label))).toEqual(new Set([0, 1]));
    const executor = new EvaluateExecutor({ modelConfig: config, data: async () => data });
    const fromVal = await executor.execute(task('evaluate'), global, ctx());
    if (fromVal.kind !== 'evaluate') throw new Error('expected an evaluation result');
    // Validation patients are never evaluated as test patients.
    expect(fromVal.nPositive + fromVal.nNegative).toBe(4);
    const m = fromVal.metrics!;
    if (Number.isFinite(m.threshold)) {
      expect(m.threshold_from_val).toBe(1);
      for (const k of ['sensitivity', 'specificity', 'accuracy']) expect(m[k]).toBeGreaterThanOrEqual(0);
    }
    const t = task('evaluate');
    const given = await executor.execute(
      { ...t, config: { ...t.config, evaluationThreshold: 0.5 } },
      global,
      ctx(),
    );
    if (given.kind !== 'evaluate') throw new Error('expected an evaluation result');
    expect(given.metrics).toMatchObject({ threshold: 0.5, threshold_from_val: 0 });
    expect(given.metrics!.accuracy).toBeGreaterThanOrEqual(0);
    expect(given.metrics!.accuracy).toBeLessThanOrEqual(1);
  });

  it("fine-tune reports the trained model's validation cut-off (Youden on the val split), none without a val split", async () => {
    const global = PhccModel.create(TINY, 2).params.getWeights();
    const data = constructedCohort(config, { patients: 12, seed: 5 }).map((p, i) => ({
      ...p,
      split: i < 4 ? 'train' : i < 8 ? 'val' : 'test',
    }));
    const executor = new FinetuneExecutor({ modelConfig: config, data: async () => data });
    const result = await executor.execute(task('finetune'), global, ctx());
    if (result.kind !== 'train') throw new Error('expected a training result');
    const val = data.filter((p) => p.split === 'val');
    const trained = new PhccModel(config, 0);
    trained.params.setWeights(result.weights, { parts: ['encoder', 'head'], strict: true });
    const scores = await predict(trained, val, 4);
    trained.dispose();
    const labels = val.map((p) => p.label as number);
    expect(result.metrics[VAL_THRESHOLD_METRIC]).toBe(chooseThreshold(labels, scores));
    expect(result.metrics.val_auc).toBeCloseTo(rocSummary(labels, scores).auc, 12);
    const noVal = await new FinetuneExecutor({ modelConfig: config, data: async () => patients() }).execute(
      task('finetune'),
      global,
      ctx(),
    );
    if (noVal.kind !== 'train') throw new Error('expected a training result');
    expect(Object.keys(noVal.metrics)).toEqual(['loss']);
  });

  it('paired aggregates of two models on the same test patients = DeLong on their scores', async () => {
    const data = constructedCohort(config, { patients: 12, seed: 8 }).map((p, i) => ({
      ...p,
      split: i < 4 ? 'train' : 'test',
    }));
    const a = PhccModel.create(TINY, 2);
    const b = PhccModel.create(TINY, 3);
    const options = { modelConfig: config, data: async () => data };
    const pair = await pairedTestAggregates(
      options,
      task('evaluate'),
      a.params.getWeights(),
      b.params.getWeights(),
    );
    const test = data.filter((p) => p.split === 'test');
    const labels = test.map((p) => p.label as number);
    const expected = delongPairedCovariance(labels, await predict(a, test), await predict(b, test));
    expect(pair).toEqual(expected);
    expect(pair.nPos + pair.nNeg).toBe(8);
    [a, b].forEach((m) => m.dispose());
  });

  it("a paired evaluation task: A's usual result plus, per compared model, exactly pairedTestAggregates", async () => {
    const data = constructedCohort(config, { patients: 12, seed: 8 }).map((p, i) => ({
      ...p,
      split: i < 4 ? 'train' : 'test',
    }));
    const options = { modelConfig: config, data: async () => data };
    const [a, b, c] = [2, 3, 4].map((seed) => PhccModel.create(TINY, seed).params.getWeights());
    const t = task('evaluate');
    const digests = ['b'.repeat(128), 'c'.repeat(128)];
    const paired = { ...t, config: { ...t.config, compareWith: digests } } as TaskBody;
    const executor = new EvaluateExecutor(options);
    const result = await executor.execute(paired, a, ctx(), [b, c]);
    if (result.kind !== 'evaluate') throw new Error('expected an evaluation');
    expect(result.paired).toEqual([
      { modelDigest: digests[0], ...(await pairedTestAggregates(options, paired, a, b)) },
      { modelDigest: digests[1], ...(await pairedTestAggregates(options, paired, a, c)) },
    ]);
    // A's own result is the plain evaluation's.
    const plain = await executor.execute(t, a, ctx());
    expect({ ...result, paired: undefined }).toEqual({ ...plain, paired: undefined });
    expect(plain).not.toHaveProperty('paired');
    // The models attached must be the ones the task names.
    await expect(executor.execute(paired, a, ctx(), [b])).rejects.toThrow(
      /compares with 2 model\(s\), 1 were attached/,
    );
  });

  it('refuses global weights that lack a tensor the stage needs', async () => {
    const global = PhccModel.create(TINY, 1)
      .params.getWeights()
      .filter((w) => !w.name.startsWith('decoder/'));
    const executor = new SslExecutor({ modelConfig: config, data: async () => patients() });
    await expect(executor.execute(task('ssl'), global, ctx())).rejects.toThrow(/missing/);
  });

  it('FedProx (μ > 0) keeps the locally trained weights closer to the global than plain FedAvg', async () => {
    const global = PhccModel.create(TINY, 1).params.getWeights();
    const data = patients();
    const executor = new SslExecutor({ modelConfig: config, data: async () => data });
    const distance = async (mu: number): Promise<number> => {
      const t = task('ssl');
      const result = await executor.execute(
        { ...t, config: { ...t.config, proximalMu: mu, learningRate: 1e-2 } },
        global,
        ctx(),
      );
      if (result.kind !== 'train') throw new Error('expected a training result');
      let sum = 0;
      result.weights.forEach((w, i) => w.values.forEach((v, j) => (sum += (v - global[i].values[j]) ** 2)));
      return Math.sqrt(sum);
    };
    const plain = await distance(0);
    const prox = await distance(50);
    expect(plain).toBeGreaterThan(0);
    expect(prox).toBeLessThan(plain * 0.9);
  });

  it('the proximal pull with factor 1 lands exactly on the global weights', () => {
    const model = PhccModel.create(TINY, 4);
    const before = model.params.getWeights({ parts: ['encoder'] });
    const pull = new ProximalPull(model, ['encoder'], 1);
    model.params.setWeights(PhccModel.create(TINY, 5).params.getWeights({ parts: ['encoder'] }), {
      parts: ['encoder'],
    });
    pull.apply(1);
    const after = model.params.getWeights({ parts: ['encoder'] });
    let worst = 0;
    after.forEach((w, i) =>
      w.values.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - before[i].values[j])))),
    );
    expect(worst).toBeLessThan(1e-6);
    pull.dispose();
    model.params.dispose();
  });
});

import { Rng } from '../../../common/src';
import { encodeWeights } from '../../../weights/src';
import { runRound, tensor, valuesOf, SiteUpdateSpec } from '../__tests__/harness';
import { WeightedSum } from '../fold';
import { simulatedLayout, simulatedWeights } from '../simulate';
import { FedAvg } from './fedavg';

describe('FedAvg', () => {
  const global = [tensor('encoder/a', [10, 20]), tensor('decoder/b', [1, 1, 1]), tensor('head/c', [7])];

  it('is the sample-weighted mean of full weights (hand-computed)', async () => {
    const strategy = new FedAvg({ updateKind: 'weights' });
    const result = await runRound(strategy, 'ssl', global, [
      {
        siteId: 'a',
        numSamples: 1,
        kind: 'weights',
        arrays: [tensor('encoder/a', [1, 2]), tensor('decoder/b', [0, 4, 8])],
      },
      {
        siteId: 'b',
        numSamples: 3,
        kind: 'weights',
        arrays: [tensor('encoder/a', [5, 6]), tensor('decoder/b', [4, 0, -8])],
      },
    ]);
    // (1·1 + 3·5)/4 = 4, (1·2 + 3·6)/4 = 5; (0 + 12)/4 = 3, (4 + 0)/4 = 1, (8 − 24)/4 = −4.
    expect(valuesOf(result.weights, 'encoder/a')).toEqual([4, 5]);
    expect(valuesOf(result.weights, 'decoder/b')).toEqual([3, 1, -4]);
    // The head is not part of the SSL stage: unchanged.
    expect(valuesOf(result.weights, 'head/c')).toEqual([7]);
    expect(result.sites).toEqual(['a', 'b']);
    expect(result.metrics).toMatchObject({ num_sites: 2, num_samples: 4 });
  });

  it('adds the sample-weighted mean delta to the global', async () => {
    const result = await runRound(new FedAvg(), 'finetune', global, [
      {
        siteId: 's2',
        numSamples: 2,
        arrays: [tensor('encoder/a', [1, -1]), tensor('head/c', [2])],
        metrics: { loss: 1 },
      },
      {
        siteId: 's1',
        numSamples: 6,
        arrays: [tensor('encoder/a', [-3, 3]), tensor('head/c', [-2])],
        metrics: { loss: 3 },
      },
    ]);
    // mean delta: (2·1 + 6·−3)/8 = −2, (−2 + 18)/8 = 2; head (4 − 12)/8 = −1.
    expect(valuesOf(result.weights, 'encoder/a')).toEqual([8, 22]);
    expect(valuesOf(result.weights, 'head/c')).toEqual([6]);
    expect(valuesOf(result.weights, 'decoder/b')).toEqual([1, 1, 1]);
    expect(result.sites).toEqual(['s1', 's2']);
    expect(result.metrics.loss).toBeCloseTo((2 * 1 + 6 * 3) / 8, 12);
  });

  it('gives bit-identical global weights whatever order the updates arrived in', async () => {
    const layout = simulatedLayout(40_000, 16);
    const rng = new Rng(7);
    const base = simulatedWeights(layout, rng, 0.1);
    // Deltas spanning several orders of magnitude, so that float rounding depends on the order.
    const updates: SiteUpdateSpec[] = Array.from({ length: 8 }, (_, i) => ({
      siteId: `site-${String.fromCharCode(97 + ((i * 5) % 8))}`,
      numSamples: 1 + rng.int(300),
      arrays: simulatedWeights(layout, rng.fork(), 10 ** (rng.int(7) - 3)),
    }));
    const strategy = new FedAvg();
    const reference = encodeWeights((await runRound(strategy, 'ssl', base, updates)).weights);
    for (let trial = 0; trial < 3; trial++) {
      const shuffled = new Rng(100 + trial).shuffle([...updates]);
      const bytes = encodeWeights((await runRound(strategy, 'ssl', base, shuffled)).weights);
      expect(Buffer.compare(bytes, reference)).toBe(0);
    }
  });

  it('is order-independent even where float addition visibly is not (cancellation)', async () => {
    // Per element, sites hold ±1e20 and small values: (1e20 + 1) − 1e20 = 0 but (1e20 − 1e20) + 1 = 1,
    // so any fold that followed arrival order would give different bits for different orders.
    const updates: SiteUpdateSpec[] = [
      {
        siteId: 'w',
        numSamples: 1,
        arrays: [tensor('encoder/a', [1e20, 1]), tensor('decoder/b', [3, -1e20, 1e20])],
      },
      {
        siteId: 'x',
        numSamples: 1,
        arrays: [tensor('encoder/a', [1, 1e20]), tensor('decoder/b', [1e20, 2, -1e20])],
      },
      {
        siteId: 'y',
        numSamples: 1,
        arrays: [tensor('encoder/a', [-1e20, 2]), tensor('decoder/b', [-1e20, 1e20, 5])],
      },
      {
        siteId: 'z',
        numSamples: 1,
        arrays: [tensor('encoder/a', [3, -1e20]), tensor('decoder/b', [1, 1, 1])],
      },
    ];
    const permutations = (items: SiteUpdateSpec[]): SiteUpdateSpec[][] =>
      items.length <= 1
        ? [items]
        : items.flatMap((item, i) =>
            permutations(items.filter((_, j) => j !== i)).map((rest) => [item, ...rest]),
          );
    const arrivalOrderResults = new Set<string>();
    const strategyResults = new Set<string>();
    for (const order of permutations(updates)) {
      const naive = new WeightedSum([
        { name: 'encoder/a', shape: [2] },
        { name: 'decoder/b', shape: [3] },
      ]);
      for (const u of order) naive.add(u.arrays, u.numSamples);
      arrivalOrderResults.add([...naive.take('encoder/a'), ...naive.take('decoder/b')].join(','));
      const result = await runRound(new FedAvg(), 'ssl', global, order);
      strategyResults.add(encodeWeights(result.weights).toString('hex'));
    }
    expect(arrivalOrderResults.size).toBeGreaterThan(1);
    expect(strategyResults.size).toBe(1);
  });

  it('refuses an empty round and a round of the wrong kind', async () => {
    await expect(runRound(new FedAvg(), 'ssl', global, [])).rejects.toThrow(/no updates/);
    await expect(
      runRound(new FedAvg(), 'ssl', global, [
        {
          siteId: 'a',
          numSamples: 1,
          kind: 'weights',
          arrays: [tensor('encoder/a', [1, 2]), tensor('decoder/b', [0, 4, 8])],
        },
      ]),
    ).rejects.toThrow(/kind "weights"/);
  });

  it('sends one instruction per site in site-id order with the stage parts', () => {
    const instructions = new FedAvg().configureFit(3, {
      stage: 'finetune',
      siteIds: ['b', 'a'],
      config: { epochs: 2 },
    });
    expect(instructions.map((i) => i.siteId)).toEqual(['a', 'b']);
    expect(instructions[0]).toEqual({
      siteId: 'a',
      round: 3,
      stage: 'finetune',
      parts: ['encoder', 'head'],
      keepLocalPattern: null,
      updateKind: 'delta',
      proximalMu: 0,
      config: { epochs: 2 },
    });
  });

  it('averages evaluation metrics weighted by examples', () => {
    const result = new FedAvg().aggregateEvaluate(1, [
      { siteId: 'b', numExamples: 30, metrics: { auc: 0.9, loss: 0.2 } },
      { siteId: 'a', numExamples: 10, metrics: { auc: 0.5 } },
    ]);
    expect(result.metrics.auc).toBeCloseTo((30 * 0.9 + 10 * 0.5) / 40, 12);
    expect(result.metrics.loss).toBeCloseTo(0.2, 12);
    expect(result.metrics).toMatchObject({ num_sites: 2, num_examples: 40 });
    expect(Object.keys(result.perSite)).toEqual(['a', 'b']);
  });
});

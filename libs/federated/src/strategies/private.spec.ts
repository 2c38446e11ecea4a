import { runRound, tensor, valuesOf } from '../__tests__/harness';
import { UNCLIPPED_METRIC } from '../privacy/dp/adaptive-clip';
import { NoiseSource } from '../privacy/dp/gaussian';
import { RdpAccountant, roundEpsilon } from '../privacy/dp/rdp-accountant';
import { FedAdam } from './fedadam';
import { FedAvg } from './fedavg';
import { DP_METRICS, PrivateStrategy, PrivateStrategyOptions } from './private';

/** Every draw is mean + sd·c: the noise the coordinator added can be read back exactly. */
function constantNoise(c: number): NoiseSource & { draws: number } {
  const source = {
    draws: 0,
    normal(mean = 0, sd = 1) {
      source.draws++;
      return mean + sd * c;
    },
  };
  return source;
}

const global = [tensor('encoder/w', [1, 2]), tensor('decoder/w', [0])];
const dp = (extra: Partial<NonNullable<PrivateStrategyOptions['dp']>> = {}) => ({
  clip: 1,
  noiseMultiplier: 1.5,
  delta: 1e-5,
  trainingRounds: 4,
  ...extra,
});
const sites = ['a', 'b', 'c'];

describe('PrivateStrategy (DP-FedAvg as a wrapper)', () => {
  it('asks every site to clip; central noise leaves the site multiplier at 0, distributed gives z/√t', () => {
    const central = new PrivateStrategy(new FedAvg(), { dp: dp() });
    const fit = central.configureFit(0, { stage: 'ssl', siteIds: sites });
    expect(fit.map((i) => i.clip)).toEqual(
      sites.map(() => ({ clipNorm: 1, noiseMultiplier: 0, reportUnclipped: false })),
    );
    const distributed = new PrivateStrategy(new FedAvg(), {
      dp: dp({ noise: 'distributed', minSummedSites: 2 }),
    });
    const [first] = distributed.configureFit(0, { stage: 'ssl', siteIds: sites });
    expect(first.clip!.noiseMultiplier).toBeCloseTo(1.5 / Math.SQRT2, 12);
  });

  it('weighs sites equally and adds N(0, (zC)²) once to the folded sum, before the strategy steps', async () => {
    const noise = constantNoise(0.1);
    const strategy = new PrivateStrategy(new FedAvg(), { dp: dp(), noise });
    // Sample counts 1 and 99: without DP FedAvg would weigh b 99 times more.
    const result = await runRound(strategy, 'ssl', global, [
      { siteId: 'a', numSamples: 1, arrays: [tensor('encoder/w', [0.3, 0]), tensor('decoder/w', [0.6])] },
      { siteId: 'b', numSamples: 99, arrays: [tensor('encoder/w', [-0.1, 0.4]), tensor('decoder/w', [0])] },
    ]);
    const sigma = 1.5 * 1; // z·C
    // w ← w + (Σ Δ + σ·0.1) / 2
    const expected = [1 + (0.3 - 0.1 + sigma * 0.1) / 2, 2 + (0 + 0.4 + sigma * 0.1) / 2];
    valuesOf(result.weights, 'encoder/w').forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    expect(valuesOf(result.weights, 'decoder/w')[0]).toBeCloseTo((0.6 + sigma * 0.1) / 2, 6);
    expect(noise.draws).toBe(3); // one per summed value, not per site
    expect(result.metrics.num_samples).toBe(100);
    expect(result.metrics.num_sites).toBe(2);
  });

  it('distributed noise: the coordinator adds none (the sites did)', async () => {
    const noise = constantNoise(5);
    const strategy = new PrivateStrategy(new FedAvg(), {
      dp: dp({ noise: 'distributed', minSummedSites: 2 }),
      noise,
    });
    const result = await runRound(strategy, 'ssl', global, [
      { siteId: 'a', numSamples: 3, arrays: [tensor('encoder/w', [0.2, 0.2]), tensor('decoder/w', [0])] },
      { siteId: 'b', numSamples: 5, arrays: [tensor('encoder/w', [0, 0.4]), tensor('decoder/w', [0])] },
    ]);
    expect(valuesOf(result.weights, 'encoder/w')).toEqual([1.100000023841858, 2.299999952316284]);
    expect(noise.draws).toBe(0);
  });

  it('FedAdam steps on the noised mean (noise goes in before the server optimiser)', async () => {
    const plain = new FedAdam({ eta: 0.1 });
    const noised = new PrivateStrategy(new FedAdam({ eta: 0.1 }), { dp: dp(), noise: constantNoise(0.2) });
    const update = {
      siteId: 'a',
      numSamples: 4,
      arrays: [tensor('encoder/w', [0.1, 0.1]), tensor('decoder/w', [0])],
    };
    const shifted = {
      ...update,
      numSamples: 1,
      arrays: [tensor('encoder/w', [0.1 + 0.3, 0.1 + 0.3]), tensor('decoder/w', [0.3])],
    };
    const a = await runRound(plain, 'ssl', global, [shifted]);
    const b = await runRound(noised, 'ssl', global, [update]);
    valuesOf(b.weights, 'encoder/w').forEach((v, i) =>
      expect(v).toBeCloseTo(valuesOf(a.weights, 'encoder/w')[i], 6),
    );
  });

  it('reports ε per round and for the run from the RDP accountant (q = 1)', async () => {
    const strategy = new PrivateStrategy(new FedAvg(), { dp: dp(), noise: constantNoise(0) });
    const update = [
      { siteId: 'a', numSamples: 1, arrays: [tensor('encoder/w', [0, 0]), tensor('decoder/w', [0])] },
    ];
    const r1 = await runRound(strategy, 'ssl', global, update, 0);
    const r2 = await runRound(strategy, 'ssl', global, update, 1);
    const step = { noiseMultiplier: 1.5, sampleRate: 1 };
    expect(r1.metrics[DP_METRICS.roundEpsilon]).toBe(roundEpsilon(step, 1e-5).epsilon);
    expect(r1.metrics[DP_METRICS.epsilon]).toBe(r1.metrics[DP_METRICS.roundEpsilon]);
    expect(r2.metrics[DP_METRICS.epsilon]).toBe(
      new RdpAccountant().compose({ ...step, steps: 2 }).spent(1e-5).epsilon,
    );
    expect(r2.metrics[DP_METRICS.epsilon]).toBeGreaterThan(r1.metrics[DP_METRICS.epsilon]);
    expect(r2.metrics[DP_METRICS.delta]).toBe(1e-5);
    expect(strategy.spent().epsilon).toBe(r2.metrics[DP_METRICS.epsilon]);
  });

  it('targetEpsilon: the derived z spends at most the target over the plan’s rounds, and not much less', async () => {
    const strategy = new PrivateStrategy(new FedAvg(), {
      dp: { clip: 1, targetEpsilon: 3, delta: 1e-5, trainingRounds: 4 },
      noise: constantNoise(0),
    });
    const update = [
      { siteId: 'a', numSamples: 1, arrays: [tensor('encoder/w', [0, 0]), tensor('decoder/w', [0])] },
    ];
    let last = 0;
    for (let r = 0; r < 4; r++)
      last = (await runRound(strategy, 'ssl', global, update, r)).metrics[DP_METRICS.epsilon];
    expect(last).toBeLessThanOrEqual(3);
    expect(last).toBeGreaterThan(2.99);
  });

  it('adaptive clipping: sites report the bit, the clip moves toward the quantile, state survives a restart', async () => {
    const strategy = new PrivateStrategy(new FedAvg(), {
      dp: dp({ adaptive: true }),
      noise: constantNoise(0),
    });
    const fit = strategy.configureFit(0, { stage: 'ssl', siteIds: sites });
    expect(fit[0].clip!.reportUnclipped).toBe(true);
    // All three within the clip: b̄ = 1 > γ = 0.5, so C shrinks by exp(−0.2·0.5).
    const updates = sites.map((siteId) => ({
      siteId,
      numSamples: 1,
      arrays: [tensor('encoder/w', [0.1, 0]), tensor('decoder/w', [0])],
      metrics: { [UNCLIPPED_METRIC]: 1, loss: 1 },
    }));
    const r = await runRound(strategy, 'ssl', global, updates, 0);
    expect(r.metrics[DP_METRICS.unclippedFraction]).toBe(1);
    expect(r.metrics[UNCLIPPED_METRIC]).toBeUndefined();
    const next = strategy.configureFit(1, { stage: 'ssl', siteIds: sites })[0].clip!.clipNorm;
    expect(next).toBeCloseTo(Math.exp(-0.1), 6);
    const restored = new PrivateStrategy(new FedAvg(), { dp: dp({ adaptive: true }) });
    restored.importState(strategy.exportState());
    expect(restored.configureFit(1, { stage: 'ssl', siteIds: sites })[0].clip!.clipNorm).toBeCloseTo(next, 6);
    expect(restored.spent().epsilon).toBe(strategy.spent().epsilon);
  });

  it('refuses DP on full-weight updates and plans with both or neither of z and targetEpsilon', () => {
    expect(() => new PrivateStrategy(new FedAvg({ updateKind: 'weights' }), { dp: dp() })).toThrow(
      /updateKind "delta"/,
    );
    expect(() => new PrivateStrategy(new FedAvg(), { dp: dp({ targetEpsilon: 2 }) })).toThrow(/exactly one/);
  });

  it('evaluation instructions carry k; without DP, fit instructions carry no clip', () => {
    const strategy = new PrivateStrategy(new FedAvg(), { minBinCount: 7 });
    expect(strategy.configureEvaluate(0, { siteIds: ['a'] })[0].minBinCount).toBe(7);
    expect(strategy.configureFit(0, { stage: 'ssl', siteIds: ['a'] })[0].clip).toBeUndefined();
  });
});

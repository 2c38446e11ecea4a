import { encodeWeights } from '../../../weights/src';
import { runRound, tensor, valuesOf } from '../__tests__/harness';
import { FedAdam } from './fedadam';

describe('FedAdam', () => {
  const options = { eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 };
  const global0 = [tensor('encoder/w', [1, -1]), tensor('head/h', [9])];
  const round1 = [
    { siteId: 'a', numSamples: 1, arrays: [tensor('encoder/w', [0.2, 0])] },
    { siteId: 'b', numSamples: 3, arrays: [tensor('encoder/w', [0.6, -0.4])] },
  ];
  const round2 = [
    { siteId: 'a', numSamples: 2, arrays: [tensor('encoder/w', [-0.1, 0.1])] },
    { siteId: 'b', numSamples: 2, arrays: [tensor('encoder/w', [0.3, 0.1])] },
  ];

  it('matches a hand-computed two-round example', async () => {
    const strategy = new FedAdam(options);
    // Round 1: Δ = ((1·0.2 + 3·0.6)/4, (0 − 3·0.4)/4) = (0.5, −0.3); m = 0.1Δ = (0.05, −0.03);
    // v = 0.99·τ² + 0.01Δ² = (0.002599, 0.000999); w += 0.1·m/(√v + 0.01).
    const r1 = await runRound(strategy, 'ssl', global0, round1, 1);
    expect(valuesOf(r1.weights, 'encoder/w')[0]).toBeCloseTo(1.0819935742, 6);
    expect(valuesOf(r1.weights, 'encoder/w')[1]).toBeCloseTo(-1.072103319, 6);
    expect(valuesOf(r1.weights, 'head/h')).toEqual([9]);
    // Round 2: Δ = (0.1, 0.1); m = 0.9m + 0.1Δ = (0.055, −0.017); v = 0.99v + 0.01Δ² = (0.00267301, 0.00108901).
    const r2 = await runRound(strategy, 'ssl', r1.weights, round2, 2);
    expect(valuesOf(r2.weights, 'encoder/w')[0]).toBeCloseTo(1.1711329024, 6);
    expect(valuesOf(r2.weights, 'encoder/w')[1]).toBeCloseTo(-1.1116380634, 6);
    const state = strategy.exportState();
    expect(state.map((s) => s.name)).toEqual(['fedadam/step', 'fedadam/m/encoder/w', 'fedadam/v/encoder/w']);
    expect(state[1].values[0]).toBeCloseTo(0.055, 7);
    expect(state[2].values[1]).toBeCloseTo(0.00108901, 9);
  });

  it('resumes bit-identically from exported state (coordinator restart)', async () => {
    const uninterrupted = new FedAdam(options);
    const r1 = await runRound(uninterrupted, 'ssl', global0, round1, 1);
    const saved = uninterrupted.exportState();
    const expected = await runRound(uninterrupted, 'ssl', r1.weights, round2, 2);

    const restarted = new FedAdam(options);
    restarted.importState(saved);
    const resumed = await runRound(restarted, 'ssl', r1.weights, round2, 2);
    expect(Buffer.compare(encodeWeights(resumed.weights), encodeWeights(expected.weights))).toBe(0);
    // Without the state, the second round differs: the test can tell.
    const fresh = await runRound(new FedAdam(options), 'ssl', r1.weights, round2, 2);
    expect(Buffer.compare(encodeWeights(fresh.weights), encodeWeights(expected.weights))).not.toBe(0);
  });

  it('treats full-weight updates as global + delta', async () => {
    const asWeights = round1.map((u) => ({
      ...u,
      kind: 'weights' as const,
      arrays: [tensor('encoder/w', [1 + u.arrays[0].values[0], -1 + u.arrays[0].values[1]])],
    }));
    const r = await runRound(
      new FedAdam({ ...options, updateKind: 'weights' }),
      'ssl',
      global0,
      asWeights,
      1,
    );
    expect(valuesOf(r.weights, 'encoder/w')[0]).toBeCloseTo(1.0819935742, 5);
    expect(valuesOf(r.weights, 'encoder/w')[1]).toBeCloseTo(-1.072103319, 5);
  });

  it('applies bias correction when asked', async () => {
    const strategy = new FedAdam({ ...options, biasCorrection: true });
    const r1 = await runRound(strategy, 'ssl', global0, round1, 1);
    // Step 1: η·√(1 − β₂)/(1 − β₁) = 0.1·0.1/0.1 = η, so round 1 equals the uncorrected one.
    expect(valuesOf(r1.weights, 'encoder/w')[0]).toBeCloseTo(1.0819935742, 6);
    const r2 = await runRound(strategy, 'ssl', r1.weights, round2, 2);
    // Step 2: η₂ = 0.1·√(1 − 0.99²)/(1 − 0.9²); w = w₁ + η₂·m/(√v + τ).
    const eta2 = (0.1 * Math.sqrt(1 - 0.99 ** 2)) / (1 - 0.9 ** 2);
    const w1 = valuesOf(r1.weights, 'encoder/w')[0];
    expect(valuesOf(r2.weights, 'encoder/w')[0]).toBeCloseTo(
      w1 + (eta2 * 0.055) / (Math.sqrt(0.00267301) + 0.01),
      6,
    );
  });

  it('validates its parameters and its state', () => {
    expect(() => new FedAdam({ beta1: 1 })).toThrow(/beta1/);
    expect(() => new FedAdam({ eta: 0 })).toThrow(/eta/);
    expect(() => new FedAdam().importState([tensor('fedadam/m/x', [1])])).toThrow(/step/);
    expect(() => new FedAdam().importState([tensor('other', [1])])).toThrow(/unknown tensor/);
    expect(new FedAdam().parameters).toMatchObject({
      eta: 0.01,
      beta1: 0.9,
      beta2: 0.99,
      tau: 0.001,
      biasCorrection: false,
    });
  });
});

import {
  DEFAULT_RDP_ORDERS,
  epsilonFromRdp,
  noiseMultiplierFor,
  RdpAccountant,
  rdpSubsampledGaussian,
  roundEpsilon,
} from './rdp-accountant';

/**
 * Two independent references:
 * 1. Published: the test values of Google's dp_accounting (github.com/google/differential-privacy,
 *    python/dp_accounting/dp_accounting/rdp/rdp_privacy_accountant_test.py, the successor of
 *    TF-Privacy's rdp_accountant): RDP of 50 steps at q = 0.01, σ = 2.5 at five orders (rtol 1e-4
 *    there and here); ε = 1.32783806176 for constant RDP 1.1 on orders 2…32 at δ = 1e-5; σ =
 *    4.530877117 giving exactly (1, 1e-6)-DP for the plain Gaussian.
 * 2. Computed: `rdp-reference.py` in this folder integrates A_α numerically with mpmath (40
 *    digits, no series) and applies the same conversion over the default orders; its printed
 *    values are below. Our fractional-order series adds |terms| (an upper bound, as
 *    dp_accounting does), so our ε may only exceed the integral's, and by at most 1 %.
 */
describe('RDP accountant for the subsampled Gaussian mechanism', () => {
  it('matches dp_accounting’s published RDP values (q = 0.01, σ = 2.5, 50 steps)', () => {
    const orders = [1.5, 2.5, 5, 50, 100];
    const expected = [6.70579741e-4, 1.0854871e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2];
    orders.forEach((a, k) => {
      const got = 50 * rdpSubsampledGaussian(0.01, 2.5, a);
      expect(Math.abs(got - expected[k]) / expected[k]).toBeLessThan(1e-4);
    });
    expect(rdpSubsampledGaussian(0.01, 2.5, Infinity)).toBe(Infinity);
  });

  it('matches dp_accounting’s published conversions', () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const spent = epsilonFromRdp(
      orders,
      orders.map(() => 1.1),
      1e-5,
    );
    expect(spent.epsilon).toBeCloseTo(1.32783806176, 10);
    expect(spent.order).toBe(32);
    const fine = Array.from({ length: 99_000 }, (_, i) => 1 + (i + 1) * 0.001);
    const gaussian = new RdpAccountant(fine).compose({ noiseMultiplier: 4.530877117, sampleRate: 1 });
    expect(gaussian.spent(1e-6).epsilon).toBeCloseTo(1, 6);
  });

  it.each([
    [0.5, 1.2, 100, 1e-5, 32.1876432864],
    [0.01, 1.1, 1000, 1e-5, 1.7117700912],
    [0.2, 0.8, 30, 1e-6, 15.0481926105],
  ])('matches numerical integration: q=%f σ=%f steps=%i δ=%f → ε=%f', (q, sigma, steps, delta, eps) => {
    const spent = new RdpAccountant().compose({ noiseMultiplier: sigma, sampleRate: q, steps }).spent(delta);
    expect(spent.epsilon).toBeGreaterThanOrEqual(eps * (1 - 1e-9));
    expect(spent.epsilon).toBeLessThanOrEqual(eps * 1.01);
  });

  it('composes per round: the run’s ε grows with rounds, a round’s own ε is the one-step value', () => {
    const acc = new RdpAccountant();
    const perRound: number[] = [];
    for (let r = 0; r < 5; r++)
      perRound.push(acc.compose({ noiseMultiplier: 1, sampleRate: 1 }).spent(1e-5).epsilon);
    for (let r = 1; r < 5; r++) expect(perRound[r]).toBeGreaterThan(perRound[r - 1]);
    expect(perRound[4]).toBeLessThan(5 * perRound[0]); // RDP composes better than summing ε
    expect(roundEpsilon({ noiseMultiplier: 1, sampleRate: 1 }, 1e-5).epsilon).toBeCloseTo(perRound[0], 12);
    expect(new RdpAccountant().compose({ noiseMultiplier: 0, sampleRate: 1 }).spent(1e-5).epsilon).toBe(
      Infinity,
    );
    expect(new RdpAccountant().compose({ noiseMultiplier: 1, sampleRate: 0 }).spent(1e-5).epsilon).toBe(0);
  });

  it('finds the noise multiplier for a target ε', () => {
    const sigma = noiseMultiplierFor(3, 1e-5, 1, 20);
    const eps = (s: number) =>
      new RdpAccountant().compose({ noiseMultiplier: s, sampleRate: 1, steps: 20 }).spent(1e-5).epsilon;
    expect(eps(sigma)).toBeLessThanOrEqual(3);
    expect(eps(sigma * 0.99)).toBeGreaterThan(3);
  });

  it('refuses bad parameters', () => {
    expect(() => new RdpAccountant().spent(0)).toThrow(/delta/);
    expect(() => new RdpAccountant().compose({ noiseMultiplier: -1, sampleRate: 1 })).toThrow(
      /noiseMultiplier/,
    );
    expect(() => new RdpAccountant().compose({ noiseMultiplier: 1, sampleRate: 2 })).toThrow(/sampleRate/);
    expect(() => new RdpAccountant([0.5])).toThrow(/> 1/);
    expect(DEFAULT_RDP_ORDERS).toHaveLength(151);
  });
});

import { initialAdaptiveClip, nextAdaptiveClip, unclippedBit, updateNoiseMultiplier } from './adaptive-clip';
import { clipToNorm, secureNormalNoise, siteNoiseMultiplier } from './gaussian';

describe('clipping and noise', () => {
  it('clips to the norm over all tensors and never scales up', () => {
    const arrays = [
      { name: 'a', shape: [2], values: Float32Array.from([3, 0]) },
      { name: 'b', shape: [1], values: Float32Array.from([4]) },
    ];
    const out = clipToNorm(arrays, 1);
    expect(out.norm).toBeCloseTo(5, 6);
    expect(out.clipped).toBe(true);
    expect(Array.from(out.arrays[0].values)).toEqual([Math.fround(0.6), 0]);
    expect(arrays[0].values[0]).toBe(3); // input untouched
    expect(clipToNorm(arrays, 10).clipped).toBe(false);
    expect(() => clipToNorm([{ name: 'x', shape: [1], values: Float32Array.from([NaN]) }], 1)).toThrow(
      /non-finite/,
    );
  });

  it('distributed noise: t survivors’ shares add up to the central variance', () => {
    const z = 1.3;
    const t = 7;
    const perSite = siteNoiseMultiplier(z, 'distributed', t);
    expect(t * perSite ** 2).toBeCloseTo(z ** 2, 12);
    expect(siteNoiseMultiplier(z, 'central', t)).toBe(0);
    expect(() => siteNoiseMultiplier(z, 'distributed', 0)).toThrow(/minimum number/);
  });

  it('secure noise is standard normal (moments on 200k draws)', () => {
    const noise = secureNormalNoise();
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let tail = 0;
    for (let i = 0; i < n; i++) {
      const x = noise.normal();
      s += x;
      s2 += x * x;
      if (Math.abs(x) > 1.959964) tail++;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.012); // 5 standard errors
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.02);
    expect(Math.abs(tail / n - 0.05)).toBeLessThan(0.003);
  });
});

describe('adaptive clipping (Andrew et al. 2021)', () => {
  it('moves the clip toward the target quantile of update norms', () => {
    let state = initialAdaptiveClip({ initialClip: 0.1, countNoiseStd: 0 });
    const norms = Array.from({ length: 50 }, (_, i) => 1 + i / 49); // median 1.5
    for (let round = 0; round < 200; round++) {
      const count = norms.reduce((c, n) => c + unclippedBit(n, state), 0);
      state = nextAdaptiveClip(state, count, norms.length);
    }
    expect(state.clip).toBeGreaterThan(1.4);
    expect(state.clip).toBeLessThan(1.6);
  });

  it('splits the noise so the round stays at multiplier z', () => {
    const z = 1;
    const sigmaB = 2.5;
    const zDelta = updateNoiseMultiplier(z, sigmaB);
    expect(zDelta ** -2 + (2 * sigmaB) ** -2).toBeCloseTo(z ** -2, 12);
    expect(() => updateNoiseMultiplier(1, 0.4)).toThrow(/countNoiseStd > 0.5/);
  });
});

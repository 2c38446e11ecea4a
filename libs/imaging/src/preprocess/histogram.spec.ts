import { Rng } from '../../../common/src';
import { StreamingHistogram } from './histogram';

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

describe('StreamingHistogram', () => {
  it('matches exact quantiles to within a bin width while its range grows both ways', () => {
    const rng = new Rng(3);
    const h = new StreamingHistogram(1024);
    const all: number[] = [];
    // Batches drift outward so the range has to double several times, downward and upward.
    for (let b = 0; b < 20; b++) {
      const batch = Float32Array.from({ length: 500 }, () => rng.normal(100 + 30 * (b % 2 ? b : -b), 10 + b));
      h.addAll(batch);
      all.push(...batch);
    }
    all.sort((a, b) => a - b);
    const range = all[all.length - 1] - all[0];
    expect(h.count).toBe(all.length);
    for (const q of [0.05, 0.25, 0.5, 0.75, 0.95]) {
      // After growth the bin width is at most 4× range / bins.
      expect(Math.abs(h.quantile(q) - exactQuantile(all, q))).toBeLessThan((4 * range) / 1024);
    }
  });

  it('counts only included values, and handles constant input and emptiness', () => {
    const h = new StreamingHistogram();
    expect(h.quantile(0.5)).toBeNaN();
    h.addAll([5, 1000, 5, 1000], [1, 0, 1, 0]);
    expect(h.count).toBe(2);
    expect(h.quantile(0.5)).toBeCloseTo(5, 4);
  });
});

import { Rng } from '../../common/src';
import {
  bruteAuc,
  bruteDelongPairedZ,
  bruteDelongVariance,
  loadPairedReference,
  randomTiedData,
} from './__tests__/brute-force';
import { delongCi, delongPairedTest, delongUnpairedTest, rocSummary } from './delong';
import { twoSidedNormalP } from './distributions';

describe('DeLong against pROC 1.18 (libs/metrics/src/testdata)', () => {
  const { y, a, b, expected } = loadPairedReference();

  it('AUC and 95 % CI of each score to 1e-9', () => {
    for (const [scores, ref] of [
      [a, expected.a],
      [b, expected.b],
    ] as const) {
      const r = delongCi(y, scores);
      expect(r.nPos).toBe(expected.n_pos);
      expect(r.nNeg).toBe(expected.n_neg);
      expect(Math.abs(r.auc - ref.auc)).toBeLessThan(1e-9);
      expect(Math.abs(r.ci[0] - ref.ci95[0])).toBeLessThan(1e-9);
      expect(Math.abs(r.ci[1] - ref.ci95[1])).toBeLessThan(1e-9);
    }
  });

  it('paired test z and p to 1e-9', () => {
    const t = delongPairedTest(y, a, b);
    expect(Math.abs(t.statistic - expected.paired_delong_a_vs_b.z)).toBeLessThan(1e-9);
    expect(Math.abs(t.p - expected.paired_delong_a_vs_b.p)).toBeLessThan(1e-9);
    expect(t.difference).toBeCloseTo(t.auc1 - t.auc2, 15);
  });

  it('unpaired test D and p (Student t, Welch-type df) to 1e-9', () => {
    const t = delongUnpairedTest({ labels: y, scores: a }, { labels: y, scores: b });
    expect(Math.abs(t.statistic - expected.unpaired_delong_a_vs_b.d)).toBeLessThan(1e-9);
    expect(Math.abs(t.p - expected.unpaired_delong_a_vs_b.p)).toBeLessThan(1e-9);
    expect(t.df).toBeGreaterThan(100);
  });
});

describe('DeLong against structural components computed pairwise', () => {
  it('variance matches on random data with ties to 1e-12', () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 25; trial++) {
      const { labels, scores } = randomTiedData(rng, 6 + rng.int(120), 1 + rng.int(5));
      const r = delongCi(labels, scores);
      expect(Math.abs(r.auc - bruteAuc(labels, scores))).toBeLessThanOrEqual(1e-12);
      expect(Math.abs(r.variance - bruteDelongVariance(labels, scores))).toBeLessThanOrEqual(1e-12);
    }
  });

  it('paired z matches on random correlated scores', () => {
    const rng = new Rng(8);
    for (let trial = 0; trial < 20; trial++) {
      const { labels, scores } = randomTiedData(rng, 10 + rng.int(120), 3);
      const other = scores.map((s) => Math.round((s + rng.normal(0, 0.8)) * 4) / 4);
      const t = delongPairedTest(labels, scores, other);
      const z = bruteDelongPairedZ(labels, scores, other);
      expect(Math.abs(t.statistic - z)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(z)));
      expect(t.p).toBeCloseTo(twoSidedNormalP(z), 12);
    }
  });

  it('hand case: variance of a 2×2 design', () => {
    // cases {2, 3}, controls {1, 2}: V10 = (0.75, 1), V01 = (1, 0.75), θ = 0.875
    // S10 = S01 = ((0.125)² + (0.125)²)/1 = 0.03125; var = 0.03125/2 + 0.03125/2 = 0.03125
    const r = delongCi([1, 1, 0, 0], [2, 3, 1, 2]);
    expect(r.auc).toBe(0.875);
    expect(r.variance).toBeCloseTo(0.03125, 15);
    expect(r.ci[1]).toBe(1); // clipped, as pROC does
  });

  it('identical scores: z = 0, p = 1 (pROC convention)', () => {
    const t = delongPairedTest([0, 0, 1, 1, 0, 1], [1, 2, 3, 4, 2, 3], [1, 2, 3, 4, 2, 3]);
    expect(t.statistic).toBe(0);
    expect(t.p).toBe(1);
  });

  it('rocSummary bundles AUC, CI and Youden from one sort', () => {
    const { y, a } = loadPairedReference();
    const s = rocSummary(y, a);
    const c = delongCi(y, a);
    expect(s.auc).toBe(c.auc);
    expect(s.ci).toEqual(c.ci);
    expect(s.youden.j).toBeGreaterThan(0);
  });

  it('needs two cases per class', () => {
    expect(() => delongCi([0, 1, 0], [1, 2, 3])).toThrow(/1 positive and 2 negative/);
  });
});

import { Rng } from '../../common/src';
import { delongCi } from './delong';
import { pooledAucFromHistograms, scoreHistogram } from './pooled';
import { kAnonymousHistogram, pooledAucFromReleased, toIntervalHistogram } from './private-histogram';

/** Three sites of ~30 test patients with scores that separate the classes moderately. */
function sites(seed = 5) {
  const rng = new Rng(seed);
  return [28, 31, 35].map((n, s) => {
    const labels: number[] = [];
    const scores: number[] = [];
    for (let i = 0; i < n; i++) {
      const y = rng.bernoulli(0.4) ? 1 : 0;
      labels.push(y);
      scores.push(1 / (1 + Math.exp(-(rng.normal() + 1.2 * y - 0.5))));
    }
    return { site: `site-${s + 1}`, labels, scores };
  });
}

describe('k-anonymous histograms', () => {
  it('every released bin holds at least k patients and no patient is lost', () => {
    for (const { site, labels, scores } of sites()) {
      const fine = scoreHistogram(labels, scores);
      for (const k of [1, 5, 10]) {
        const released = kAnonymousHistogram(fine, k, site);
        const counts = released.pos.map((p, b) => p + released.neg[b]);
        expect(Math.min(...counts)).toBeGreaterThanOrEqual(k);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(labels.length);
        expect(released.edges[0]).toBe(0);
        expect(released.edges[released.edges.length - 1]).toBe(1);
      }
    }
  });

  it('refuses a site with fewer than k patients', () => {
    expect(() => kAnonymousHistogram(scoreHistogram([1, 0, 1], [0.2, 0.5, 0.9]), 5, 'tiny')).toThrow(
      'site tiny: 3 patients in all, fewer than k = 5',
    );
  });
});

describe('pooled AUC from released histograms', () => {
  it('equals the existing pooled binned AUC on fine equal-width histograms', () => {
    const data = sites();
    const fine = data.map((d) => ({ site: d.site, ...scoreHistogram(d.labels, d.scores) }));
    const reference = pooledAucFromHistograms(fine);
    const released = pooledAucFromReleased(fine.map(toIntervalHistogram));
    expect(released.auc).toBeCloseTo(reference.auc, 12);
    expect(released.maxBinningError).toBeCloseTo(reference.maxBinningError, 12);
  });

  it('with distinct fine bins, its standard error is DeLong’s on the raw scores', () => {
    const data = sites();
    const labels = data.flatMap((d) => d.labels);
    const scores = data.flatMap((d) => d.scores);
    const released = pooledAucFromReleased([toIntervalHistogram(scoreHistogram(labels, scores, 100_000))]);
    const exact = delongCi(labels, scores);
    expect(released.maxBinningError).toBe(0);
    expect(released.auc).toBeCloseTo(exact.auc, 12);
    expect(released.standardError).toBeCloseTo(exact.standardError, 10);
  });

  it('k = 5: the exact pooled AUC lies within the stated error bound, inside the widened CI', () => {
    for (const seed of [1, 2, 3, 4]) {
      const data = sites(seed);
      const released = pooledAucFromReleased(
        data.map((d) => kAnonymousHistogram(scoreHistogram(d.labels, d.scores), 5, d.site)),
      );
      const exact = delongCi(
        data.flatMap((d) => d.labels),
        data.flatMap((d) => d.scores),
      );
      expect(Math.abs(released.auc - exact.auc)).toBeLessThanOrEqual(released.maxBinningError + 1e-12);
      expect(released.ci[0]).toBeLessThanOrEqual(exact.ci[0] + 1e-9);
      expect(released.ci[1]).toBeGreaterThanOrEqual(Math.min(1, exact.ci[1]) - 0.05); // SE differs slightly
      expect(released.maxBinningError).toBeLessThan(0.15);
    }
  });

  it('refuses malformed releases naming the site', () => {
    expect(() =>
      pooledAucFromReleased([{ site: 'a', edges: [0, 0.5, 0.4, 1], pos: [1, 1, 1], neg: [1, 1, 1] }]),
    ).toThrow('site a: edges must rise strictly from 0 to 1');
    expect(() => pooledAucFromReleased([{ site: 'b', edges: [0, 1], pos: [2], neg: [0] }])).toThrow(
      /both classes/,
    );
    expect(() => pooledAucFromReleased([{ site: 'c', edges: [0, 1], pos: [1.5], neg: [1] }])).toThrow(
      'site c: pos[0] = 1.5',
    );
  });
});

import { InputError, Rng } from '../../common/src';
import { bruteAuc } from './__tests__/brute-force';
import { binnedAuc, pooledAucFromHistograms, scoreHistogram } from './pooled';

/** Three sites of probability scores; `onCentres` snaps every score to the centre of its bin. */
function makeSites(rng: Rng, bins: number, onCentres: boolean): { labels: number[]; scores: number[] }[] {
  return [40, 75, 120].map((size, site) => {
    const labels: number[] = [];
    const scores: number[] = [];
    for (let k = 0; k < size; k++) {
      const label = k < 2 ? 1 : k < 4 ? 0 : rng.bernoulli(0.45) ? 1 : 0;
      let s = 1 / (1 + Math.exp(-(rng.normal() * 1.5 + (label ? 1 : -0.5) + 0.3 * site)));
      if (onCentres) s = (Math.min(Math.floor(s * bins), bins - 1) + 0.5) / bins;
      labels.push(label);
      scores.push(s);
    }
    return { labels, scores };
  });
}

const concat = (sites: { labels: number[]; scores: number[] }[]) => ({
  labels: sites.flatMap((s) => s.labels),
  scores: sites.flatMap((s) => s.scores),
});

describe('pooled AUC from per-site score histograms', () => {
  it('equals the exact AUC of the concatenated data when scores sit on bin centres', () => {
    const rng = new Rng(21);
    for (const bins of [10, 50, 1000]) {
      const sites = makeSites(rng, bins, true);
      const pooled = pooledAucFromHistograms(
        sites.map((s, k) => ({ site: `H${k}`, ...scoreHistogram(s.labels, s.scores, bins) })),
      );
      const all = concat(sites);
      expect(Math.abs(pooled.auc - bruteAuc(all.labels, all.scores))).toBeLessThanOrEqual(1e-12);
      pooled.perSite.forEach((row, k) => {
        expect(Math.abs((row.auc ?? NaN) - bruteAuc(sites[k].labels, sites[k].scores))).toBeLessThanOrEqual(
          1e-12,
        );
      });
      expect(pooled.nPos + pooled.nNeg).toBe(all.labels.length);
    }
  });

  it('stays within the stated binning bound for arbitrary scores', () => {
    const rng = new Rng(4);
    for (const bins of [5, 20, 100, 1000]) {
      const sites = makeSites(rng, bins, false);
      const pooled = pooledAucFromHistograms(sites.map((s) => scoreHistogram(s.labels, s.scores, bins)));
      const all = concat(sites);
      const exact = bruteAuc(all.labels, all.scores);
      expect(Math.abs(pooled.auc - exact)).toBeLessThanOrEqual(pooled.maxBinningError + 1e-12);
      pooled.perSite.forEach((row, k) => {
        const siteExact = bruteAuc(sites[k].labels, sites[k].scores);
        expect(Math.abs((row.auc ?? NaN) - siteExact)).toBeLessThanOrEqual(
          (row.maxBinningError ?? 0) + 1e-12,
        );
      });
    }
  });

  it('the bound is attained: two scores in one bin that are really ordered', () => {
    // case 0.41 > control 0.40: exact AUC 1; one bin of width 0.1 holds both → binned ½, bound ½
    const h = scoreHistogram([1, 0], [0.41, 0.4], 10);
    expect(binnedAuc(h)).toEqual({ auc: 0.5, maxBinningError: 0.5, nPos: 1, nNeg: 1 });
  });

  it('per-site table and mean of site AUCs; a one-class site is kept but not averaged', () => {
    const a = scoreHistogram([1, 1, 0, 0], [0.9, 0.6, 0.2, 0.7], 10, 'A'); // AUC 0.75
    const b = scoreHistogram([1, 0], [0.3, 0.8], 10, 'B'); // AUC 0
    const c = scoreHistogram([1, 1], [0.5, 0.55], 10, 'C'); // cases only
    const pooled = pooledAucFromHistograms([
      { site: 'A', ...a },
      { site: 'B', ...b },
      { site: 'C', ...c },
    ]);
    expect(pooled.perSite.map((r) => [r.site, r.auc])).toEqual([
      ['A', 0.75],
      ['B', 0],
      ['C', null],
    ]);
    expect(pooled.meanSiteAuc).toBeCloseTo(0.375, 15);
    expect(pooled.nPos).toBe(5);
    expect(pooled.nNeg).toBe(3);
    // exact AUC of the 8 scores: cases .9 .6 .3 .5 .55 vs controls .2 .7 .8 → 3+1+1+1+1 = 7 of 15 pairs;
    // no case shares a bin with a control, so the binned value is exact
    expect(pooled.auc).toBeCloseTo(7 / 15, 15);
    expect(pooled.maxBinningError).toBe(0);
  });

  it('puts a score of exactly 1 in the last bin and 0 in the first', () => {
    const h = scoreHistogram([1, 0], [1, 0], 4);
    expect(h).toEqual({ bins: 4, pos: [0, 0, 0, 1], neg: [1, 0, 0, 0] });
  });

  it('rejects out-of-range scores naming the site and value, and mismatched bins', () => {
    expect(() => scoreHistogram([1, 0], [1.2, 0.3], 10, 'hospital-b')).toThrow(
      /site hospital-b: score 1.2 at index 0/,
    );
    expect(() => scoreHistogram([1, 0], [NaN, 0.3])).toThrow(InputError);
    const h10 = scoreHistogram([1, 0], [0.5, 0.3], 10);
    const h20 = scoreHistogram([1, 0], [0.5, 0.3], 20);
    expect(() => pooledAucFromHistograms([h10, { site: 'X', ...h20 }])).toThrow(
      /site X: histogram has 20 bins/,
    );
    expect(() => pooledAucFromHistograms([{ ...h10, pos: h10.pos.map((c) => c - 0.5) }])).toThrow(
      /not a non-negative integer/,
    );
    expect(() => pooledAucFromHistograms([scoreHistogram([1], [0.5], 10)])).toThrow(/both classes/);
  });
});

import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../common/src';
import { delongCi, delongPairedCovariance } from './delong';
import { fixedEffect, pairedDifferenceAcrossSites, SitePairedAuc } from './meta-analysis';
import { histogramDelongVariance, pooledAucWithCi, scoreHistogram } from './pooled';

/** libs/metrics/src/testdata/meta.* — reference numbers from pROC 1.18 and metafor 3.8 (README). */
interface SiteRef {
  site: string;
  n_pos: number;
  n_neg: number;
  auc_a: number;
  auc_b: number;
  var_a: number;
  var_b: number;
  cov_ab: number;
}
interface FixedRef {
  estimate: number;
  se: number;
  ci95: [number, number];
  z?: number;
  p?: number;
  q: number;
  q_p: number;
  i2: number;
}
const dir = path.join(__dirname, 'testdata');
const expected = JSON.parse(fs.readFileSync(path.join(dir, 'meta-expected.json'), 'utf8')) as {
  sites: SiteRef[];
  fixed_effect_difference: FixedRef;
  fixed_effect_auc_a: FixedRef;
  pooled_histogram_a: { bins: number; auc: number; ci95: [number, number]; var: number; exact_auc: number };
};
const rows = fs
  .readFileSync(path.join(dir, 'meta.csv'), 'utf8')
  .trim()
  .split(/\r?\n/)
  .slice(1)
  .map((line) => {
    const [site, y, a, b] = line.split(',');
    return { site, y: Number(y), a: Number(a), b: Number(b) };
  });
const siteNames = expected.sites.map((s) => s.site);
const atSite = (site: string) => rows.filter((r) => r.site === site);

/** What each site would release: computed here from its own rows only. */
const released: SitePairedAuc[] = siteNames.map((site) => {
  const r = atSite(site);
  return {
    site,
    ...delongPairedCovariance(
      r.map((x) => x.y),
      r.map((x) => x.a),
      r.map((x) => x.b),
    ),
  };
});

const close = (actual: number, ref: number, tol = 1e-12): void =>
  expect(Math.abs(actual - ref)).toBeLessThan(tol);

describe('paired site aggregates against pROC 1.18 (var, cov with method = "delong")', () => {
  it.each(siteNames)('site %s: both AUCs, both variances and the covariance', (site) => {
    const ref = expected.sites.find((s) => s.site === site) as SiteRef;
    const mine = released.find((s) => s.site === site) as SitePairedAuc;
    expect([mine.nPos, mine.nNeg]).toEqual([ref.n_pos, ref.n_neg]);
    close(mine.aucA, ref.auc_a);
    close(mine.aucB, ref.auc_b);
    close(mine.varA, ref.var_a);
    close(mine.varB, ref.var_b);
    close(mine.covAB, ref.cov_ab);
  });
});

describe('fixed-effect combination against metafor 3.8 (rma, method = "FE")', () => {
  it('the AUC difference across sites: estimate, SE, CI, z, p, Q, its p and I²', () => {
    const { difference } = pairedDifferenceAcrossSites(released);
    const ref = expected.fixed_effect_difference;
    close(difference.estimate, ref.estimate);
    close(difference.standardError, ref.se);
    close(difference.ci[0], ref.ci95[0]);
    close(difference.ci[1], ref.ci95[1]);
    close(difference.z, ref.z as number);
    close(difference.p, ref.p as number);
    close(difference.q, ref.q);
    close(difference.qP as number, ref.q_p, 1e-10);
    close(difference.i2, ref.i2);
    // I² > 0 here on purpose: one site's models disagree with the others'.
    expect(difference.i2).toBeGreaterThan(0.3);
    expect(difference.sites.reduce((a, s) => a + s.weight, 0)).toBeCloseTo(1, 14);
  });

  it('the site-stratified AUC of one model (I² truncated at 0 when Q < df)', () => {
    const { aucA } = pairedDifferenceAcrossSites(released);
    const ref = expected.fixed_effect_auc_a;
    close(aucA.estimate, ref.estimate);
    close(aucA.standardError, ref.se);
    close(aucA.ci[0], ref.ci95[0]);
    close(aucA.q, ref.q);
    close(aucA.qP as number, ref.q_p, 1e-10);
    expect(aucA.i2).toBe(0);
  });

  it('matches the textbook worked example: two studies, equal variances → the plain mean', () => {
    const r = fixedEffect([
      { site: 'x', estimate: 0.1, variance: 0.01 },
      { site: 'y', estimate: 0.3, variance: 0.01 },
    ]);
    close(r.estimate, 0.2);
    close(r.variance, 0.005);
    // Q = Σ w (y − θ)² = 100·0.01 + 100·0.01 = 2 on 1 df; I² = (2 − 1)/2.
    close(r.q, 2);
    close(r.i2, 0.5);
    expect(r.qDf).toBe(1);
  });

  it('one site: its own estimate and CI, no heterogeneity test', () => {
    const r = fixedEffect([{ site: 'only', estimate: 0.05, variance: 0.0004 }]);
    close(r.estimate, 0.05);
    close(r.ci[0], 0.05 - 1.959963984540054 * 0.02, 1e-12);
    expect(r.qP).toBeNull();
    expect(r.i2).toBe(0);
  });

  it('refuses a zero-variance site by name (two identical models) and an empty list', () => {
    const same = atSite('north');
    const twin = delongPairedCovariance(
      same.map((x) => x.y),
      same.map((x) => x.a),
      same.map((x) => x.a),
    );
    expect(() => pairedDifferenceAcrossSites([{ site: 'north', ...twin }])).toThrow(/site north: variance 0/);
    expect(() => fixedEffect([])).toThrow(InputError);
    expect(() => fixedEffect([{ site: 's', estimate: NaN, variance: 1 }])).toThrow(/site s: estimate NaN/);
  });
});

describe('pooled AUC with a CI from site histograms against pROC on the binned scores', () => {
  const ref = expected.pooled_histogram_a;
  const histograms = siteNames.map((site) => {
    const r = atSite(site);
    return {
      site,
      ...scoreHistogram(
        r.map((x) => x.y),
        r.map((x) => x.a),
        ref.bins,
      ),
    };
  });

  it('AUC, DeLong variance and 95 % CI of the summed histogram', () => {
    const pooled = pooledAucWithCi(histograms);
    close(pooled.auc, ref.auc);
    close(pooled.variance, ref.var);
    close(pooled.ci[0], ref.ci95[0]);
    close(pooled.ci[1], ref.ci95[1]);
  });

  it('the binning bound holds for the exact AUC, and ciWithBinning contains the binned CI', () => {
    const pooled = pooledAucWithCi(histograms);
    expect(Math.abs(pooled.auc - ref.exact_auc)).toBeLessThanOrEqual(pooled.maxBinningError);
    expect(pooled.ciWithBinning[0]).toBeCloseTo(pooled.ci[0] - pooled.maxBinningError, 14);
    expect(pooled.ciWithBinning[1]).toBeCloseTo(pooled.ci[1] + pooled.maxBinningError, 14);
  });

  it('with scores on bin centres the histogram variance is the exact DeLong variance', () => {
    const bins = 10;
    const y = rows.map((r) => r.y);
    const centred = rows.map((r) => (Math.min(Math.floor(r.b * bins), bins - 1) + 0.5) / bins);
    const exact = delongCi(y, centred);
    const h = scoreHistogram(y, centred, bins);
    close(histogramDelongVariance(h, exact.auc), exact.variance, 1e-15);
  });

  it('refuses a histogram with fewer than two cases', () => {
    expect(() => histogramDelongVariance({ bins: 2, pos: [1, 0], neg: [3, 4] }, 0.5)).toThrow(/≥ 2 cases/);
  });
});

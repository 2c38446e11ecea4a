import { EvalResultBody } from '../../../../libs/protocol/src';
import { summariseEvaluation } from './evaluation-results';

function result(positive: number[], negative: number[]): EvalResultBody {
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  return {
    modelDigest: 'd',
    nPositive: sum(positive),
    nNegative: sum(negative),
    histogram: { bins: positive.length, positive, negative },
  } as EvalResultBody;
}

describe('summariseEvaluation', () => {
  it('pools the histograms (not the site AUCs) and keeps one row per site in id order', () => {
    // pooled pos [1, 4], neg [4, 1]: (4·4 + ½·(1·4 + 4·1)) / 25 = 0.8; the mean of site AUCs is (1 + 0.5 + 1) / 3.
    const results = new Map([
      ['c', result([0, 1], [1, 0])],
      ['a', result([0, 2], [2, 0])],
      ['b', result([1, 1], [1, 1])],
    ]);
    const summary = summariseEvaluation('run', 'd', results, 'now');
    expect(summary.problem).toBeUndefined();
    expect(summary.evaluations.map((e) => [e.siteId, e.auc, e.n, e.nPositive])).toEqual([
      ['a', 1, 4, 2],
      ['b', 0.5, 4, 2],
      ['c', 1, 2, 1],
    ]);
    const metric = (name: string) => summary.metrics.find((m) => m.name === name && !m.siteId)?.value;
    expect(metric('eval/pooled_auc')).toBeCloseTo(0.8, 12);
    expect(metric('eval/mean_site_auc')).toBeCloseTo(2.5 / 3, 12);
  });

  it('pools sites that binned differently on their common grid instead of failing the run (issue #18 row 13)', () => {
    // Site a: 10 bins; site b: 1,000 bins with the same scores, so on the common 10-bin grid both agree.
    const coarse = result([0, 0, 0, 0, 0, 0, 0, 0, 1, 2], [2, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    const fine = (counts: number[]) => counts.flatMap((c) => [c, ...new Array<number>(99).fill(0)]);
    const results = new Map([
      ['a', coarse],
      ['b', result(fine(coarse.histogram.positive), fine(coarse.histogram.negative))],
    ]);
    const summary = summariseEvaluation('run', 'd', results, 'now');
    expect(summary.problem).toBeUndefined();
    const metric = (name: string) => summary.metrics.find((m) => m.name === name && !m.siteId)?.value;
    expect(metric('eval/pooled_bins')).toBe(10);
    expect(metric('eval/pooled_auc')).toBe(1);
    // Counts that share no divisor pool on one bin: honest (0.5, binning error 0.5), not a failure.
    const odd = summariseEvaluation(
      'run',
      'd',
      new Map([
        ['a', coarse],
        ['c', result([0, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0])],
      ]),
      'now',
    );
    expect(odd.problem).toBeUndefined();
    expect(odd.metrics.find((m) => m.name === 'eval/pooled_bins')?.value).toBe(1);
  });

  it("keeps a site's exact AUC and DeLong CI over the coarser value its histogram gives", () => {
    // One bin: the histogram alone can only say 0.5; the site measured 0.83 on its own scores.
    const body = Object.assign(result([3], [3]), {
      auc: 0.83,
      metrics: { auc_ci95_low: 0.61, auc_ci95_high: 1 },
    });
    const summary = summariseEvaluation('run', 'd', new Map([['a', body]]), 'now');
    expect(summary.evaluations[0]).toMatchObject({ auc: 0.83, aucLow: 0.61, aucHigh: 1 });
    const siteMetric = (name: string) =>
      summary.metrics.find((m) => m.name === name && m.siteId === 'a')?.value;
    expect(siteMetric('eval/auc')).toBe(0.83);
    expect(siteMetric('eval/auc_binned')).toBe(0.5);
  });

  it('files every-k results under their round, and a local model (cross-site) as rows without run metrics', () => {
    const results = new Map([
      ['a', result([0, 2], [2, 0])],
      ['b', result([1, 1], [1, 1])],
    ]);
    const everyK = summariseEvaluation('run', 'd', results, 'now', { round: 4, modelOf: 'global' });
    expect(everyK.evaluations.map((e) => [e.stage, e.round, e.modelOf])).toEqual([
      ['evaluate', 4, 'global'],
      ['evaluate', 4, 'global'],
    ]);
    expect(new Set(everyK.metrics.map((m) => m.round))).toEqual(new Set([4]));
    expect(everyK.metrics.find((m) => m.name === 'eval/pooled_auc')).toBeDefined();

    const crossSite = summariseEvaluation('run', 'd', results, 'now', {
      round: 10_001,
      modelOf: 'b',
      finetuneRound: 3,
    });
    expect(crossSite.evaluations.map((e) => [e.siteId, e.modelOf, e.round, e.auc])).toEqual([
      ['a', 'b', 10_001, 1],
      ['b', 'b', 10_001, 0.5],
    ]);
    expect(crossSite.metrics.map((m) => [m.name, m.siteId, m.round, m.value])).toEqual([
      ['crosssite/model_finetune_round', 'b', 10_001, 3],
    ]);
    expect(crossSite.problem).toBeUndefined();
  });

  it('says why when no pooled AUC exists (a class missing everywhere)', () => {
    const summary = summariseEvaluation('run', 'd', new Map([['a', result([0, 2], [0, 0])]]), 'now');
    expect(summary.evaluations[0].auc).toBeUndefined();
    expect(summary.problem).toMatch(/both classes/);
  });
  it('private evaluation: AUC, CI and pooled AUC from the released k-anonymous bins, with the binning error bound', () => {
    // Site a released merged bins [0, 0.5) and [0.5, 1]; site b its fine 2-bin histogram (no edges).
    const merged = {
      modelDigest: 'd',
      nPositive: 5,
      nNegative: 5,
      histogram: { bins: 2, edges: [0, 0.5, 1], positive: [1, 4], negative: [4, 1] },
    } as EvalResultBody;
    const summary = summariseEvaluation(
      'run',
      'd',
      new Map([
        ['a', merged],
        ['b', result([0, 3], [3, 0])],
      ]),
      'now',
    );
    expect(summary.problem).toBeUndefined();
    const metric = (name: string, site?: string) =>
      summary.metrics.find((m) => m.name === name && m.siteId === site)?.value;
    // Site a: 16 pairs separated, 8 overlapping (½ each) of 25 → 0.8, error ≤ ½·8/25 = 0.16.
    expect(summary.evaluations[0].auc).toBeCloseTo(0.8, 12);
    expect(metric('eval/auc_max_binning_error', 'a')).toBeCloseTo(0.16, 12);
    expect(summary.evaluations[0].aucLow).toBeLessThan(0.8 - 0.16);
    // Pooled: cases 1 low, 7 high; controls 7 low, 1 high → 49 separated pairs, 14 overlapping, of 64.
    expect(metric('eval/pooled_auc')).toBeCloseTo((1 * 0 + 7 * 7 + 0.5 * (1 * 7 + 7 * 1)) / 64, 12);
    expect(metric('eval/pooled_auc_max_binning_error')).toBeCloseTo((0.5 * 14) / 64, 12);
    expect(metric('eval/pooled_auc_ci95_low')).toBeLessThan(metric('eval/pooled_auc')!);
    expect(metric('eval/pooled_auc_ci95_high')).toBeGreaterThan(metric('eval/pooled_auc')!);
  });
});

import {
  delongPairedCovariance,
  pairedDifferenceAcrossSites,
  rocSummary,
} from '../../../../libs/metrics/src';
import {
  armResult,
  comparisonOf,
  pairedRoundComparison,
  resolveComparisons,
  siteAggregates,
} from './evaluation';

const labels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
const good = [0.1, 0.2, 0.3, 0.45, 0.6, 0.4, 0.7, 0.8, 0.85, 0.9];
const poor = [0.5, 0.2, 0.7, 0.4, 0.6, 0.3, 0.65, 0.55, 0.1, 0.8];

describe('compare evaluation', () => {
  const siteA = siteAggregates(
    'a',
    false,
    labels,
    new Map([
      ['x', good],
      ['y', poor],
    ]),
    [['x', 'y']],
  );
  const siteB = siteAggregates(
    'b',
    false,
    labels,
    new Map([
      ['x', poor],
      ['y', good],
    ]),
    [['x', 'y']],
  );
  const ext = siteAggregates(
    'e',
    true,
    labels,
    new Map([
      ['x', good],
      ['y', poor],
    ]),
    [['x', 'y']],
  );

  it('returns at a site only aggregates: AUC with DeLong CI, counts, histograms and pair covariances', () => {
    const roc = rocSummary(labels, good);
    expect(siteA.arms[0]).toMatchObject({ arm: 'x', auc: roc.auc, ci95: roc.ci, n: 10, nPos: 5, nNeg: 5 });
    expect(siteA.arms[0].histogram.pos.reduce((a, b) => a + b)).toBe(5);
    expect(siteA.pairs[0]).toEqual({ a: 'x', b: 'y', ...delongPairedCovariance(labels, good, poor) });
    // Nothing with one entry per patient leaves the site.
    expect(JSON.stringify(siteA)).not.toContain('0.85');
  });

  it('combines a pair across sites exactly as pairedDifferenceAcrossSites does', () => {
    const c = comparisonOf('federated − central', 'x', 'y', 'internal', [siteA, siteB, ext]);
    const expected = pairedDifferenceAcrossSites([
      { site: 'a', ...delongPairedCovariance(labels, good, poor) },
      { site: 'b', ...delongPairedCovariance(labels, poor, good) },
    ]).difference;
    expect(c).toMatchObject({
      a: 'x',
      b: 'y',
      scope: 'internal',
      sites: 2,
      diff: expected.estimate,
      p: expected.p,
    });
    expect(c.ci95).toEqual(expected.ci);
    // Opposite differences at two equal sites: the combined difference is 0 and I² is large.
    expect(c.diff).toBeCloseTo(0, 12);
    expect(c.i2).toBeGreaterThan(0.5);
    const e = comparisonOf('federated − central', 'x', 'y', 'external', [siteA, siteB, ext]);
    expect(e.sites).toBe(1);
    expect(e.diff).toBeCloseTo(rocSummary(labels, good).auc - rocSummary(labels, poor).auc, 12);
  });

  it('says why no difference exists instead of failing', () => {
    const same = siteAggregates(
      'a',
      false,
      labels,
      new Map([
        ['x', good],
        ['y', good],
      ]),
      [['x', 'y']],
    );
    const c = comparisonOf('SSL − no-SSL', 'x', 'y', 'internal', [same]);
    expect(c).toMatchObject({ diff: null, ci95: null, p: null });
    expect(c.note).toMatch(/zero DeLong variance/);
    const tiny = siteAggregates(
      't',
      false,
      [0, 1, 1],
      new Map([
        ['x', [0.1, 0.5, 0.9]],
        ['y', [0.2, 0.3, 0.4]],
      ]),
      [['x', 'y']],
    );
    expect(tiny.arms[0].auc).toBeNull();
    expect(comparisonOf('q', 'x', 'y', 'internal', [tiny]).note).toMatch(/two cases and two controls/);
  });

  it('pools an arm over internal sites only and resolves "best local" by pooled AUC', () => {
    const x = armResult('x', false, [siteA, siteB, ext]);
    expect(x.sites.map((s) => s.site)).toEqual(['a', 'b', 'e']);
    expect(x.pooled_auc).toBeGreaterThan(0.5);
    expect(x.pooled_ci95![0]).toBeLessThan(x.pooled_auc!);
    expect(x.histogram!.pos.reduce((a, b) => a + b)).toBe(10); // two internal sites × 5 cases
    const sA = siteAggregates(
      'a',
      false,
      labels,
      new Map([
        ['fed', good],
        ['l1', poor],
        ['l2', good],
      ]),
      [
        ['fed', 'l1'],
        ['fed', 'l2'],
      ],
    );
    const arms = ['fed', 'l1', 'l2'].map((id) => armResult(id, false, [sA]));
    const [c] = resolveComparisons(
      [{ question: 'federated − best local', a: 'fed', b: { bestOf: ['l1', 'l2'] } }],
      arms,
      [sA],
      false,
    );
    expect(c.b).toBe('l2');
  });

  it("takes a federated arm's internal row from its paired round, and names a failed round", () => {
    const pair = (site: string, a: number[], b: number[]) => ({
      site,
      ...delongPairedCovariance(labels, a, b),
    });
    const sites = [pair('a', good, poor), pair('b', poor, good)];
    const planned = [{ question: 'federated − central' as const, a: 'fed', b: 'central' }];
    // compare's own aggregates say something else: the paired round's must be the ones used.
    const own = siteAggregates(
      'a',
      false,
      labels,
      new Map([
        ['fed', poor],
        ['central', good],
      ]),
      [['fed', 'central']],
    );
    const arms = ['fed', 'central'].map((id) => armResult(id, false, [own]));
    const [row] = resolveComparisons(
      planned,
      arms,
      [own],
      false,
      new Map([['fed', { against: 'central', sites }]]),
    );
    const expected = pairedDifferenceAcrossSites(sites).difference;
    expect(row).toMatchObject({
      diff: expected.estimate,
      ci95: expected.ci,
      sites: 2,
      source: 'paired-round',
    });
    expect(resolveComparisons(planned, arms, [own], false)[0].diff).not.toBeCloseTo(expected.estimate, 6);
    const failed = pairedRoundComparison('federated − central', 'fed', {
      against: 'central',
      sites: [],
      failed: 'site a: too few cases',
    });
    expect(failed).toMatchObject({
      diff: null,
      note: 'the paired evaluation round failed: site a: too few cases',
    });
  });
});

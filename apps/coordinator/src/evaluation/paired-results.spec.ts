import { PAIRED_EVALUATION_ROUND } from '../../../../libs/federated/src';
import { pairedDifferenceAcrossSites } from '../../../../libs/metrics/src';
import type { EvalResultBody } from '../../../../libs/protocol/src';
import { pairedMetrics, pairedView } from './paired-results';

const B = 'b'.repeat(128);
const C = 'c'.repeat(128);
const site = (aucA: number, aucB: number, covAB = 0.002, modelDigest = B) => ({
  modelDigest,
  aucA,
  aucB,
  varA: 0.004,
  varB: 0.005,
  covAB,
  nPos: 10,
  nNeg: 20,
});
const result = (...paired: ReturnType<typeof site>[]) => ({ paired }) as unknown as EvalResultBody;

describe('paired evaluation results (coordinator)', () => {
  const results = new Map([
    ['site-b', result(site(0.7, 0.75), site(0.7, 0.6, 0.001, C))],
    ['site-a', result(site(0.8, 0.7), site(0.8, 0.65, 0.001, C))],
  ]);

  it('stores per-site aggregates and reads back the fixed-effect combination libs/metrics computes', () => {
    const metrics = pairedMetrics('run-1', results, [B, C], '2026-12-02T00:00:00.000Z');
    expect(metrics).toHaveLength(2 * 2 * 7);
    expect(metrics.every((m) => m.stage === 'evaluate' && m.round === PAIRED_EVALUATION_ROUND)).toBe(true);
    expect(metrics.find((m) => m.siteId === 'site-a' && m.name === 'paired/1/auc_b')!.value).toBe(0.65);
    const views = pairedView(metrics, [B, C], 'a'.repeat(128));
    expect(views.map((v) => v.modelB)).toEqual([B, C]);
    const expected = pairedDifferenceAcrossSites([
      { site: 'site-a', ...site(0.8, 0.7) },
      { site: 'site-b', ...site(0.7, 0.75) },
    ]);
    expect(views[0]).toMatchObject({
      modelA: 'a'.repeat(128),
      difference: {
        estimate: expected.difference.estimate,
        ci95: expected.difference.ci,
        p: expected.difference.p,
      },
      heterogeneity: {
        q: expected.difference.q,
        df: 1,
        p: expected.difference.qP,
        i2: expected.difference.i2,
      },
      nPositive: 20,
      nNegative: 40,
    });
    expect(views[0].sites.map((s) => [s.site, s.difference])).toEqual([
      ['site-a', 0.8 - 0.7],
      ['site-b', 0.7 - 0.75],
    ]);
    // Sites disagree in sign: the heterogeneity is there for a reader to see.
    expect(views[0].heterogeneity.q).toBeGreaterThan(0);
  });

  it('is empty before the paired round ran, and without compareWith', () => {
    expect(pairedView([], [B], null)).toEqual([]);
    expect(pairedView(pairedMetrics('run-1', results, [B, C], 'x'), undefined, null)).toEqual([]);
  });

  it('leaves out by name a site whose pair carries no weight (zero DeLong variance), as compare does', () => {
    const mixed = new Map([
      ['site-a', result(site(0.8, 0.7))],
      ['site-b', result({ ...site(1, 1), varA: 0, varB: 0, covAB: 0 })],
    ]);
    const [view] = pairedView(pairedMetrics('run-1', mixed, [B], 'x'), [B], null);
    expect(view.sites.map((s) => s.site)).toEqual(['site-a']);
    expect(view.leftOut).toEqual([
      { site: 'site-b', aucA: 1, aucB: 1, reason: expect.stringMatching(/^zero DeLong variance/) },
    ]);
    expect(view.difference.estimate).toBeCloseTo(0.1, 12);
    expect(view.nPositive).toBe(10);
  });

  it('fails by name when the pair cannot be combined: identical models everywhere, or a site without the pair', () => {
    const identical = new Map([['site-a', result({ ...site(0.8, 0.8), varB: 0.004, covAB: 0.004 })]]);
    expect(() => pairedMetrics('run-1', identical, [B], 'x')).toThrow(
      /compared model 0 \(bbbbbbbbbbbbbbbb…\): zero DeLong variance .* at every site/,
    );
    expect(() => pairedMetrics('run-1', results, [C], 'x')).toThrow(
      /site site-a sent no paired aggregates for compared model 0/,
    );
  });
});

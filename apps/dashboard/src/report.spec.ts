import { reportMarkdown } from './report';
import { PairedComparison, RunLive, RunResults } from './types';

describe('dashboard Markdown report', () => {
  const run = {
    id: 'r1',
    name: 'paired',
    state: 'completed',
    createdAt: '2026-01-01T00:00:00.000Z',
    plan: { strategy: { name: 'fedavg' }, quorum: { minSites: 2 } },
  } as unknown as RunLive;
  const results = (paired: PairedComparison[]): RunResults =>
    ({ evaluation: { periodic: [], final: null, crossSite: null }, paired }) as unknown as RunResults;

  it('gives each paired comparison its section: full digests, difference, heterogeneity, sites, left-out sites', () => {
    const paired: PairedComparison = {
      modelA: 'a'.repeat(128),
      modelB: 'b'.repeat(128),
      difference: { estimate: 0.05, ci95: [-0.01, 0.11], standardError: 0.03, z: 1.6, p: 0.11 },
      heterogeneity: { q: 0.4, df: 1, p: 0.53, i2: 0 },
      aucA: { estimate: 0.8, ci95: [0.7, 0.9] },
      aucB: { estimate: 0.75, ci95: [0.65, 0.85] },
      nPositive: 8,
      nNegative: 12,
      sites: [
        {
          site: 'site-a',
          aucA: 0.8,
          aucB: 0.7,
          difference: 0.1,
          ci95: [0, 0.2],
          weight: 0.4,
          nPositive: 4,
          nNegative: 6,
        },
        {
          site: 'site-b',
          aucA: 0.8,
          aucB: 0.78,
          difference: 0.02,
          ci95: [-0.05, 0.09],
          weight: 0.6,
          nPositive: 4,
          nNegative: 6,
        },
      ],
      leftOut: [{ site: 'site-c', aucA: 1, aucB: 1, reason: 'zero DeLong variance' }],
    };
    const md = reportMarkdown(run, [], results([paired]));
    expect(md).toContain('## Paired comparison: final global aaaaaaaaaaaa… − bbbbbbbbbbbb…');
    expect(md).toContain(`- compared model: ${'b'.repeat(128)}`);
    expect(md).toContain(
      '(final global − compared, fixed effect): +0.050 (95 % CI −0.010 to +0.110), p 0.110',
    );
    expect(md).toContain('- heterogeneity: Q 0.40 (df 1, p 0.530) · I² 0 %');
    expect(md).toContain(
      '| site-b | 0.800 | 0.780 | +0.020 (−0.050 to +0.090) | 60 % | 10 (4 proliferative) |',
    );
    expect(md).toContain('| site-c | left out (1.000 vs 1.000): zero DeLong variance | | | | |');
    expect(reportMarkdown(run, [], results([]))).not.toContain('Paired comparison');
  });
});

import type { ArmResult, ComparisonResult } from './evaluation';
import {
  compareHtml,
  compareJsonLine,
  compareMarkdown,
  CompareReport,
  rocPointsOfHistogram,
  SeedResult,
  summariseSeeds,
} from './report';

function arm(auc: number, ci: [number, number]): ArmResult {
  return {
    arm: 'central',
    ssl: true,
    sites: [{ site: 'a', external: false, auc, ci95: ci, n: 10 }],
    pooled_auc: auc,
    pooled_ci95: ci,
    stratified_auc: auc,
    stratified_ci95: ci,
    histogram: { bins: 4, pos: [0, 1, 1, 3], neg: [3, 1, 1, 0] },
  };
}

function comparison(diff: number, ci: [number, number], b = 'local-a'): ComparisonResult {
  return {
    question: 'federated − best local',
    a: 'federated-fedavg',
    b,
    scope: 'internal',
    diff,
    ci95: ci,
    p: 0.5,
    q: null,
    i2: null,
    sites: 1,
  };
}

const seeds: SeedResult[] = [
  {
    seed: 1,
    arms: [arm(0.7, [0.6, 0.8])],
    comparisons: [comparison(0.02, [-0.04, 0.08])],
    train_seconds: { central: 1 },
  },
  {
    seed: 2,
    arms: [arm(0.8, [0.7, 0.9])],
    comparisons: [comparison(0.04, [-0.02, 0.1], 'local-b')],
    train_seconds: { central: 1 },
  },
];

describe('compare report', () => {
  const { arms, comparisons } = summariseSeeds(seeds);
  const report: CompareReport = {
    configuration: { arms: ['central'] },
    seeds: [1, 2],
    versions: { node: 'v20' },
    wall_s: 12.5,
    arms,
    comparisons,
    per_seed: seeds,
  };

  it('summarises seeds as mean ± SD with the mean of the CI ends, keeping each seed', () => {
    expect(arms[0].pooled_auc).toBeCloseTo(0.75, 12);
    expect(arms[0].pooled_sd).toBeCloseTo(Math.sqrt(0.005), 12);
    expect(arms[0].pooled_ci95![0]).toBeCloseTo(0.65, 12);
    expect(arms[0].pooled_ci95![1]).toBeCloseTo(0.85, 12);
    expect(arms[0].pooled_per_seed).toEqual([0.7, 0.8]);
    expect(comparisons[0].diff).toBeCloseTo(0.03, 12);
    expect(comparisons[0].b).toMatch(/differs by seed/);
    expect(comparisons[0].per_seed.map((s) => s.b)).toEqual(['local-a', 'local-b']);
    expect(comparisons[0].p).toBeGreaterThan(0);
    expect(comparisons[0].p).toBeLessThan(1);
  });

  it('writes the documented --json shape', () => {
    const line = compareJsonLine(report) as {
      arms: Record<string, unknown>[];
      comparisons: Record<string, unknown>[];
    };
    expect(Object.keys(line)).toEqual(['arms', 'comparisons', 'seeds', 'wall_s']);
    expect(line.arms[0]).toEqual({
      arm: 'central',
      ssl: true,
      sites: [{ site: 'a', external: false, auc: 0.75, ci95: [0.65, 0.85], n: 10 }],
      pooled_auc: 0.75,
      pooled_ci95: [0.65, 0.85],
    });
    expect(Object.keys(line.comparisons[0])).toEqual(['question', 'scope', 'a', 'b', 'diff', 'ci95', 'p']);
  });

  it('draws ROC points from a histogram, from (0,0) to (1,1)', () => {
    expect(rocPointsOfHistogram({ bins: 4, pos: [0, 1, 1, 3], neg: [3, 1, 1, 0] })).toEqual([
      [0, 0],
      [0, 0.6],
      [0.2, 0.8],
      [0.4, 1],
      [1, 1],
    ]);
  });

  it('writes Markdown and a self-contained HTML page with an inline SVG ROC', () => {
    const md = compareMarkdown(report);
    expect(md).toContain('| central + SSL | 0.750 ± 0.071 (0.650–0.850)');
    expect(md).toContain('## Per seed');
    const html = compareHtml(report);
    expect(html).toContain('<svg');
    expect(html).toContain('<polyline');
    expect(html).not.toMatch(/<script|<link|src=|url\(/);
  });
});

import { shiftPrior } from '../../../../libs/metrics/src';
import { type AtThreshold, pooledAtThreshold } from './cut-offs';
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

/** Site a (5 cases, 5 controls) classified at cut-off t with tp true positives and tn true negatives. */
function at(t: number, tp: number, tn: number): AtThreshold {
  return {
    threshold: t,
    source: 'validation',
    from: ['a'],
    n_val: 4,
    threshold_probability: shiftPrior(t, 0.4),
    tp,
    fp: 5 - tn,
    tn,
    fn: 5 - tp,
    sensitivity: tp / 5,
    specificity: tn / 5,
    ppv: tp / (tp + 5 - tn),
    npv: tn / (tn + 5 - tp),
    accuracy: (tp + tn) / 10,
  };
}

function arm(auc: number, ci: [number, number], cut: AtThreshold): ArmResult {
  return {
    arm: 'central',
    ssl: true,
    sites: [{ site: 'a', external: false, auc, ci95: ci, n: 10, at_threshold: cut }],
    pooled_auc: auc,
    pooled_ci95: ci,
    stratified_auc: auc,
    stratified_ci95: ci,
    histogram: { bins: 4, pos: [0, 1, 1, 3], neg: [3, 1, 1, 0] },
    pooled_at_threshold: pooledAtThreshold([cut]),
    training_prevalence: 0.4,
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
    arms: [arm(0.7, [0.6, 0.8], at(0.4, 4, 3))],
    comparisons: [comparison(0.02, [-0.04, 0.08])],
    train_seconds: { central: 1 },
  },
  {
    seed: 2,
    arms: [arm(0.8, [0.7, 0.9], at(0.6, 3, 5))],
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

  it('summarises the fixed cut-off and the rates at it as mean ± SD with every seed', () => {
    const t = arms[0].sites[0].at_threshold!;
    expect(t.source).toBe('validation');
    expect(t.threshold.per_seed).toEqual([0.4, 0.6]);
    expect(t.threshold.mean).toBeCloseTo(0.5, 12);
    expect(t.sensitivity.per_seed).toEqual([0.8, 0.6]);
    expect(t.sensitivity.mean).toBeCloseTo(0.7, 12);
    expect(t.sensitivity.sd).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(t.specificity.mean).toBeCloseTo(0.8, 12);
    expect(t.threshold_probability.per_seed[0]).toBeCloseTo(shiftPrior(0.4, 0.4), 12);
    expect(arms[0].pooled_at_threshold!.accuracy.per_seed).toEqual([0.7, 0.8]);
    expect(arms[0].training_prevalence).toBe(0.4);
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
      sites: [
        {
          site: 'a',
          external: false,
          auc: 0.75,
          ci95: [0.65, 0.85],
          n: 10,
          at_threshold: {
            source: 'validation',
            threshold: 0.5,
            sensitivity: 0.7,
            specificity: 0.8,
            ppv: expect.any(Number),
            npv: expect.any(Number),
            accuracy: 0.75,
          },
        },
      ],
      pooled_auc: 0.75,
      pooled_ci95: [0.65, 0.85],
      pooled_at_threshold: {
        sensitivity: 0.7,
        specificity: 0.8,
        ppv: expect.any(Number),
        npv: expect.any(Number),
        accuracy: 0.75,
      },
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
    expect(md).toContain('| central + SSL | a | 0.500 ± 0.141 (validation: a); as risk');
    expect(md).toMatch(
      /\| central \+ SSL \| internal, pooled \| π = 0\.400 \| 0\.700 ± 0\.141 \| 0\.800 ± 0\.283 \|/,
    );
    expect(md).toContain('| central + SSL sensitivity | 0.800 | 0.600 |');
    expect(md).toMatch(/DeLong variance on the summed histogram/);
    const html = compareHtml(report);
    expect(html).toContain('<svg');
    expect(html).toContain('<polyline');
    expect(html).not.toMatch(/<script|<link|src=|url\(/);
    expect(html).toContain('At a fixed cut-off');
    expect(html).toContain('Pooled AUC: the internal test sites');
  });
});

import { InputError } from '../../../../libs/common/src';
import { curveJsonLine, curveMarkdown, labelledFractionCurve, parseLabelledFractions } from './curve';
import type { ArmSummary, CompareReport } from './report';

function armSummary(arm: string, ssl: boolean, auc: number): ArmSummary {
  return {
    arm,
    ssl,
    sites: [
      {
        site: 'a',
        external: false,
        auc,
        ci95: [auc - 0.1, auc + 0.1],
        n: 10,
        sd: 0,
        per_seed: [auc],
        at_threshold: null,
      },
    ],
    pooled_auc: auc,
    pooled_ci95: [auc - 0.1, auc + 0.1],
    pooled_sd: 0.01,
    pooled_per_seed: [auc],
    pooled_at_threshold: null,
    training_prevalence: null,
  };
}

function report(central: number, federated: number): CompareReport {
  return {
    configuration: {},
    seeds: [1],
    versions: {},
    wall_s: 1,
    arms: [armSummary('central', false, central), armSummary('federated-fedavg', false, federated)],
    comparisons: [],
    per_seed: [],
  };
}

describe('compare --labelled-fraction F…', () => {
  it('parses several fractions (spaces or commas), sorted without repeats, and refuses bad ones', () => {
    expect(parseLabelledFractions(['0.5', '0.1,1', '0.5'])).toEqual([0.1, 0.5, 1]);
    expect(() => parseLabelledFractions(['0.5', '0'])).toThrow(
      /--labelled-fraction must be a number in \(0, 1\]/,
    );
    expect(() => parseLabelledFractions(['1.5'])).toThrow(InputError);
    expect(() => parseLabelledFractions([])).toThrow(InputError);
  });

  it("draws each arm's pooled AUC against the fraction, in increasing fraction", () => {
    const runs = [
      { labelled_fraction: 1, report: report(0.8, 0.78) },
      { labelled_fraction: 0.25, report: report(0.6, 0.65) },
    ];
    const curve = labelledFractionCurve(runs);
    expect(curve.map((c) => [c.arm, c.points.map((p) => [p.labelled_fraction, p.pooled_auc])])).toEqual([
      [
        'central',
        [
          [0.25, 0.6],
          [1, 0.8],
        ],
      ],
      [
        'federated-fedavg',
        [
          [0.25, 0.65],
          [1, 0.78],
        ],
      ],
    ]);
    const md = curveMarkdown(curve, runs);
    expect(md).toContain('| arm | 25 % | 100 % |');
    expect(md).toContain('| federated-fedavg | 0.650 ± 0.010 (0.550–0.750) | 0.780 ± 0.010 (0.680–0.880) |');
    const line = curveJsonLine(runs, curve, 12.3);
    expect(line).toMatchObject({ seeds: [1], wall_s: 12.3 });
    expect(
      (line.labelled_fractions as { labelled_fraction: number }[]).map((f) => f.labelled_fraction),
    ).toEqual([0.25, 1]);
    expect((line.curve as { points: unknown[] }[])[0].points[0]).toEqual({
      labelled_fraction: 0.25,
      pooled_auc: 0.6,
      pooled_ci95: [0.5, 0.7],
    });
  });
});

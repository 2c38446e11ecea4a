import { InputError } from '../../../../libs/common/src';
import { parseFraction } from '../commands/model-inputs';
import { compareJsonLine, CompareReport } from './report';

/**
 * `--labelled-fraction F…` with several values: one whole comparison per fraction (same cohorts,
 * splits, seeds and budget; only the share of training labels kept differs), and a curve of each
 * arm's pooled AUC against the fraction — how much federation (or SSL) is worth as labels get
 * scarce.
 */

/** The fractions asked for, each in (0, 1], in increasing order without repeats. */
export function parseLabelledFractions(values: readonly string[]): number[] {
  if (values.length === 0) throw new InputError('--labelled-fraction: give at least one fraction in (0, 1]');
  const fractions = values
    .flatMap((v) => v.split(','))
    .map((v) => parseFraction(v.trim(), '--labelled-fraction'));
  return [...new Set(fractions)].sort((a, b) => a - b);
}

export interface FractionRun {
  labelled_fraction: number;
  report: CompareReport;
}

export interface CurvePoint {
  labelled_fraction: number;
  pooled_auc: number | null;
  pooled_ci95: [number, number] | null;
  /** SD across seeds. */
  pooled_sd: number | null;
}

export interface ArmCurve {
  arm: string;
  ssl: boolean;
  points: CurvePoint[];
}

/** Each arm's pooled internal AUC at every fraction, arms in the reports' order. */
export function labelledFractionCurve(runs: readonly FractionRun[]): ArmCurve[] {
  const curves = new Map<string, ArmCurve>();
  for (const run of [...runs].sort((a, b) => a.labelled_fraction - b.labelled_fraction)) {
    for (const a of run.report.arms) {
      const key = `${a.arm}\u0000${a.ssl}`;
      if (!curves.has(key)) curves.set(key, { arm: a.arm, ssl: a.ssl, points: [] });
      curves.get(key)!.points.push({
        labelled_fraction: run.labelled_fraction,
        pooled_auc: a.pooled_auc,
        pooled_ci95: a.pooled_ci95,
        pooled_sd: a.pooled_sd,
      });
    }
  }
  return [...curves.values()];
}

/** `curve.md`: one row per arm, one column per fraction (pooled AUC, ± SD across seeds). */
export function curveMarkdown(curve: readonly ArmCurve[], runs: readonly FractionRun[]): string {
  const fractions = [...new Set(runs.map((r) => r.labelled_fraction))].sort((a, b) => a - b);
  const cell = (p: CurvePoint | undefined) =>
    !p || p.pooled_auc === null
      ? 'n/a'
      : `${p.pooled_auc.toFixed(3)}${p.pooled_sd ? ` ± ${p.pooled_sd.toFixed(3)}` : ''}` +
        (p.pooled_ci95 ? ` (${p.pooled_ci95[0].toFixed(3)}–${p.pooled_ci95[1].toFixed(3)})` : '');
  const lines = [
    '# Pooled AUC against the share of training labels kept',
    '',
    'Each column is a whole comparison (`report.json` in `labelled-<fraction>/`) on the same cohorts, ' +
      'splits, seeds and budget; only the labelled share of each training site differs (the other ' +
      'training patients serve SSL only). Pooled internal test AUC (± SD across seeds) with 95 % CI.',
    '',
    `| arm | ${fractions.map((f) => `${Math.round(f * 1000) / 10} %`).join(' | ')} |`,
    `|---|${fractions.map(() => '---').join('|')}|`,
    ...curve.map(
      (c) =>
        `| ${c.arm}${c.ssl ? '+ssl' : ''} | ${fractions
          .map((f) => cell(c.points.find((p) => p.labelled_fraction === f)))
          .join(' | ')} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

/** `--json`'s last line with several fractions: each fraction's usual line, the curve, seeds and wall time. */
export function curveJsonLine(
  runs: readonly FractionRun[],
  curve: readonly ArmCurve[],
  wallSeconds: number,
): Record<string, unknown> {
  const r4 = (x: number | null) => (x === null ? null : Math.round(x * 1e4) / 1e4);
  return {
    labelled_fractions: [...runs]
      .sort((a, b) => a.labelled_fraction - b.labelled_fraction)
      .map((r) => {
        const { arms, comparisons } = compareJsonLine(r.report);
        return { labelled_fraction: r.labelled_fraction, arms, comparisons };
      }),
    curve: curve.map((c) => ({
      arm: c.arm,
      ssl: c.ssl,
      points: c.points.map((p) => ({
        labelled_fraction: p.labelled_fraction,
        pooled_auc: r4(p.pooled_auc),
        pooled_ci95: p.pooled_ci95 ? [r4(p.pooled_ci95[0]), r4(p.pooled_ci95[1])] : null,
      })),
    })),
    seeds: runs[0]?.report.seeds ?? [],
    wall_s: wallSeconds,
  };
}

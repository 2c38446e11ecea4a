/** What loading a cohort found: counts the CLI and the site agent print and log. */
import { ManifestRow, SkippedRow, Split } from './manifest';

export interface ClassCounts {
  pos: number;
  neg: number;
  unlabelled: number;
}

export interface CohortReport {
  manifest: string;
  /** Data rows in the manifest. */
  rows: number;
  loaded: number;
  /** In manifest order. */
  skipped: SkippedRow[];
  labelled: number;
  unlabelled: number;
  bySplit: Record<Split, ClassCounts>;
}

export function emptyReport(manifest: string, rows: number): CohortReport {
  return {
    manifest,
    rows,
    loaded: 0,
    skipped: [],
    labelled: 0,
    unlabelled: 0,
    bySplit: {
      train: { pos: 0, neg: 0, unlabelled: 0 },
      val: { pos: 0, neg: 0, unlabelled: 0 },
      test: { pos: 0, neg: 0, unlabelled: 0 },
    },
  };
}

export function countLoaded(report: CohortReport, row: ManifestRow): void {
  report.loaded++;
  const counts = report.bySplit[row.split];
  if (row.label === null) {
    report.unlabelled++;
    counts.unlabelled++;
  } else {
    report.labelled++;
    if (row.label === 1) counts.pos++;
    else counts.neg++;
  }
}

/**
 * Appends a skipped row. Rows arrive mostly in order (the manifest's, then the loader's), so
 * sorting after every one was quadratic: 100,000 bad rows took minutes. Call `finishReport` once
 * when every row is counted.
 */
export function countSkipped(report: CohortReport, skipped: SkippedRow): void {
  report.skipped.push(skipped);
}

/** Puts the skipped rows in manifest order (one stable sort: O(n log n)). */
export function finishReport(report: CohortReport): CohortReport {
  report.skipped.sort((a, b) => a.row - b.row);
  return report;
}

/** Human summary: one line of totals, one per split, one per skipped row. */
export function formatCohortReport(report: CohortReport): string[] {
  const split = (name: Split) => {
    const c = report.bySplit[name];
    return `${name}: ${c.pos + c.neg + c.unlabelled} (${c.pos} proliferative, ${c.neg} not, ${c.unlabelled} unlabelled)`;
  };
  const lines = [
    `cohort ${report.manifest}: ${report.loaded} of ${report.rows} patients loaded, ${report.skipped.length} skipped; ` +
      `${report.labelled} labelled, ${report.unlabelled} unlabelled`,
    `  ${split('train')}`,
    // A validation split is optional: its line only appears when the manifest has one.
    ...(report.bySplit.val.pos + report.bySplit.val.neg + report.bySplit.val.unlabelled > 0
      ? [`  ${split('val')}`]
      : []),
    `  ${split('test')}`,
  ];
  for (const s of report.skipped)
    lines.push(`  skipped row ${s.row} (${s.patientId || 'no id'}): ${s.reason}`);
  return lines;
}

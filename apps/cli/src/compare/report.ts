import { qnorm, ScoreHistogram, sumHistograms, twoSidedNormalP } from '../../../../libs/metrics/src';
import type { AtThreshold, CutOff, PooledAtThreshold } from './cut-offs';
import type { ArmResult, ComparisonResult } from './evaluation';

/** One replicate: every arm trained with this seed, evaluated, compared. */
export interface SeedResult {
  seed: number;
  arms: ArmResult[];
  comparisons: ComparisonResult[];
  /** Training seconds per arm id (wall clock; not part of the reproducible figures). */
  train_seconds: Record<string, number>;
}

export interface SiteSummary {
  site: string;
  external: boolean;
  auc: number | null;
  ci95: [number, number] | null;
  n: number;
  /** SD of the AUC across seeds (0 with one seed). */
  sd: number | null;
  per_seed: (number | null)[];
  /** At the arm's fixed cut-off (validation or transferred), across seeds. */
  at_threshold: ThresholdSummary | null;
}

/** A figure across seeds: the mean and SD of the seeds that have one, and every seed's value. */
export interface MeanSd {
  mean: number | null;
  sd: number | null;
  per_seed: (number | null)[];
}

const RATES = ['sensitivity', 'specificity', 'ppv', 'npv', 'accuracy'] as const;
type Rate = (typeof RATES)[number];

export type RatesSummary = Record<Rate, MeanSd>;

export interface ThresholdSummary extends RatesSummary {
  source: CutOff['source'];
  from: string[];
  threshold: MeanSd;
  threshold_probability: MeanSd;
  /** Why a seed has no figure (no validation split, no cut-off beating chance, a missing class). */
  notes?: string[];
}

export interface ArmSummary {
  arm: string;
  ssl: boolean;
  sites: SiteSummary[];
  pooled_auc: number | null;
  pooled_ci95: [number, number] | null;
  pooled_sd: number | null;
  pooled_per_seed: (number | null)[];
  /** The internal test sites' counts at their cut-offs, summed per seed, across seeds. */
  pooled_at_threshold: RatesSummary | null;
  training_prevalence: number | null;
}

/** A comparison across seeds: the mean difference (`b` names the best local per seed when it varies). */
export interface ComparisonSummary extends Pick<
  ComparisonResult,
  'question' | 'a' | 'b' | 'scope' | 'diff' | 'ci95' | 'p' | 'source'
> {
  sd: number | null;
  per_seed: {
    seed: number;
    b: string;
    diff: number | null;
    ci95: [number, number] | null;
    p: number | null;
  }[];
}

export interface CompareReport {
  configuration: Record<string, unknown>;
  seeds: number[];
  versions: Record<string, string>;
  wall_s: number;
  arms: ArmSummary[];
  comparisons: ComparisonSummary[];
  per_seed: SeedResult[];
}

const Z95 = qnorm(0.975);

/**
 * Across seeds: each figure is the mean of the seeds' figures with their SD; its 95 % CI is the
 * mean of the seeds' CI ends, i.e. mean ± 1.96 × mean SE. The seeds' estimates share the test
 * patients, so they are positively correlated and the SE of their mean is at most the mean SE
 * (Cauchy–Schwarz): the interval is conservative, never narrower than one seed's would be.
 */
export function summariseSeeds(perSeed: readonly SeedResult[]): {
  arms: ArmSummary[];
  comparisons: ComparisonSummary[];
} {
  const first = perSeed[0];
  const arms = first.arms.map((arm, i): ArmSummary => {
    const runs = perSeed.map((s) => s.arms[i]);
    return {
      arm: arm.arm,
      ssl: arm.ssl,
      sites: arm.sites.map((site, k) => {
        const rows = runs.map((r) => r.sites[k]);
        return {
          site: site.site,
          external: site.external,
          n: site.n,
          ...meanWithCi(
            rows.map((r) => r.auc),
            rows.map((r) => r.ci95),
          ),
          at_threshold: thresholdSummary(rows.map((r) => r.at_threshold)),
        };
      }),
      ...pooledFields(
        meanWithCi(
          runs.map((r) => r.pooled_auc),
          runs.map((r) => r.pooled_ci95),
        ),
      ),
      pooled_at_threshold: ratesSummary(runs.map((r) => r.pooled_at_threshold)),
      training_prevalence: arm.training_prevalence,
    };
  });
  const comparisons = first.comparisons.map((c, i): ComparisonSummary => {
    const runs = perSeed.map((s) => s.comparisons[i]);
    const bs = new Set(runs.map((r) => r.b));
    const m = meanWithCi(
      runs.map((r) => r.diff),
      runs.map((r) => r.ci95),
    );
    const se = m.ci95 ? (m.ci95[1] - m.ci95[0]) / (2 * Z95) : null;
    return {
      question: c.question,
      a: c.a,
      b: bs.size === 1 ? c.b : 'best local (differs by seed)',
      scope: c.scope,
      diff: m.auc,
      ci95: m.ci95,
      p: m.auc === null || !se ? null : twoSidedNormalP(m.auc / se),
      sd: m.sd,
      ...(c.source ? { source: c.source } : {}),
      per_seed: runs.map((r, k) => ({ seed: perSeed[k].seed, b: r.b, diff: r.diff, ci95: r.ci95, p: r.p })),
    };
  });
  return { arms, comparisons };
}

function meanWithCi(
  values: readonly (number | null)[],
  cis: readonly ([number, number] | null)[],
): { auc: number | null; ci95: [number, number] | null; sd: number | null; per_seed: (number | null)[] } {
  const per_seed = [...values];
  if (values.some((v) => v === null) || cis.some((c) => c === null))
    return { auc: null, ci95: null, sd: null, per_seed };
  const xs = values as number[];
  const mean = average(xs);
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  const ends = cis as [number, number][];
  return { auc: mean, ci95: [average(ends.map((c) => c[0])), average(ends.map((c) => c[1]))], sd, per_seed };
}

/** Mean ± SD over the seeds that have a value (PPV is undefined when nobody is called positive). */
export function meanSd(values: readonly (number | null)[]): MeanSd {
  const xs = values.filter((v): v is number => v !== null);
  if (xs.length === 0) return { mean: null, sd: null, per_seed: [...values] };
  const mean = average(xs);
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd, per_seed: [...values] };
}

function ratesSummary(
  rows: readonly (Pick<AtThreshold, Rate> | PooledAtThreshold | null)[],
): RatesSummary | null {
  if (rows.every((r) => r === null)) return null;
  return Object.fromEntries(RATES.map((k) => [k, meanSd(rows.map((r) => r?.[k] ?? null))])) as RatesSummary;
}

function thresholdSummary(rows: readonly (AtThreshold | null)[]): ThresholdSummary | null {
  const first = rows.find((r): r is AtThreshold => r !== null);
  if (!first) return null;
  const notes = [...new Set(rows.flatMap((r) => (r?.note ? [r.note] : [])))];
  return {
    source: first.source,
    from: first.from,
    threshold: meanSd(rows.map((r) => r?.threshold ?? null)),
    threshold_probability: meanSd(rows.map((r) => r?.threshold_probability ?? null)),
    ...ratesSummary(rows)!,
    ...(notes.length ? { notes } : {}),
  };
}

function pooledFields(
  m: ReturnType<typeof meanWithCi>,
): Pick<ArmSummary, 'pooled_auc' | 'pooled_ci95' | 'pooled_sd' | 'pooled_per_seed'> {
  return { pooled_auc: m.auc, pooled_ci95: m.ci95, pooled_sd: m.sd, pooled_per_seed: m.per_seed };
}

function average(xs: readonly number[]): number {
  return xs.reduce((a, x) => a + x, 0) / xs.length;
}

/** `--json`'s last line: the documented shape (docs/MODEL.md), figures rounded to 4 decimals. */
export function compareJsonLine(report: CompareReport): Record<string, unknown> {
  return {
    arms: report.arms.map((a) => ({
      arm: a.arm,
      ssl: a.ssl,
      sites: a.sites.map((s) => ({
        site: s.site,
        external: s.external,
        auc: r4(s.auc),
        ci95: r4(s.ci95),
        n: s.n,
        at_threshold: s.at_threshold
          ? {
              source: s.at_threshold.source,
              threshold: r4(s.at_threshold.threshold.mean),
              ...Object.fromEntries(RATES.map((k) => [k, r4(s.at_threshold![k].mean)])),
            }
          : null,
      })),
      pooled_auc: r4(a.pooled_auc),
      pooled_ci95: r4(a.pooled_ci95),
      pooled_at_threshold: a.pooled_at_threshold
        ? Object.fromEntries(RATES.map((k) => [k, r4(a.pooled_at_threshold![k].mean)]))
        : null,
    })),
    comparisons: report.comparisons.map((c) => ({
      question: c.question,
      scope: c.scope,
      a: c.a,
      b: c.b,
      diff: r4(c.diff),
      ci95: r4(c.ci95),
      p: r4(c.p),
      ...(c.source ? { source: c.source } : {}),
    })),
    seeds: report.seeds,
    wall_s: report.wall_s,
  };
}

function r4<T extends number | [number, number] | null>(x: T): T {
  if (x === null) return x;
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return (Array.isArray(x) ? x.map(round) : round(x as number)) as T;
}

const f3 = (x: number | null) => (x === null ? '–' : x.toFixed(3));
const ci3 = (c: [number, number] | null) => (c === null ? '' : ` (${c[0].toFixed(3)}–${c[1].toFixed(3)})`);
const pOf = (p: number | null) => (p === null ? '–' : p < 0.001 ? '< 0.001' : p.toFixed(3));
const sdOf = (sd: number | null, seeds: number) => (seeds > 1 && sd !== null ? ` ± ${sd.toFixed(3)}` : '');

const msd = (m: MeanSd, seeds: number) =>
  m.mean === null ? '–' : `${m.mean.toFixed(3)}${sdOf(m.sd, seeds)}`;

/** How the pooled AUC is computed (stated in report.md and report.html). */
const POOLED_AUC_METHOD =
  'Pooled AUC: the internal test sites’ per-class score histograms (1000 bins) summed, DeLong variance ' +
  'on the summed histogram, CI widened by the binning bound (libs/metrics `pooledAucWithCi`); site AUCs: ' +
  'exact, DeLong 95 % CI.';

/** How the operating point is fixed and what the scores are (stated in report.md and report.html). */
const THRESHOLD_METHOD =
  'Each arm is classified at a cut-off fixed before its test scores are seen (positive when score ≥ ' +
  'cut-off): at a site that trained the arm, Youden’s J on that site’s validation split ("validation"); ' +
  'elsewhere — external cohorts, and other hospitals for a local-only arm — the cut-off travels with ' +
  'the model ("transferred"): its one training site’s validation cut-off, or Youden on its training ' +
  'sites’ validation histograms summed. Scores are balanced (class-balanced loss: a 50 % prior), not ' +
  'risks; "as risk" is the cut-off recalibrated to the arm’s training prevalence π by Bayes’ rule on ' +
  'the odds (`shiftPrior`), which leaves every ranking, AUC and rate unchanged. "internal, pooled": the ' +
  'internal sites’ 2×2 counts (each at its own cut-off) summed.';

/** One row per arm × site (and the arm's pooled internal row): cut-off and the rates at it. */
function thresholdRows(report: CompareReport): string[][] {
  const n = report.seeds.length;
  const rows: string[][] = [];
  for (const a of report.arms) {
    const name = `${a.arm}${a.ssl ? ' + SSL' : ''}`;
    for (const s of a.sites) {
      const t = s.at_threshold;
      const site = `${s.site}${s.external ? ' (ext)' : ''}`;
      if (!t) continue;
      const cut =
        t.threshold.mean === null
          ? `none${t.notes?.length ? ` (${t.notes.join('; ')})` : ''}`
          : `${msd(t.threshold, n)} (${t.source}: ${t.from.join(', ')})` +
            (t.threshold_probability.mean === null
              ? ''
              : `; as risk ${t.threshold_probability.mean.toFixed(3)}`);
      rows.push([name, site, cut, ...RATES.map((k) => msd(t[k], n))]);
    }
    if (a.pooled_at_threshold)
      rows.push([
        name,
        'internal, pooled',
        a.training_prevalence === null ? '' : `π = ${a.training_prevalence.toFixed(3)}`,
        ...RATES.map((k) => msd(a.pooled_at_threshold![k], n)),
      ]);
  }
  return rows;
}

const THRESHOLD_HEADER = [
  'arm',
  'site',
  'cut-off (source)',
  'sensitivity',
  'specificity',
  'PPV',
  'NPV',
  'accuracy',
];

/** The report as Markdown tables: pooled AUC per arm, per-site AUC, paired differences, per-seed figures. */
export function compareMarkdown(report: CompareReport): string {
  const n = report.seeds.length;
  const siteNames = report.arms[0]?.sites.map((s) => `${s.site}${s.external ? ' (ext)' : ''}`) ?? [];
  const lines = [
    '# phcc-fed compare',
    '',
    `Seeds ${report.seeds.join(', ')}; wall ${report.wall_s} s. ` +
      (n > 1 ? 'Figures are means over seeds ± SD; CIs are the mean of the seeds’ CI ends.' : ''),
    '',
    '## AUC per arm',
    '',
    `| arm | pooled AUC (95 % CI) | ${siteNames.join(' | ')} |`,
    `|---|---|${siteNames.map(() => '---').join('|')}|`,
    ...report.arms.map(
      (a) =>
        `| ${a.arm}${a.ssl ? ' + SSL' : ''} | ${f3(a.pooled_auc)}${sdOf(a.pooled_sd, n)}${ci3(a.pooled_ci95)} | ` +
        a.sites.map((s) => `${f3(s.auc)}${ci3(s.ci95)} n=${s.n}`).join(' | ') +
        ' |',
    ),
    '',
    POOLED_AUC_METHOD,
    '',
    '## At a fixed cut-off (chosen on validation, or transferred)',
    '',
    `| ${THRESHOLD_HEADER.join(' | ')} |`,
    `|${THRESHOLD_HEADER.map(() => '---').join('|')}|`,
    ...thresholdRows(report).map((r) => `| ${r.join(' | ')} |`),
    '',
    THRESHOLD_METHOD,
    '',
    '## Paired differences',
    '',
    '| question | scope | a − b | diff (95 % CI) | p |',
    '|---|---|---|---|---|',
    ...report.comparisons.map(
      (c) =>
        `| ${c.question} | ${c.scope} | ${c.a} − ${c.b} | ${f3(c.diff)}${sdOf(c.sd, n)}${ci3(c.ci95)} | ${pOf(c.p)} |`,
    ),
    '',
    'Each site scores both models on the same patients and returns only the two AUCs, their DeLong',
    'variances and covariance; sites are combined by inverse variance (fixed effect).',
    ...(report.comparisons.some((c) => c.source === 'paired-round')
      ? [
          'The federated − central rows on the internal sites come from the federated run itself: its',
          'paired evaluation round (protocol 1.3), in which the sites scored both models, as in a real',
          'federation.',
        ]
      : []),
    '',
  ];
  if (n > 1) {
    lines.push('## Per seed', '', `| arm | ${report.seeds.map((s) => `seed ${s}`).join(' | ')} |`);
    lines.push(`|---|${report.seeds.map(() => '---').join('|')}|`);
    for (const a of report.arms)
      lines.push(`| ${a.arm}${a.ssl ? ' + SSL' : ''} | ${a.pooled_per_seed.map(f3).join(' | ')} |`);
    for (const a of report.arms) {
      for (const k of ['sensitivity', 'specificity'] as const) {
        const m = a.pooled_at_threshold?.[k];
        if (m) lines.push(`| ${a.arm}${a.ssl ? ' + SSL' : ''} ${k} | ${m.per_seed.map(f3).join(' | ')} |`);
      }
    }
    for (const c of report.comparisons)
      lines.push(`| ${c.a} − ${c.b} (${c.scope}) | ${c.per_seed.map((s) => f3(s.diff)).join(' | ')} |`);
    lines.push('');
  }
  lines.push('## Configuration', '', '```json', JSON.stringify(report.configuration, null, 2), '```', '');
  lines.push('## Versions', '', ...Object.entries(report.versions).map(([k, v]) => `- ${k}: ${v}`), '');
  return lines.join('\n');
}

/** ROC points (FPR, TPR) of a histogram, sweeping the cut-off down bin by bin. */
export function rocPointsOfHistogram(h: ScoreHistogram): [number, number][] {
  const p = h.pos.reduce((a, x) => a + x, 0);
  const q = h.neg.reduce((a, x) => a + x, 0);
  const points: [number, number][] = [[0, 0]];
  if (p === 0 || q === 0) return points;
  let tp = 0;
  let fp = 0;
  for (let b = h.bins - 1; b >= 0; b--) {
    if (h.pos[b] === 0 && h.neg[b] === 0) continue;
    tp += h.pos[b];
    fp += h.neg[b];
    points.push([fp / q, tp / p]);
  }
  return points;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

/** Inline SVG: one ROC curve per arm from its internal test histograms summed over seeds. */
export function rocSvg(report: CompareReport): string {
  const size = 320;
  const pad = 36;
  const w = size - 2 * pad;
  const xy = ([x, y]: [number, number]) => `${(pad + x * w).toFixed(1)},${(pad + (1 - y) * w).toFixed(1)}`;
  const curves = report.arms.map((arm, i) => {
    const hs = report.per_seed
      .map((s) => s.arms.find((a) => a.arm === arm.arm && a.ssl === arm.ssl)?.histogram)
      .filter((h): h is ScoreHistogram => !!h);
    const points = hs.length ? rocPointsOfHistogram(sumHistograms(hs).summed) : [];
    return { label: `${arm.arm}${arm.ssl ? '+ssl' : ''}`, colour: COLOURS[i % COLOURS.length], points };
  });
  const legend = curves
    .map(
      (c, i) =>
        `<text x="${size + 8}" y="${pad + 14 * i + 10}" fill="${c.colour}" font-size="11">${escapeHtml(c.label)}</text>`,
    )
    .join('');
  const lines = curves
    .map(
      (c) =>
        `<polyline fill="none" stroke="${c.colour}" stroke-width="1.5" points="${c.points.map(xy).join(' ')}"/>`,
    )
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size + 200}" height="${size}" role="img" aria-label="ROC curves">` +
    `<rect x="${pad}" y="${pad}" width="${w}" height="${w}" fill="none" stroke="#999"/>` +
    `<line x1="${pad}" y1="${pad + w}" x2="${pad + w}" y2="${pad}" stroke="#ccc" stroke-dasharray="4"/>` +
    `<text x="${pad + w / 2}" y="${size - 6}" font-size="11" text-anchor="middle">1 − specificity</text>` +
    `<text x="10" y="${pad + w / 2}" font-size="11" transform="rotate(-90 10 ${pad + w / 2})" text-anchor="middle">sensitivity</text>` +
    lines +
    legend +
    '</svg>'
  );
}

/** A self-contained HTML page (no scripts, styles inline, no network): the Markdown's tables and the ROC SVG. */
export function compareHtml(report: CompareReport): string {
  const n = report.seeds.length;
  const row = (cells: string[], tag = 'td') =>
    `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
  const siteNames = report.arms[0]?.sites.map((s) => `${s.site}${s.external ? ' (ext)' : ''}`) ?? [];
  const arms = report.arms.map((a) =>
    row([
      escapeHtml(`${a.arm}${a.ssl ? ' + SSL' : ''}`),
      `${f3(a.pooled_auc)}${sdOf(a.pooled_sd, n)}${ci3(a.pooled_ci95)}`,
      ...a.sites.map((s) => `${f3(s.auc)}${ci3(s.ci95)} n=${s.n}`),
      a.pooled_per_seed.map(f3).join(', '),
    ]),
  );
  const comparisons = report.comparisons.map((c) =>
    row([
      escapeHtml(c.question),
      c.scope,
      escapeHtml(`${c.a} − ${c.b}`),
      `${f3(c.diff)}${sdOf(c.sd, n)}${ci3(c.ci95)}`,
      pOf(c.p),
      c.per_seed.map((s) => f3(s.diff)).join(', '),
    ]),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>phcc-fed compare</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}</style>
</head><body>
<h1>phcc-fed compare</h1>
<p>Seeds ${report.seeds.join(', ')}; wall ${report.wall_s} s.${n > 1 ? ' Figures are means over seeds ± SD; CIs are the mean of the seeds’ CI ends.' : ''}</p>
<h2>AUC per arm</h2>
<table>${row(['arm', 'pooled AUC (95 % CI)', ...siteNames.map(escapeHtml), 'pooled AUC per seed'], 'th')}${arms.join('')}</table>
<p>${escapeHtml(POOLED_AUC_METHOD)}</p>
<h2>At a fixed cut-off (chosen on validation, or transferred)</h2>
<table>${row(THRESHOLD_HEADER, 'th')}${thresholdRows(report)
    .map((r) => row(r.map(escapeHtml)))
    .join('')}</table>
<p>${escapeHtml(THRESHOLD_METHOD)}</p>
<h2>ROC curves (internal test sites pooled${n > 1 ? ', all seeds' : ''})</h2>
${rocSvg(report)}
<h2>Paired differences</h2>
<table>${row(['question', 'scope', 'a − b', 'diff (95 % CI)', 'p', 'per seed'], 'th')}${comparisons.join('')}</table>
<p>Each site scores both models on the same patients and returns only the two AUCs, their DeLong variances and covariance; sites are combined by inverse variance (fixed effect).</p>
<h2>Configuration</h2>
<pre>${escapeHtml(JSON.stringify(report.configuration, null, 2))}</pre>
<h2>Versions</h2>
<pre>${escapeHtml(JSON.stringify(report.versions, null, 2))}</pre>
</body></html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

import type { PairedComparisonView } from '../../../coordinator/src/evaluation/paired-results';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isLocalOnlyTraining, isTokenCentring } from '../../../../libs/federated/src';
import type { RunResultsView, RunView } from './admin-client';

export interface SiteResult {
  site: string;
  auc: number | null;
  /** [low, high], or null when the site's evaluation carried no interval. */
  ci95: [number, number] | null;
  n: number;
  nPositive: number;
  /** Everything this site's agent sent (signed bodies + payload chunks), from its message log. */
  bytesSent: number;
}

export interface DemoReport {
  runId: string;
  state: string;
  reason?: string;
  pooled_auc: number | null;
  mean_site_auc: number | null;
  rounds: number;
  sites: SiteResult[];
  wall_s: number;
  /** SHA-512 of the final global model (its blob name): equal digests, bit-identical models. */
  final_model_digest?: string;
  /**
   * Upper bound on |exact pooled AUC − pooled_auc| from the histograms' binning (k-anonymous bins
   * under private evaluation are wide, so this is what the pooled figure is worth).
   */
  pooled_auc_error_bound: number | null;
  /** The plan's privacy: ε spent at δ (null without DP), k of the released histograms. Null without a privacy section. */
  privacy: {
    epsilon: number | null;
    delta: number | null;
    noise_multiplier: number | null;
    noise: string | null;
    min_bin_count: number;
    secure_aggregation: boolean;
  } | null;
  /** Cross-site AUC, `[modelSite][evalSite]` (each site's local model at every site), if evaluated. */
  cross_site_auc: Record<string, Record<string, number | null>> | null;
  /**
   * The paired evaluation (the plan's `evaluation.compareWith`): the final global against each
   * named model, sites combined by fixed effect, as `GET /runs/{id}/results` gives it. Absent when
   * the plan compares nothing.
   */
  paired?: PairedComparisonView[];
  /** Set when the matrix's rows are local-only models (plan `evaluation.crossSiteModels`). */
  cross_site_models?: 'local-only';
}

/**
 * Bytes a site put on the wire, summed from its outgoing-message log (docs: message-log.ts):
 * each frame's signed body as JSON plus every payload chunk's size. Acks are answers, not sends.
 */
export function bytesSentFromLog(file: string): number {
  if (!existsSync(file)) return 0;
  let total = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as { ack?: unknown; body?: unknown; chunkBytes?: number };
    if (entry.ack !== undefined) continue;
    if (entry.body !== undefined) total += Buffer.byteLength(JSON.stringify(entry.body));
    total += entry.chunkBytes ?? 0;
  }
  return total;
}

/** The demo's report from the coordinator's own records: global-model evaluations and metrics. */
export function buildReport(
  run: RunView,
  results: RunResultsView,
  siteIds: readonly string[],
  messageLogOf: (siteId: string) => string,
  wallSeconds: number,
): DemoReport {
  const metric = (name: string) => {
    const found = results.metrics.filter((m) => m.name === name && m.siteId === undefined);
    return found.length ? found[found.length - 1].value : null;
  };
  const sites = siteIds.map((site): SiteResult => {
    const evals = results.evaluations.filter((e) => e.siteId === site && e.modelOf === 'global');
    const last = evals[evals.length - 1];
    const ci =
      last?.aucLow !== undefined &&
      last?.aucHigh !== undefined &&
      last.aucLow !== null &&
      last.aucHigh !== null
        ? ([last.aucLow, last.aucHigh] as [number, number])
        : null;
    return {
      site,
      auc: last?.auc ?? null,
      ci95: ci,
      n: last?.n ?? 0,
      nPositive: last?.nPositive ?? 0,
      bytesSent: bytesSentFromLog(messageLogOf(site)),
    };
  });
  // Rows in start order; the token-centring round moves no trained weight, so it is not counted,
  // nor is the local-only round (it trains the cross-site matrix's models, never the global).
  const training = run.rounds.filter(
    (r) => r.stage !== 'evaluate' && !isTokenCentring(r) && !isLocalOnlyTraining(r) && r.state === 'done',
  );
  const crossSite: Record<string, Record<string, number | null>> = {};
  for (const e of results.evaluations) {
    if (e.modelOf !== 'global') (crossSite[e.modelOf] ??= {})[e.siteId] = e.auc ?? null;
  }
  return {
    runId: run.id,
    state: run.state,
    reason: run.reason,
    pooled_auc: metric('eval/pooled_auc'),
    pooled_auc_error_bound: metric('eval/pooled_auc_max_binning_error'),
    mean_site_auc: metric('eval/mean_site_auc'),
    rounds: training.length,
    sites,
    wall_s: Math.round(wallSeconds * 10) / 10,
    final_model_digest: training.length ? training[training.length - 1].outputDigest : undefined,
    cross_site_auc: Object.keys(crossSite).length ? crossSite : null,
    ...(run.plan.evaluation?.crossSiteModels === 'local-only'
      ? { cross_site_models: 'local-only' as const }
      : {}),
    privacy: results.privacy
      ? {
          epsilon: results.privacy.epsilon,
          delta: results.privacy.delta,
          noise_multiplier: results.privacy.dp?.noiseMultiplier ?? null,
          noise: results.privacy.dp?.noise ?? null,
          min_bin_count: results.privacy.minBinCount,
          secure_aggregation: results.privacy.secureAggregation,
        }
      : null,
    ...(results.paired?.length ? { paired: results.paired } : {}),
  };
}

/** One line saying what the run's privacy settings bounded, for stdout and report.md. */
export function privacyLine(report: DemoReport): string | null {
  const p = report.privacy;
  if (!p) return null;
  const dp =
    p.epsilon === null
      ? 'no differential privacy'
      : `differential privacy (ε, δ) = (${p.epsilon.toFixed(2)}, ${p.delta}) spent (RDP accountant, noise multiplier ${p.noise_multiplier?.toFixed(3) ?? 'n/a'}, ${p.noise} noise)`;
  const bound = report.pooled_auc_error_bound;
  return (
    `privacy: ${dp}; evaluation histograms k-anonymous (k = ${p.min_bin_count})` +
    (bound !== null ? `, pooled AUC within ±${bound.toFixed(3)} of the exact one` : '') +
    `; secure aggregation ${p.secure_aggregation ? 'on' : 'off'}`
  );
}

const fmt = (x: number | null, digits = 3) => (x === null ? 'n/a' : x.toFixed(digits));

/** Human-readable table lines (stdout and report.md share them). */
export function reportTable(report: DemoReport): string[] {
  const lines = [
    '| site | AUC | 95 % CI | n (pos) | bytes sent |',
    '| --- | ---: | --- | ---: | ---: |',
    ...report.sites.map(
      (s) =>
        `| ${s.site} | ${fmt(s.auc)} | ${s.ci95 ? `${fmt(s.ci95[0])}–${fmt(s.ci95[1])}` : 'n/a'} | ${s.n} (${s.nPositive}) | ${s.bytesSent.toLocaleString('en-US')} |`,
    ),
  ];
  return lines;
}

/** The cross-site matrix as a markdown table (rows: whose model; columns: where evaluated). */
function crossSiteLines(report: DemoReport): string[] {
  const matrix = report.cross_site_auc;
  if (!matrix) return [];
  const sites = report.sites.map((s) => s.site);
  return [
    report.cross_site_models === 'local-only'
      ? "Cross-site AUC (each site's local-only model — trained on that site's data alone — row, at each site's test split, column):"
      : "Cross-site AUC (each site's local fine-tuned model, row, at each site's test split, column):",
    '',
    `| model of | ${sites.join(' | ')} |`,
    `| --- | ${sites.map(() => '---:').join(' | ')} |`,
    ...Object.keys(matrix)
      .sort()
      .map((owner) => `| ${owner} | ${sites.map((at) => fmt(matrix[owner][at] ?? null)).join(' | ')} |`),
    '',
  ];
}

export function reportMarkdown(report: DemoReport): string {
  return [
    `# phcc-fed demo — run ${report.runId}`,
    '',
    `State: **${report.state}**${report.reason ? ` (${report.reason})` : ''}. Training rounds: ${report.rounds}. Wall time: ${report.wall_s} s.`,
    '',
    `Pooled AUC (global model, all sites' test splits): **${fmt(report.pooled_auc)}**; mean site AUC: ${fmt(report.mean_site_auc)}.`,
    '',
    ...(privacyLine(report) ? [`${privacyLine(report)}.`, ''] : []),
    ...reportTable(report),
    '',
    ...crossSiteLines(report),
    report.final_model_digest
      ? `Final global model: \`${report.final_model_digest}\``
      : 'No final global model.',
    '',
    'Synthetic data: these figures show that the federation works end to end, not clinical performance.',
    '',
  ].join('\n');
}

/**
 * Writes report.json and report.md into the run directory and prints the table, the summary line,
 * the final model's digest and (with `json`) the report as the last stdout line: what `demo` and
 * `simulate` both end with, so their outputs compare line by line.
 */
export function writeAndPrintReport(
  report: DemoReport,
  runDir: string,
  json: boolean,
  out: (line: string) => void,
): void {
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(runDir, 'report.md'), reportMarkdown(report));
  out('');
  for (const line of reportTable(report)) out(line);
  out(
    `pooled AUC ${report.pooled_auc === null ? 'n/a' : report.pooled_auc.toFixed(3)}; ` +
      `${report.rounds} training round(s); run ${report.state}; wall ${report.wall_s} s`,
  );
  out(`final model ${report.final_model_digest ?? 'none'}`);
  const privacy = privacyLine(report);
  if (privacy) out(privacy);
  for (const line of pairedLines(report)) out(line);
  out(`report: ${join(runDir, 'report.md')}`);
  if (json) out(JSON.stringify(report));
}

/** One line per paired comparison: the difference, its CI and p, and the sites' heterogeneity. */
export function pairedLines(report: Pick<DemoReport, 'paired'>): string[] {
  const f = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(3);
  return (report.paired ?? []).map((c) => {
    const d = c.difference;
    const q = c.heterogeneity;
    return (
      `paired: final − ${c.modelB.slice(0, 16)}…: ΔAUC ${f(d.estimate)} (95 % CI ${f(d.ci95[0])} to ${f(d.ci95[1])}), ` +
      `p = ${d.p.toPrecision(3)}; AUC ${c.aucA.estimate.toFixed(3)} vs ${c.aucB.estimate.toFixed(3)}; ` +
      `${c.sites.length} site(s), Q = ${q.q.toFixed(2)} (df ${q.df}), I² = ${(100 * q.i2).toFixed(0)} %`
    );
  });
}

import {
  EvaluationRow,
  Histogram,
  MetricLive,
  PairedComparison,
  RoundLive,
  RunPlan,
  TaskLive,
  UpdateLive,
} from './types';

/** What the timeline needs of an evaluation: which round produced it, and whose model it scored. */
export type EvaluationRef = Pick<EvaluationRow, 'stage' | 'round' | 'modelOf'>;

/** Stage order of a run: SSL, fine-tune, then evaluation rounds. */
const STAGE_ORDER: Record<string, number> = { ssl: 0, finetune: 1, evaluate: 2 };

export interface TimelineRow {
  key: string;
  stage: string;
  round: number;
  /** `ssl 1`, `fine-tune 2`, `final evaluation`, `cross-site evaluation`… */
  label: string;
  state: RoundLive['state'];
  startedAt: string;
  durationMs: number | null;
  quorum: number;
  accepted: number;
  answered: string[];
  waiting: string[];
  refused: { siteId: string; reason: string }[];
  bytesUp: number;
  bytesDown: number;
  reason?: string;
}

/**
 * The round timeline from the live entities: one row per round with how long it took, which
 * sites answered, which updates were refused (with the reason code the coordinator recorded) and
 * the bytes moved (updates up; the round's starting model down to each site it was sent to).
 */
export function timeline(
  plan: RunPlan,
  rounds: RoundLive[],
  tasks: TaskLive[],
  updates: UpdateLive[],
  evaluations: EvaluationRef[] = [],
  now = Date.now(),
): TimelineRow[] {
  // A cross-site round scores one site's local model; its evaluations say whose.
  const modelOf = new Map(
    evaluations
      .filter((e) => e.stage === 'evaluate' && e.modelOf !== 'global')
      .map((e) => [e.round, e.modelOf]),
  );
  const sorted = [...rounds].sort(
    // The token-centring round opens the fine-tune stage whatever its (reserved) number.
    (a, b) =>
      (STAGE_ORDER[a.stage] ?? 9) - (STAGE_ORDER[b.stage] ?? 9) ||
      (a.tokenCentring ? -1 : a.round) - (b.tokenCentring ? -1 : b.round),
  );
  return sorted.map((round) => {
    const mine = <T extends { stage: string; round: number }>(xs: T[]) =>
      xs.filter((x) => x.stage === round.stage && x.round === round.round);
    const roundTasks = mine(tasks);
    const roundUpdates = mine(updates);
    const end = round.endedAt
      ? Date.parse(round.endedAt)
      : round.state === 'done' || round.state === 'failed'
        ? null
        : now;
    const delivered = roundTasks.filter((t) => t.state !== 'pending').length;
    return {
      key: `${round.stage}/${round.round}`,
      stage: round.stage,
      round: round.round,
      label: roundLabel(round, modelOf.get(round.round), plan.evaluation?.compareWith?.length),
      state: round.state,
      startedAt: round.startedAt,
      durationMs: end === null ? null : end - Date.parse(round.startedAt),
      quorum: plan.quorum.minSites,
      accepted: roundUpdates.filter((u) => u.status !== 'rejected').length,
      answered: roundTasks
        .filter((t) => t.state === 'received')
        .map((t) => t.siteId)
        .sort(),
      waiting: roundTasks
        .filter((t) => t.state === 'sent' || t.state === 'pending')
        .map((t) => t.siteId)
        .sort(),
      refused: roundUpdates
        .filter((u) => u.status === 'rejected')
        .map((u) => ({ siteId: u.siteId, reason: u.rejectReason ?? 'rejected' })),
      bytesUp: roundUpdates.reduce((sum, u) => sum + u.bytes, 0),
      bytesDown: (round.inputBytes ?? 0) * delivered,
      reason: round.reason,
    };
  });
}

/** Training rounds are numbered from 0 in the store; people count from 1. */
export function roundLabel(
  round: Pick<RoundLive, 'stage' | 'round' | 'evaluationKind' | 'tokenCentring' | 'localOnly'>,
  modelOf?: string,
  compared?: number,
): string {
  if (round.evaluationKind === 'cross-site' && modelOf) return `cross-site evaluation of ${modelOf}'s model`;
  if (round.evaluationKind === 'paired')
    return compared
      ? `paired evaluation: final global vs ${compared} compared model${compared === 1 ? '' : 's'}`
      : 'paired evaluation';
  if (round.tokenCentring) return 'token centring';
  if (round.localOnly) return 'local-only training';
  if (round.stage !== 'evaluate')
    return `${round.stage === 'finetune' ? 'fine-tune' : round.stage.toUpperCase()} ${round.round + 1}`;
  if (round.evaluationKind === 'periodic') return `evaluation after fine-tune ${round.round}`;
  return `${round.evaluationKind ?? ''} evaluation`.trim();
}

export interface LossSeries {
  /** Round labels on the x axis (`ssl 1`, `finetune 2`). */
  labels: string[];
  /** `global` (the sample-weighted mean the coordinator records) and one series per site that reported. */
  series: Record<string, (number | null)[]>;
}

/** Training loss per training round: the run-wide `train/loss` and each site's where recorded. */
export function lossSeries(metrics: MetricLive[]): LossSeries {
  const training = metrics.filter(
    (m) => m.name === 'train/loss' && (m.stage === 'ssl' || m.stage === 'finetune'),
  );
  const order = (m: MetricLive) => (STAGE_ORDER[m.stage!] ?? 9) * 100_000 + (m.round ?? 0);
  const steps = [...new Map(training.sort((a, b) => order(a) - order(b)).map((m) => [order(m), m])).values()];
  const keys = steps.map(order);
  const series: Record<string, (number | null)[]> = {};
  for (const m of training) {
    const name = m.siteId ?? 'global';
    (series[name] ??= keys.map(() => null))[keys.indexOf(order(m))] = m.value;
  }
  return { labels: steps.map((m) => roundLabel({ stage: m.stage!, round: m.round ?? 0 })), series };
}

/** ROC points (false-positive rate, true-positive rate) from a binned score histogram. */
export function rocFromHistogram(h: Histogram): { fpr: number[]; tpr: number[] } {
  const p = h.positive.reduce((s, x) => s + x, 0);
  const n = h.negative.reduce((s, x) => s + x, 0);
  const fpr = [0];
  const tpr = [0];
  let tp = 0;
  let fp = 0;
  // Thresholds from the highest bin down: everything at or above the bin is called positive.
  for (let bin = h.bins - 1; bin >= 0; bin--) {
    tp += h.positive[bin];
    fp += h.negative[bin];
    fpr.push(n ? fp / n : 0);
    tpr.push(p ? tp / p : 0);
  }
  return { fpr, tpr };
}

/** The sites' histograms summed bin by bin: the pooled ROC (all bins must agree). */
export function pooledHistogram(histograms: Histogram[]): Histogram | null {
  if (!histograms.length || histograms.some((h) => h.bins !== histograms[0].bins)) return null;
  // k-anonymous bins are merged per site: summing them bin by bin needs the same edges everywhere.
  const edges = (h: Histogram) => (h.edges ?? []).join(',');
  if (histograms.some((h) => edges(h) !== edges(histograms[0]))) return null;
  const bins = histograms[0].bins;
  const sum = (pick: (h: Histogram) => number[]) =>
    Array.from({ length: bins }, (_v, i) => histograms.reduce((s, h) => s + pick(h)[i], 0));
  return { bins, positive: sum((h) => h.positive), negative: sum((h) => h.negative) };
}

/** The global model's final evaluation rows (round 0 of stage evaluate), one per site. */
export function finalGlobalRows(evaluations: EvaluationRow[]): EvaluationRow[] {
  return evaluations.filter((e) => e.modelOf === 'global' && (e.round ?? 0) === 0);
}

/** A model digest as people compare them: its first 12 hex characters. */
export function shortDigest(digest: string | null): string {
  return digest === null ? 'unknown' : `${digest.slice(0, 12)}…`;
}

export interface PairedSiteLine {
  site: string;
  aucA: string;
  aucB: string;
  /** `+0.012 (−0.030 to 0.054)` */
  difference: string;
  /** Share of the fixed-effect weight, `62 %`. */
  weight: string;
  patients: string;
}

/** One compared model's result as the run page shows it (GET /runs/{id}/results `paired[]`). */
export interface PairedPanel {
  key: string;
  /** `final global 1a2b3c4d5e6f… − 9f8e7d6c5b4a…` */
  title: string;
  modelA: string;
  modelB: string;
  /** AUC_A − AUC_B with its 95 % CI. */
  difference: string;
  p: string;
  /** `Q 1.23 (df 1, p 0.27) · I² 19 %`; `one site: no heterogeneity` with one site. */
  heterogeneity: string;
  aucA: string;
  aucB: string;
  patients: string;
  sites: PairedSiteLine[];
  leftOut: { site: string; aucs: string; reason: string }[];
}

/**
 * The paired comparisons, formatted: the difference (final global − compared model) combined by
 * fixed effect with its 95 % CI and p, the heterogeneity across sites, the per-site rows and the
 * sites left out with the coordinator's reason. The numbers are the coordinator's, unchanged.
 */
export function pairedPanels(paired: readonly PairedComparison[]): PairedPanel[] {
  return paired.map((c, i) => {
    const h = c.heterogeneity;
    return {
      key: `${i}/${c.modelB}`,
      title: `final global ${shortDigest(c.modelA)} − ${shortDigest(c.modelB)}`,
      modelA: c.modelA ?? 'unknown',
      modelB: c.modelB,
      difference: `${signed(c.difference.estimate)} (95 % CI ${signed(c.difference.ci95[0])} to ${signed(c.difference.ci95[1])})`,
      p: formatP(c.difference.p),
      heterogeneity:
        h.df < 1
          ? 'one site: no heterogeneity to estimate'
          : `Q ${h.q.toFixed(2)} (df ${h.df}${h.p === null ? '' : `, p ${formatP(h.p)}`}) · I² ${Math.round(h.i2 * 100)} %`,
      aucA: `${c.aucA.estimate.toFixed(3)} (${c.aucA.ci95[0].toFixed(3)}–${c.aucA.ci95[1].toFixed(3)})`,
      aucB: `${c.aucB.estimate.toFixed(3)} (${c.aucB.ci95[0].toFixed(3)}–${c.aucB.ci95[1].toFixed(3)})`,
      patients: `${c.nPositive + c.nNegative} (${c.nPositive} proliferative)`,
      sites: c.sites.map((s) => ({
        site: s.site,
        aucA: s.aucA.toFixed(3),
        aucB: s.aucB.toFixed(3),
        difference: `${signed(s.difference)} (${signed(s.ci95[0])} to ${signed(s.ci95[1])})`,
        weight: `${Math.round(s.weight * 100)} %`,
        patients: `${s.nPositive + s.nNegative} (${s.nPositive} proliferative)`,
      })),
      leftOut: c.leftOut.map((s) => ({
        site: s.site,
        aucs: `${s.aucA.toFixed(3)} vs ${s.aucB.toFixed(3)}`,
        reason: s.reason,
      })),
    };
  });
}

/** A difference with its sign (a minus sign, not a hyphen): `+0.012`, `−0.030`. */
function signed(x: number): string {
  const v = x.toFixed(3);
  return x > 0 ? `+${v}` : x < 0 ? `−${v.slice(1)}` : v;
}

/** A p-value as reports print it: three decimals, `< 0.001` below. */
export function formatP(p: number): string {
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatAuc(auc: number | null | undefined): string {
  return auc === null || auc === undefined ? 'n/a' : auc.toFixed(3);
}

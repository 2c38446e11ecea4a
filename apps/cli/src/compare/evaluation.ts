import {
  delongPairedCovariance,
  fixedEffect,
  PairedAucCovariance,
  pairedDifferenceAcrossSites,
  pairIsWeightable,
  pooledAucWithCi,
  rocSummary,
  scoreHistogram,
  ScoreHistogram,
  sumHistograms,
} from '../../../../libs/metrics/src';
import { armId, type PlannedComparison } from './arms';
import type { FederationPairing } from './train-arms';
import { atThreshold, AtThreshold, CutOff, pooledAtThreshold, PooledAtThreshold } from './cut-offs';

/** Equal-width bins of the histograms a site returns (libs/metrics' default; bounds the pooled AUC's binning error). */
export const COMPARE_HISTOGRAM_BINS = 1000;

/** One arm's aggregates at one site: what leaves the site, never a patient's score. */
export interface SiteArmAggregate {
  arm: string;
  /** null when the site lacks two cases and two controls (no DeLong AUC). */
  auc: number | null;
  ci95: [number, number] | null;
  /** DeLong variance of the AUC. */
  variance: number | null;
  n: number;
  nPos: number;
  nNeg: number;
  histogram: ScoreHistogram;
  /** The site's patients classified at the arm's fixed cut-off (cut-offs.ts); null when none was asked. */
  at_threshold: AtThreshold | null;
}

/** An arm's cut-off at a site and its training prevalence (for the cut-off as a probability). */
export interface ArmCutOffAt {
  cutOff: CutOff;
  trainingPrevalence: number | null;
}

/** Two arms scored on the same patients at one site: AUCs, variances, covariance, counts. */
export interface SitePairAggregate extends PairedAucCovariance {
  a: string;
  b: string;
}

export interface SiteAggregates {
  site: string;
  external: boolean;
  arms: SiteArmAggregate[];
  pairs: SitePairAggregate[];
}

/**
 * The site side of the comparison: every arm scored on this site's labelled patients (`scores`
 * by arm id, same patient order), reduced to aggregates — each AUC with its DeLong CI, per-class
 * score histograms (pooled AUC, ROC curves) and for each asked pair the DeLong covariance (the
 * same numbers `pairedTestAggregates` returns to a federated evaluation task), and with `cutOffs`
 * (by arm id) the 2×2 counts at each arm's fixed cut-off.
 */
export function siteAggregates(
  site: string,
  external: boolean,
  labels: readonly number[],
  scores: ReadonlyMap<string, ArrayLike<number>>,
  pairs: readonly (readonly [string, string])[],
  cutOffs: ReadonlyMap<string, ArmCutOffAt> = new Map(),
  bins = COMPARE_HISTOGRAM_BINS,
): SiteAggregates {
  const nPos = labels.filter((y) => y === 1).length;
  const nNeg = labels.length - nPos;
  const estimable = nPos >= 2 && nNeg >= 2;
  const arms = [...scores].map(([arm, s]): SiteArmAggregate => {
    const roc = estimable ? rocSummary(labels, s) : undefined;
    const cut = cutOffs.get(arm);
    return {
      arm,
      auc: roc ? roc.auc : null,
      ci95: roc ? [roc.ci[0], roc.ci[1]] : null,
      variance: roc ? roc.variance : null,
      n: labels.length,
      nPos,
      nNeg,
      histogram: scoreHistogram(labels, s, bins, site),
      at_threshold: cut ? atThreshold(cut.cutOff, labels, s, cut.trainingPrevalence) : null,
    };
  });
  const paired = estimable
    ? pairs.map(([a, b]) => ({ a, b, ...delongPairedCovariance(labels, scores.get(a)!, scores.get(b)!) }))
    : [];
  return { site, external, arms, pairs: paired };
}

/** One arm across sites, in the shape of `--json`'s `arms[]` (plus the site-stratified AUC). */
export interface ArmResult {
  arm: string;
  ssl: boolean;
  sites: {
    site: string;
    external: boolean;
    auc: number | null;
    ci95: [number, number] | null;
    n: number;
    at_threshold: AtThreshold | null;
  }[];
  /** AUC of the internal test sites' patients pooled (DeLong on the summed histograms). */
  pooled_auc: number | null;
  pooled_ci95: [number, number] | null;
  /** Fixed-effect (site-stratified) AUC over the internal test sites. */
  stratified_auc: number | null;
  stratified_ci95: [number, number] | null;
  /** Per-class counts of the pooled internal test scores: the arm's ROC curve. */
  histogram: ScoreHistogram | null;
  /** The internal test sites' 2×2 counts at their fixed cut-offs, summed. */
  pooled_at_threshold: PooledAtThreshold | null;
  /** Labelled share of the arm's fine-tuning patients (its scores are balanced: a 50 % prior). */
  training_prevalence: number | null;
}

/** Combines one arm's site aggregates: pooled AUC on internal sites, stratified AUC, per-site rows. */
export function armResult(
  arm: string,
  ssl: boolean,
  sites: readonly SiteAggregates[],
  trainingPrevalence: number | null = null,
): ArmResult {
  const id = armId(arm, ssl);
  const rows = sites.map((s) => ({ site: s, agg: s.arms.find((a) => a.arm === id)! }));
  const internal = rows.filter((r) => !r.site.external);
  const histograms = internal.map((r) => ({ ...r.agg.histogram, site: r.site.site }));
  const hasBoth = (h: ScoreHistogram) => sum(h.pos) > 0 && sum(h.neg) > 0;
  const summed = histograms.length ? sumHistograms(histograms).summed : null;
  const pooled = summed && hasBoth(summed) ? pooledAucWithCi(histograms) : null;
  const estimable = internal.filter((r) => r.agg.variance !== null && r.agg.variance > 0);
  const stratified = estimable.length
    ? fixedEffect(
        estimable.map((r) => ({ site: r.site.site, estimate: r.agg.auc!, variance: r.agg.variance! })),
      )
    : null;
  return {
    arm,
    ssl,
    sites: rows.map((r) => ({
      site: r.site.site,
      external: r.site.external,
      auc: r.agg.auc,
      ci95: r.agg.ci95,
      n: r.agg.n,
      at_threshold: r.agg.at_threshold,
    })),
    pooled_auc: pooled ? pooled.auc : null,
    pooled_ci95: pooled ? pooled.ci : null,
    stratified_auc: stratified ? stratified.estimate : null,
    stratified_ci95: stratified ? stratified.ci : null,
    histogram: summed,
    pooled_at_threshold: pooledAtThreshold(
      internal.flatMap((r) => (r.agg.at_threshold ? [r.agg.at_threshold] : [])),
    ),
    training_prevalence: trainingPrevalence,
  };
}

/** A paired difference a − b across sites (`--json`'s `comparisons[]`, plus heterogeneity). */
export interface ComparisonResult {
  /** What the pair answers: federated − central, federated − best local, SSL − no-SSL. */
  question: string;
  a: string;
  b: string;
  /** internal: the training sites' test splits; external: the external cohorts. */
  scope: 'internal' | 'external';
  diff: number | null;
  ci95: [number, number] | null;
  p: number | null;
  /** Cochran's Q and I² across sites (null with fewer than two sites). */
  q: number | null;
  i2: number | null;
  sites: number;
  /** Why no difference could be estimated (too few cases, identical scores). */
  note?: string;
  /**
   * `paired-round`: the sites' aggregates came from the federated arm's paired evaluation round
   * (protocol 1.3), computed site-side as in a real federation; absent: compare scored the models.
   */
  source?: 'paired-round';
}

/** Fixed-effect combination of one pair's per-site DeLong aggregates (`pairedDifferenceAcrossSites`). */
export function comparisonOf(
  question: string,
  a: string,
  b: string,
  scope: 'internal' | 'external',
  sites: readonly SiteAggregates[],
): ComparisonResult {
  const inScope = sites.filter((s) => s.external === (scope === 'external'));
  const pairs = inScope.flatMap((s) =>
    s.pairs.filter((p) => p.a === a && p.b === b).map((p) => ({ ...p, site: s.site })),
  );
  const base = { question, a, b, scope, sites: pairs.length };
  // A site with zero DeLong variance (both models perfect, or ranking alike) carries no weight
  // that inverse-variance combination could give it: it is left out and counted in the note.
  const usable = pairs.filter(pairIsWeightable);
  if (usable.length === 0) {
    const note = pairs.length
      ? 'zero DeLong variance at every site (perfect separation, or both arms rank alike)'
      : 'no site has two cases and two controls';
    return { ...base, diff: null, ci95: null, p: null, q: null, i2: null, note };
  }
  const d = pairedDifferenceAcrossSites(usable).difference;
  return {
    ...base,
    sites: usable.length,
    diff: d.estimate,
    ci95: d.ci,
    p: d.p,
    q: d.qP === null ? null : d.q,
    i2: d.qP === null ? null : d.i2,
    ...(usable.length < pairs.length
      ? { note: `${pairs.length - usable.length} site(s) left out: zero DeLong variance` }
      : {}),
  };
}

/**
 * A federated arm's comparison on the internal sites from its paired evaluation round: the same
 * fixed-effect combination as `comparisonOf`, of the aggregates the sites returned to the
 * coordinator. When the round failed there are none, and the note says why.
 */
export function pairedRoundComparison(
  question: string,
  a: string,
  pairing: FederationPairing,
): ComparisonResult {
  const b = pairing.against;
  if (pairing.failed !== undefined)
    return {
      question,
      a,
      b,
      scope: 'internal',
      diff: null,
      ci95: null,
      p: null,
      q: null,
      i2: null,
      sites: 0,
      note: `the paired evaluation round failed: ${pairing.failed}`,
      source: 'paired-round',
    };
  const sites = pairing.sites.map(({ site, ...aggregates }) => ({
    site,
    external: false,
    arms: [],
    pairs: [{ a, b, ...aggregates }],
  }));
  return { ...comparisonOf(question, a, b, 'internal', sites), source: 'paired-round' };
}

/**
 * The planned comparisons with "best local" resolved for this seed: the local arm with the highest
 * pooled internal AUC (ties: the first site in order); each on the internal sites and, when there
 * are external cohorts, on them. A federated arm with a paired round (`pairings`, by arm id)
 * against `b` takes its internal row from that round (`pairedRoundComparison`).
 */
export function resolveComparisons(
  planned: readonly PlannedComparison[],
  arms: readonly ArmResult[],
  aggregates: readonly SiteAggregates[],
  withExternal: boolean,
  pairings: ReadonlyMap<string, FederationPairing> = new Map(),
): ComparisonResult[] {
  const pooled = new Map(arms.map((a) => [armId(a.arm, a.ssl), a.pooled_auc ?? -Infinity]));
  const out: ComparisonResult[] = [];
  for (const c of planned) {
    const b =
      typeof c.b === 'string'
        ? c.b
        : c.b.bestOf.reduce((best, id) => (pooled.get(id)! > pooled.get(best)! ? id : best));
    for (const scope of withExternal ? (['internal', 'external'] as const) : (['internal'] as const)) {
      const pairing = scope === 'internal' ? pairings.get(c.a) : undefined;
      out.push(
        pairing?.against === b
          ? pairedRoundComparison(c.question, c.a, pairing)
          : comparisonOf(c.question, c.a, b, scope, aggregates),
      );
    }
  }
  return out;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, x) => a + x, 0);
}

import {
  FixedEffectResult,
  pairedDifferenceAcrossSites,
  pairIsWeightable,
  SitePairedAuc,
} from '../../../../libs/metrics/src/meta-analysis';
import { compareIds, PAIRED_EVALUATION_ROUND } from '../../../../libs/federated/src';
import type { EvalResultBody } from '../../../../libs/protocol/src';
import { MetricRecord } from '../persistence/records';

/**
 * The paired evaluation round's results (protocol 1.3): each site's DeLong aggregates of the pair
 * (final global A, compared model B) are stored as evaluate-stage metrics of that round, one set
 * per site and compared model; the combination across sites — fixed-effect inverse-variance on
 * the per-site differences, with Cochran's Q and I² (libs/metrics `pairedDifferenceAcrossSites`)
 * — is recomputed from them whenever the results are read, so there is one source of truth.
 */

/** The per-site aggregates, stored as `paired/<i>/<name>` (i: the compared model's index in the plan). */
const PAIRED_FIELDS = {
  aucA: 'auc_a',
  aucB: 'auc_b',
  varA: 'var_a',
  varB: 'var_b',
  covAB: 'cov_ab',
  nPos: 'n_pos',
  nNeg: 'n_neg',
} as const satisfies Record<keyof Omit<SitePairedAuc, 'site'>, string>;

export function pairedMetricName(index: number, field: keyof typeof PAIRED_FIELDS): string {
  return `paired/${index}/${PAIRED_FIELDS[field]}`;
}

/** One compared model's result across sites, as GET /runs/{id}/results shows it. */
export interface PairedComparisonView {
  /** The final global (the paired round's model); null if the round has no record. */
  modelA: string | null;
  /** The plan's `evaluation.compareWith` entry. */
  modelB: string;
  /** AUC_A − AUC_B combined by fixed effect: estimate, 95 % CI, Wald z and two-sided p. */
  difference: { estimate: number; ci95: [number, number]; standardError: number; z: number; p: number };
  /** Cochran's Q (df = sites − 1, its χ² p; null with one site) and Higgins' I². */
  heterogeneity: { q: number; df: number; p: number | null; i2: number };
  /** Each model's site-stratified (fixed-effect) AUC with its 95 % CI. */
  aucA: { estimate: number; ci95: [number, number] };
  aucB: { estimate: number; ci95: [number, number] };
  nPositive: number;
  nNegative: number;
  /** Per site combined: both AUCs, the difference with its own 95 % CI and its share of the weight. */
  sites: PairedSiteRow[];
  /**
   * Sites that answered but carry no inverse-variance weight (zero DeLong variance: both models
   * separate the site's classes perfectly, or rank its patients alike), left out by name as
   * `phcc-fed compare` does; their counts are not in nPositive / nNegative.
   */
  leftOut: { site: string; aucA: number; aucB: number; reason: string }[];
}

const ZERO_VARIANCE = 'zero DeLong variance (perfect separation, or both models rank alike)';

export interface PairedSiteRow {
  site: string;
  aucA: number;
  aucB: number;
  difference: number;
  ci95: [number, number];
  weight: number;
  nPositive: number;
  nNegative: number;
}

/** The sites' paired aggregates of compared model `index`, from their eval-results. */
export function sitePairsOf(
  results: ReadonlyMap<string, EvalResultBody>,
  index: number,
  digest: string,
): SitePairedAuc[] {
  return [...results.keys()].sort(compareIds).map((site) => {
    const pair = results.get(site)!.paired?.[index];
    if (!pair || pair.modelDigest !== digest)
      throw new Error(
        `site ${site} sent no paired aggregates for compared model ${index} (${digest.slice(0, 16)}…)`,
      );
    const { modelDigest: _digest, ...aggregates } = pair;
    return { site, ...aggregates };
  });
}

/**
 * The metric rows of a paired round, after checking that the combination can be computed: at
 * least one site must carry weight (else — e.g. two identical models — the round fails by name).
 * Throws a one-line error otherwise.
 */
export function pairedMetrics(
  runId: string,
  results: ReadonlyMap<string, EvalResultBody>,
  compareWith: readonly string[],
  recordedAt: string,
): MetricRecord[] {
  const rows: MetricRecord[] = [];
  compareWith.forEach((digest, index) => {
    const sites = sitePairsOf(results, index, digest);
    if (!sites.some(pairIsWeightable))
      throw new Error(`compared model ${index} (${digest.slice(0, 16)}…): ${ZERO_VARIANCE} at every site`);
    for (const s of sites)
      for (const field of Object.keys(PAIRED_FIELDS) as (keyof typeof PAIRED_FIELDS)[])
        rows.push({
          runId,
          stage: 'evaluate',
          round: PAIRED_EVALUATION_ROUND,
          siteId: s.site,
          name: pairedMetricName(index, field),
          value: s[field],
          recordedAt,
        });
  });
  return rows;
}

/**
 * The per-site aggregates of compared model `index` as the paired round stored them (sites in id
 * order, only those with every field): what `phcc-fed compare` combines for its federated −
 * central row, and what `pairedView` combines here.
 */
export function storedSitePairs(metrics: readonly MetricRecord[], index: number): SitePairedAuc[] {
  // The last stored value wins (a round re-run after a restart stores its rows again).
  const bySite = new Map<string, Partial<SitePairedAuc>>();
  for (const m of metrics) {
    if (m.stage !== 'evaluate' || m.round !== PAIRED_EVALUATION_ROUND || !m.siteId) continue;
    const field = (Object.keys(PAIRED_FIELDS) as (keyof typeof PAIRED_FIELDS)[]).find(
      (f) => pairedMetricName(index, f) === m.name,
    );
    if (!field) continue;
    const site = bySite.get(m.siteId) ?? { site: m.siteId };
    site[field] = m.value;
    bySite.set(m.siteId, site);
  }
  const answered = [...bySite.values()].filter((s): s is SitePairedAuc =>
    Object.keys(PAIRED_FIELDS).every((f) => typeof s[f as keyof SitePairedAuc] === 'number'),
  );
  return answered.sort((a, b) => compareIds(a.site, b.site));
}

/** The paired comparisons of a run from its stored metrics; [] when the round has not run. */
export function pairedView(
  metrics: readonly MetricRecord[],
  compareWith: readonly string[] | undefined,
  modelA: string | null,
): PairedComparisonView[] {
  const views: PairedComparisonView[] = [];
  for (const [index, modelB] of (compareWith ?? []).entries()) {
    const answered = storedSitePairs(metrics, index);
    const sites = answered.filter(pairIsWeightable);
    if (sites.length === 0) continue;
    const combined = pairedDifferenceAcrossSites(sites);
    const d = combined.difference;
    views.push({
      modelA,
      modelB,
      difference: { estimate: d.estimate, ci95: d.ci, standardError: d.standardError, z: d.z, p: d.p },
      heterogeneity: { q: d.q, df: d.qDf, p: d.qP, i2: d.i2 },
      aucA: estimateOf(combined.aucA),
      aucB: estimateOf(combined.aucB),
      nPositive: combined.nPos,
      nNegative: combined.nNeg,
      sites: sites.map((s, k) => ({
        site: s.site,
        aucA: s.aucA,
        aucB: s.aucB,
        difference: d.sites[k].estimate,
        ci95: d.sites[k].ci,
        weight: d.sites[k].weight,
        nPositive: s.nPos,
        nNegative: s.nNeg,
      })),
      leftOut: answered
        .filter((s) => !pairIsWeightable(s))
        .map((s) => ({ site: s.site, aucA: s.aucA, aucB: s.aucB, reason: ZERO_VARIANCE })),
    });
  }
  return views;
}

function estimateOf(r: FixedEffectResult): { estimate: number; ci95: [number, number] } {
  return { estimate: r.estimate, ci95: r.ci };
}

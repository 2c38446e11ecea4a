import { binnedAuc, pooledAucFromHistograms } from '../../../../libs/metrics/src/pooled';
import { commonBinCount, rebinHistogram } from '../../../../libs/metrics/src/rebin';
import {
  IntervalHistogram,
  pooledAucFromReleased,
  ReleasedPooledAuc,
  toIntervalHistogram,
} from '../../../../libs/metrics/src/private-histogram';
import type { EvalResultBody } from '../../../../libs/protocol/src';
import { EvaluationRecord, MetricRecord } from '../persistence/records';

/**
 * Turns the sites' `eval-result` messages into the run's results: one evaluation row per site
 * (its own AUC from its histogram) and the pooled AUC over every site's scores. AUC is not
 * additive, so the pooled figure comes from the summed per-class histograms (libs/metrics), never
 * from averaging site AUCs — the mean of site AUCs is stored beside it only as a summary.
 */
export interface EvaluationSummary {
  evaluations: EvaluationRecord[];
  metrics: MetricRecord[];
  /** Why no pooled AUC could be computed (e.g. no site had both classes), if so. */
  problem?: string;
}

/**
 * Which evaluation round the results belong to, and whose model was evaluated: 'global' (final
 * and every-k rounds) or a site id (a cross-site round, one row of the matrix).
 */
export interface EvaluationPlace {
  round: number;
  modelOf: string;
  /** A site's local model: the fine-tune round its update came from. */
  finetuneRound?: number;
}

/** Per cross-site round, one metric (siteId = the model's site): the fine-tune round of its model. */
export const CROSS_SITE_METRIC_MODEL_ROUND = 'crosssite/model_finetune_round';

const FINAL_GLOBAL: EvaluationPlace = { round: 0, modelOf: 'global' };

/**
 * A site's local model evaluated elsewhere yields evaluation rows (and which fine-tune round the
 * model is from) but no `eval/*` metric: those describe the global model, and a cross-site round
 * must not add a second pooled AUC that readers of `eval/pooled_auc` would mistake for it.
 */
export function summariseEvaluation(
  runId: string,
  modelDigest: string,
  results: ReadonlyMap<string, EvalResultBody>,
  recordedAt: string,
  place: EvaluationPlace = FINAL_GLOBAL,
): EvaluationSummary {
  const sites = [...results.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const evaluations: EvaluationRecord[] = [];
  const metrics: MetricRecord[] = [];
  const global = place.modelOf === 'global';
  const metric = (name: string, value: number, siteId?: string): void => {
    if (global)
      metrics.push({ runId, stage: 'evaluate', round: place.round, siteId, name, value, recordedAt });
  };
  // A private evaluation (docs/PRIVACY.md §5): some site released merged bins (`edges`), so AUC,
  // CI and pooled AUC all come from the released intervals, each with its binning error bound.
  const released = sites.some((site) => results.get(site)!.histogram.edges !== undefined);
  for (const siteId of sites) {
    const body = results.get(siteId)!;
    const own = released
      ? releasedAucOf(intervalHistogramOf(siteId, body))
      : binnedAuc({ bins: body.histogram.bins, pos: body.histogram.positive, neg: body.histogram.negative });
    // The site's exact AUC (and DeLong CI) over its own patients beats the one re-derived from its
    // binned histogram; the binned value stays as a cross-check. A private evaluation has no exact one.
    const auc = body.auc ?? own.auc ?? undefined;
    const ownCi = 'ci' in own ? own.ci : undefined;
    const ciLow = body.metrics?.auc_ci95_low ?? ownCi?.[0];
    const ciHigh = body.metrics?.auc_ci95_high ?? ownCi?.[1];
    evaluations.push({
      runId,
      modelDigest,
      modelOf: place.modelOf,
      siteId,
      stage: 'evaluate',
      round: place.round,
      n: body.nPositive + body.nNegative,
      nPositive: body.nPositive,
      auc,
      ...(ciLow !== undefined && ciHigh !== undefined ? { aucLow: ciLow, aucHigh: ciHigh } : {}),
      histograms: body.histogram,
      recordedAt,
    });
    if (auc !== undefined) metric('eval/auc', auc, siteId);
    if (own.auc !== null) metric('eval/auc_binned', own.auc, siteId);
    if ('maxBinningError' in own && own.maxBinningError !== null)
      metric('eval/auc_max_binning_error', own.maxBinningError, siteId);
    metric('eval/n', body.nPositive + body.nNegative, siteId);
    for (const [name, value] of Object.entries(body.metrics ?? {})) metric(`eval/${name}`, value, siteId);
  }
  if (!global) {
    if (place.finetuneRound !== undefined) {
      metrics.push({
        runId,
        stage: 'evaluate',
        round: place.round,
        siteId: place.modelOf,
        name: CROSS_SITE_METRIC_MODEL_ROUND,
        value: place.finetuneRound,
        recordedAt,
      });
    }
    return { evaluations, metrics };
  }
  if (released) return pooledFromReleased(sites, results, { evaluations, metrics }, metric);
  try {
    const histograms = sites.map((site) => {
      const h = results.get(site)!.histogram;
      return { site, bins: h.bins, pos: h.positive, neg: h.negative };
    });
    // One grid for all sites, whatever bin counts they chose (libs/metrics/src/rebin.ts).
    const bins = commonBinCount(histograms);
    const pooled = pooledAucFromHistograms(histograms.map((h) => rebinHistogram(h, bins)));
    metric('eval/pooled_bins', bins);
    metric('eval/pooled_auc', pooled.auc);
    metric('eval/pooled_auc_max_binning_error', pooled.maxBinningError);
    if (pooled.meanSiteAuc !== null) metric('eval/mean_site_auc', pooled.meanSiteAuc);
    metric('eval/sites', pooled.sites);
    return { evaluations, metrics };
  } catch (err) {
    return { evaluations, metrics, problem: err instanceof Error ? err.message : String(err) };
  }
}

function intervalHistogramOf(site: string, body: EvalResultBody): IntervalHistogram {
  const h = body.histogram;
  return h.edges
    ? { site, edges: [...h.edges], pos: [...h.positive], neg: [...h.negative] }
    : toIntervalHistogram({ site, bins: h.bins, pos: h.positive, neg: h.negative });
}

/** A site's AUC from its released bins; null without both classes. */
function releasedAucOf(h: IntervalHistogram): {
  auc: number | null;
  maxBinningError: number | null;
  ci?: [number, number];
} {
  const hasBoth = h.pos.some((c) => c > 0) && h.neg.some((c) => c > 0);
  if (!hasBoth) return { auc: null, maxBinningError: null };
  const r: ReleasedPooledAuc = pooledAucFromReleased([h]);
  return { auc: r.auc, maxBinningError: r.maxBinningError, ci: r.ci };
}

/** Pooled AUC, its CI (widened by the binning error) and the error bound, from released intervals. */
function pooledFromReleased(
  sites: readonly string[],
  results: ReadonlyMap<string, EvalResultBody>,
  summary: EvaluationSummary,
  metric: (name: string, value: number, siteId?: string) => void,
): EvaluationSummary {
  try {
    const pooled = pooledAucFromReleased(sites.map((site) => intervalHistogramOf(site, results.get(site)!)));
    metric('eval/pooled_auc', pooled.auc);
    metric('eval/pooled_auc_max_binning_error', pooled.maxBinningError);
    metric('eval/pooled_auc_ci95_low', pooled.ci[0]);
    metric('eval/pooled_auc_ci95_high', pooled.ci[1]);
    const siteAucs = summary.evaluations.map((e) => e.auc).filter((a): a is number => a !== undefined);
    if (siteAucs.length) metric('eval/mean_site_auc', siteAucs.reduce((a, b) => a + b, 0) / siteAucs.length);
    metric('eval/sites', sites.length);
    return summary;
  } catch (err) {
    return { ...summary, problem: err instanceof Error ? err.message : String(err) };
  }
}

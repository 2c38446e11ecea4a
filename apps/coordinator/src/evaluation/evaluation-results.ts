import { binnedAuc, pooledAucFromHistograms } from '../../../../libs/metrics/src/pooled';
import { commonBinCount, rebinHistogram } from '../../../../libs/metrics/src/rebin';
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
  for (const siteId of sites) {
    const body = results.get(siteId)!;
    const own = binnedAuc({
      bins: body.histogram.bins,
      pos: body.histogram.positive,
      neg: body.histogram.negative,
    });
    // The site's exact AUC (and DeLong CI) over its own patients beats the one re-derived from its
    // binned histogram; the binned value stays as a cross-check.
    const auc = body.auc ?? own.auc ?? undefined;
    const ciLow = body.metrics?.auc_ci95_low;
    const ciHigh = body.metrics?.auc_ci95_high;
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

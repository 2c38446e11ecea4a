import { EvaluationRecord, MetricRecord } from '../persistence/records';
import { CROSS_SITE_METRIC_MODEL_ROUND } from './evaluation-results';
import { compareIds, evaluationKindOf } from '../../../../libs/federated/src';

/** One model at one site: what a reader of the results wants first. */
export interface SiteScore {
  auc: number | null;
  /** DeLong 95 % interval from the site's own scores, or null when the site sent none. */
  ci95: [number, number] | null;
  n: number;
  nPositive: number;
}

/** One evaluation of the global model at every site (the final one or an every-k one). */
export interface GlobalEvaluationView {
  /** The evaluate-stage round: 0 for the final evaluation, c after c fine-tune rounds. */
  round: number;
  /** Fine-tune rounds done before this evaluation; null for the final evaluation. */
  afterFinetuneRounds: number | null;
  modelDigest: string;
  /** From the sites' summed histograms (never an average of site AUCs). */
  pooledAuc: number | null;
  meanSiteAuc: number | null;
  sites: Record<string, SiteScore>;
}

export interface CrossSiteView {
  /** Whose local model each row is: its digest and the fine-tune round its update came from. */
  models: Record<string, { digest: string; finetuneRound: number | null }>;
  /** `matrix[modelSite][evalSite]`; the diagonal is a site's own model on its own test split. */
  matrix: Record<string, Record<string, SiteScore>>;
}

/** The run's evaluation results in the shape the issue asks for, from the stored rows. */
export interface EvaluationView {
  /** Every-k evaluations, in round order. */
  periodic: GlobalEvaluationView[];
  final: GlobalEvaluationView | null;
  crossSite: CrossSiteView | null;
}

/**
 * Groups the stored rows by evaluation round. A round re-run after a restart may have stored its
 * rows twice; the later row wins, as it is the answer the round closed with.
 */
export function evaluationView(
  evaluations: readonly EvaluationRecord[],
  metrics: readonly MetricRecord[],
): EvaluationView {
  const globals = new Map<number, GlobalEvaluationView>();
  const crossSite: CrossSiteView = { models: {}, matrix: {} };
  for (const record of evaluations) {
    const round = record.round ?? 0;
    const score = siteScore(record);
    if (record.modelOf === 'global') {
      let view = globals.get(round);
      if (!view || view.modelDigest !== record.modelDigest) {
        view = {
          round,
          afterFinetuneRounds: evaluationKindOf(round) === 'final' ? null : round,
          modelDigest: record.modelDigest,
          pooledAuc: runMetric(metrics, 'eval/pooled_auc', round),
          meanSiteAuc: runMetric(metrics, 'eval/mean_site_auc', round),
          sites: {},
        };
        globals.set(round, view);
      }
      view.sites[record.siteId] = score;
    } else {
      const owner = record.modelOf;
      crossSite.models[owner] = {
        digest: record.modelDigest,
        finetuneRound: siteMetric(metrics, CROSS_SITE_METRIC_MODEL_ROUND, round, owner),
      };
      (crossSite.matrix[owner] ??= {})[record.siteId] = score;
    }
  }
  const periodic = [...globals.values()].filter((v) => v.round !== 0).sort((a, b) => a.round - b.round);
  for (const view of [...globals.values()]) view.sites = sortedRecord(view.sites);
  return {
    periodic,
    final: globals.get(0) ?? null,
    crossSite: Object.keys(crossSite.matrix).length
      ? {
          models: sortedRecord(crossSite.models),
          matrix: sortedRecord(
            Object.fromEntries(Object.entries(crossSite.matrix).map(([k, row]) => [k, sortedRecord(row)])),
          ),
        }
      : null,
  };
}

function siteScore(record: EvaluationRecord): SiteScore {
  return {
    auc: record.auc ?? null,
    ci95:
      record.aucLow !== undefined && record.aucHigh !== undefined ? [record.aucLow, record.aucHigh] : null,
    n: record.n,
    nPositive: record.nPositive,
  };
}

/** The last value of a run-wide evaluate-stage metric of `round`. */
function runMetric(metrics: readonly MetricRecord[], name: string, round: number): number | null {
  return siteMetric(metrics, name, round, undefined);
}

function siteMetric(
  metrics: readonly MetricRecord[],
  name: string,
  round: number,
  siteId: string | undefined,
): number | null {
  let value: number | null = null;
  for (const m of metrics) {
    if (m.name === name && m.stage === 'evaluate' && (m.round ?? 0) === round && m.siteId === siteId)
      value = m.value;
  }
  return value;
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compareIds(a, b)));
}

import { InputError } from '../../common/src';
import type { ScoreHistogram } from './pooled';
import { youden } from './roc';

/**
 * Classification at a fixed cut-off. A cut-off chosen on the patients it is then reported on
 * (Youden on the test set) flatters sensitivity and specificity; the honest protocol chooses it
 * on a validation split — or, for an external site, takes the training sites' — and reports the
 * evaluated patients at that fixed value. A patient is called positive when score ≥ threshold
 * (libs/metrics' ROC convention).
 */
export interface ThresholdMetrics {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  sensitivity: number;
  specificity: number;
  /** Positive predictive value; null when nobody is called positive. */
  ppv: number | null;
  /** Negative predictive value; null when nobody is called negative. */
  npv: number | null;
  accuracy: number;
}

export function metricsAtThreshold(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold: number,
): ThresholdMetrics {
  if (labels.length !== scores.length)
    throw new InputError(`${labels.length} labels but ${scores.length} scores`);
  if (Number.isNaN(threshold)) throw new InputError('threshold is NaN');
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new InputError(`label at index ${i} is ${y}; labels must be 0 or 1`);
    const s = scores[i];
    if (!Number.isFinite(s)) throw new InputError(`score at index ${i} is ${s}`);
    const called = s >= threshold;
    if (y === 1 && called) tp++;
    else if (y === 1) fn++;
    else if (called) fp++;
    else tn++;
  }
  if (tp + fn === 0 || tn + fp === 0)
    throw new InputError(
      `sensitivity and specificity need both classes (got ${tp + fn} positive, ${tn + fp} negative)`,
    );
  return { threshold, ...ratesOfCounts({ tp, fp, tn, fn }) };
}

/** A 2×2 table at a cut-off and the rates it gives (PPV/NPV null when nobody is called so). */
export type CountsAndRates = Omit<ThresholdMetrics, 'threshold'>;

/**
 * The rates of a 2×2 table: one definition for a site's own table and for tables summed over
 * sites (compare's pooled row), so both read the same.
 */
export function ratesOfCounts(c: { tp: number; fp: number; tn: number; fn: number }): CountsAndRates {
  const { tp, fp, tn, fn } = c;
  return {
    tp,
    fp,
    tn,
    fn,
    sensitivity: tp / (tp + fn),
    specificity: tn / (tn + fp),
    ppv: tp + fp > 0 ? tp / (tp + fp) : null,
    npv: tn + fn > 0 ? tn / (tn + fn) : null,
    accuracy: (tp + tn) / (tp + fp + tn + fn),
  };
}

/**
 * The cut-off maximising Youden's J on a validation set, to be applied unchanged elsewhere.
 * When no cut-off beats chance (J = 0 at +∞) this returns +∞: everyone is then called negative,
 * which the report shows rather than hiding.
 */
export function chooseThreshold(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  return youden(labels, scores).threshold;
}

/**
 * Youden's cut-off from per-class score histograms (libs/metrics `scoreHistogram`), for a
 * threshold several sites fix together without any patient's score: their validation histograms
 * summed. Returns the lower edge b/B of the bin that maximises J when bins b … B−1 are called
 * positive — applied as score ≥ b/B, the histogram's own bin rule — so the cut-off is exact up to
 * the bin width (1/B). Ties go to the higher cut-off (the more specific one) as `youden` does; when
 * no cut-off beats chance, +∞.
 */
export function chooseThresholdOfHistogram(h: ScoreHistogram): number {
  const m = h.pos.reduce((a, x) => a + x, 0);
  const n = h.neg.reduce((a, x) => a + x, 0);
  if (m === 0 || n === 0)
    throw new InputError(`a cut-off needs both classes (got ${m} positive, ${n} negative)`);
  let tp = 0;
  let fp = 0;
  let best = 0; // J·m·n at +∞ (nobody positive), compared as integers so equal J compare equal
  let threshold = Infinity;
  for (let b = h.bins - 1; b >= 0; b--) {
    tp += h.pos[b];
    fp += h.neg[b];
    const scaledJ = tp * n - fp * m;
    if (scaledJ > best) {
      best = scaledJ;
      threshold = b / h.bins;
    }
  }
  return threshold;
}

/**
 * Moves probabilities from the prior a model was trained to (class-balanced loss weights make it
 * 0.5) to another prevalence — the training sites' — by Bayes' rule on the odds:
 * logit p' = logit p − logit(fromPrior) + logit(toPrior). Monotone, so AUC and every ranking are
 * unchanged; only the printed probability becomes a risk at that prevalence.
 */
export function shiftPrior(p: number, toPrior: number, fromPrior = 0.5): number {
  if (!(toPrior > 0 && toPrior < 1) || !(fromPrior > 0 && fromPrior < 1))
    throw new InputError(`priors must lie strictly between 0 and 1 (got ${fromPrior} → ${toPrior})`);
  if (p <= 0 || p >= 1) return p;
  const logit = (x: number) => Math.log(x / (1 - x));
  const z = logit(p) - logit(fromPrior) + logit(toPrior);
  return 1 / (1 + Math.exp(-z));
}

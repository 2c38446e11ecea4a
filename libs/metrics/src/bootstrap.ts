import { InputError, Rng } from '../../common/src';
import { Direction, lowerBound, splitScores } from './binary-scores';
import { aucOfRanked, rankScores, sweepSorted, youdenOfRanked } from './roc';

export interface BootstrapOptions {
  /** Number of bootstrap replicates (default 2000, as pROC). */
  replicates?: number;
  /** Seed of the resampling stream (default 1): the same seed gives the same interval. */
  seed?: number;
  /** Confidence level (default 0.95). */
  confLevel?: number;
  direction?: Direction;
  /**
   * Cut-off (caller's scale) at which sensitivity and specificity are resampled. Default: the
   * Youden point re-chosen in every replicate (pROC's `ci.coords(x = "best")`), which carries
   * the optimism of picking the cut-off on the same data into the interval.
   */
  threshold?: number;
}

export interface BootstrapInterval {
  /** The statistic on the original data. */
  estimate: number;
  /** Percentile interval (R's quantile type 7 of the replicates). */
  ci: [number, number];
  /** Standard deviation of the replicates. */
  sd: number;
}

export interface BootstrapResult {
  replicates: number;
  seed: number;
  confLevel: number;
  /** 'youden' or the fixed cut-off used for sensitivity/specificity. */
  threshold: 'youden' | number;
  auc: BootstrapInterval;
  sensitivity: BootstrapInterval;
  specificity: BootstrapInterval;
}

/**
 * Stratified bootstrap: every replicate redraws m cases from the cases and n controls from the
 * controls (so both classes keep their size), as pROC's `boot.stratified = TRUE`. A replicate is
 * a vector of multiplicities over the once-sorted scores, so each costs O(m + n), no re-sorting.
 */
export function bootstrapCi(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: BootstrapOptions = {},
): BootstrapResult {
  const replicates = options.replicates ?? 2000;
  const seed = options.seed ?? 1;
  const confLevel = options.confLevel ?? 0.95;
  const direction = options.direction ?? '<';
  if (!Number.isInteger(replicates) || replicates < 2) {
    throw new InputError(`bootstrap replicates must be an integer ≥ 2 (got ${replicates})`);
  }
  if (!(confLevel > 0 && confLevel < 1)) {
    throw new InputError(`confidence level must be between 0 and 1 (got ${confLevel})`);
  }
  if (options.threshold !== undefined && Number.isNaN(options.threshold)) {
    throw new InputError('bootstrap threshold must be a number');
  }
  const ranked = rankScores(splitScores(labels, scores, direction, 2));
  const { casesSorted, controlsSorted } = ranked;
  const m = casesSorted.length;
  const n = controlsSorted.length;
  const fixed = options.threshold;
  // Oriented fixed cut-off: cases at index ≥ firstPositiveCase / controls ≥ firstPositiveControl are called positive.
  const orientedCut = fixed === undefined ? NaN : direction === '<' ? fixed : -fixed;
  const firstPositiveCase = lowerBound(casesSorted, orientedCut);
  const firstPositiveControl = lowerBound(controlsSorted, orientedCut);

  const rng = new Rng(seed);
  const caseWeights = new Float64Array(m);
  const controlWeights = new Float64Array(n);
  const aucs = new Float64Array(replicates);
  const sens = new Float64Array(replicates);
  const specs = new Float64Array(replicates);
  for (let r = 0; r < replicates; r++) {
    caseWeights.fill(0);
    controlWeights.fill(0);
    for (let k = 0; k < m; k++) caseWeights[rng.int(m)]++;
    for (let k = 0; k < n; k++) controlWeights[rng.int(n)]++;
    const sweep = sweepSorted(casesSorted, controlsSorted, caseWeights, controlWeights);
    aucs[r] = sweep.twiceU / (2 * m * n);
    if (fixed === undefined) {
      sens[r] = sweep.youdenOriented.truePositives / m;
      specs[r] = 1 - sweep.youdenOriented.falsePositives / n;
    } else {
      sens[r] = sumFrom(caseWeights, firstPositiveCase) / m;
      specs[r] = 1 - sumFrom(controlWeights, firstPositiveControl) / n;
    }
  }

  const youdenPoint = youdenOfRanked(ranked);
  const sensEstimate = fixed === undefined ? youdenPoint.sensitivity : (m - firstPositiveCase) / m;
  const specEstimate = fixed === undefined ? youdenPoint.specificity : firstPositiveControl / n;
  return {
    replicates,
    seed,
    confLevel,
    threshold: fixed === undefined ? 'youden' : fixed,
    auc: interval(aucOfRanked(ranked), aucs, confLevel),
    sensitivity: interval(sensEstimate, sens, confLevel),
    specificity: interval(specEstimate, specs, confLevel),
  };
}

function sumFrom(values: Float64Array, start: number): number {
  let s = 0;
  for (let k = start; k < values.length; k++) s += values[k];
  return s;
}

function interval(estimate: number, replicates: Float64Array, confLevel: number): BootstrapInterval {
  const sorted = new Float64Array(replicates).sort();
  const alpha = (1 - confLevel) / 2;
  return {
    estimate,
    ci: [quantileType7(sorted, alpha), quantileType7(sorted, 1 - alpha)],
    sd: sampleSd(sorted),
  };
}

/** R's default quantile (type 7): linear interpolation between order statistics at (N − 1)·p. */
export function quantileType7(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function sampleSd(values: Float64Array): number {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return Math.sqrt(ss / (values.length - 1));
}

import { Direction, SplitScores, sortedCopy, splitScores } from './binary-scores';

/** Split scores plus ascending sorted copies of each class; built once, shared by every statistic. */
export interface RankedScores extends SplitScores {
  casesSorted: Float64Array;
  controlsSorted: Float64Array;
}

export function rankScores(split: SplitScores): RankedScores {
  return { ...split, casesSorted: sortedCopy(split.cases), controlsSorted: sortedCopy(split.controls) };
}

/** One point of the empirical ROC curve. */
export interface RocPoint {
  /**
   * Cut-off on the caller's score scale. Direction '<': a case is called positive when
   * score ≥ threshold; direction '>': when score ≤ threshold (as scikit-learn's roc_curve, not
   * pROC's midpoints between adjacent scores). ±Infinity is the "call nobody positive" point.
   */
  threshold: number;
  sensitivity: number;
  specificity: number;
}

/** The cut-off maximising Youden's J = sensitivity + specificity − 1. */
export interface YoudenPoint extends RocPoint {
  j: number;
}

/** What one walk down the sorted scores yields. */
export interface RocSweep {
  /** 2·U, U = Σ over case/control pairs of [case > control] + ½·[tie]: an exact integer when unweighted. */
  twiceU: number;
  /** Youden point, threshold still on the oriented scale (higher = positive). */
  youdenOriented: { threshold: number; truePositives: number; falsePositives: number };
}

/**
 * Walks the distinct scores from the highest down, accumulating true and false positives: the
 * Mann–Whitney count (ties ½) and the Youden point fall out of the same O(m + n) pass.
 * Optional weights (bootstrap multiplicities) replace the implicit 1 per score; `totalCases` and
 * `totalControls` are then the sums of the weights. `onPoint` receives every distinct cut-off.
 * Ties in J are resolved towards the higher cut-off (higher specificity). J is compared as the
 * integer tp·n − fp·m so that equal J values compare equal.
 */
export function sweepSorted(
  casesSorted: Float64Array,
  controlsSorted: Float64Array,
  caseWeights?: ArrayLike<number>,
  controlWeights?: ArrayLike<number>,
  onPoint?: (oriented: number, truePositives: number, falsePositives: number) => void,
): RocSweep {
  const m = caseWeights ? sum(caseWeights) : casesSorted.length;
  const n = controlWeights ? sum(controlWeights) : controlsSorted.length;
  let i = casesSorted.length - 1;
  let j = controlsSorted.length - 1;
  let tp = 0;
  let fp = 0;
  let twiceU = 0;
  let bestScaledJ = 0; // the +Infinity cut-off: tp = fp = 0
  let best = { threshold: Infinity, truePositives: 0, falsePositives: 0 };
  while (i >= 0 || j >= 0) {
    const v =
      i < 0 ? controlsSorted[j] : j < 0 ? casesSorted[i] : Math.max(casesSorted[i], controlsSorted[j]);
    let groupCases = 0;
    while (i >= 0 && casesSorted[i] === v) {
      groupCases += caseWeights ? caseWeights[i] : 1;
      i--;
    }
    let groupControls = 0;
    while (j >= 0 && controlsSorted[j] === v) {
      groupControls += controlWeights ? controlWeights[j] : 1;
      j--;
    }
    const controlsBelow = n - fp - groupControls;
    twiceU += groupCases * (2 * controlsBelow + groupControls);
    tp += groupCases;
    fp += groupControls;
    const scaledJ = tp * n - fp * m;
    if (scaledJ > bestScaledJ) {
      bestScaledJ = scaledJ;
      best = { threshold: v, truePositives: tp, falsePositives: fp };
    }
    onPoint?.(v, tp, fp);
  }
  return { twiceU, youdenOriented: best };
}

function sum(values: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < values.length; k++) s += values[k];
  return s;
}

/** Maps an oriented cut-off back to the caller's scale. */
export function toCallerScale(oriented: number, direction: Direction): number {
  return direction === '<' ? oriented : -oriented;
}

/** AUC of ranked scores: the Mann–Whitney U / (m·n), ties counted one half. */
export function aucOfRanked(ranked: RankedScores): number {
  const { twiceU } = sweepSorted(ranked.casesSorted, ranked.controlsSorted);
  return twiceU / (2 * ranked.cases.length * ranked.controls.length);
}

/** Youden point of ranked scores, on the caller's scale. */
export function youdenOfRanked(ranked: RankedScores): YoudenPoint {
  const m = ranked.cases.length;
  const n = ranked.controls.length;
  const { youdenOriented } = sweepSorted(ranked.casesSorted, ranked.controlsSorted);
  const sensitivity = youdenOriented.truePositives / m;
  const specificity = 1 - youdenOriented.falsePositives / n;
  return {
    threshold: toCallerScale(youdenOriented.threshold, ranked.direction),
    sensitivity,
    specificity,
    j: sensitivity + specificity - 1,
  };
}

/**
 * Area under the empirical ROC curve = P(case score > control score) + ½·P(tie), the
 * Mann–Whitney statistic (as pROC's `auc` and scikit-learn's `roc_auc_score`). O(N log N).
 * Labels are 0/1; see {@link Direction} for which way scores point.
 */
export function auc(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  direction: Direction = '<',
): number {
  return aucOfRanked(rankScores(splitScores(labels, scores, direction)));
}

/**
 * Every point of the empirical ROC curve, one per distinct score plus the (0, 1) start, in
 * order of decreasing specificity.
 */
export function rocCurve(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  direction: Direction = '<',
): RocPoint[] {
  const ranked = rankScores(splitScores(labels, scores, direction));
  const m = ranked.cases.length;
  const n = ranked.controls.length;
  const points: RocPoint[] = [
    { threshold: toCallerScale(Infinity, direction), sensitivity: 0, specificity: 1 },
  ];
  sweepSorted(ranked.casesSorted, ranked.controlsSorted, undefined, undefined, (v, tp, fp) => {
    points.push({ threshold: toCallerScale(v, direction), sensitivity: tp / m, specificity: 1 - fp / n });
  });
  return points;
}

/** The cut-off that maximises sensitivity + specificity − 1 (ties: the more specific one). */
export function youden(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  direction: Direction = '<',
): YoudenPoint {
  return youdenOfRanked(rankScores(splitScores(labels, scores, direction)));
}

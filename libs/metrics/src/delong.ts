import { InputError } from '../../common/src';
import { Direction, lowerBound, splitScores } from './binary-scores';
import { qnorm, twoSidedNormalP, twoSidedTP } from './distributions';
import { aucOfRanked, RankedScores, rankScores, YoudenPoint, youdenOfRanked } from './roc';

/**
 * DeLong, DeLong & Clarke-Pearson (1988): the AUC is a mean of per-patient "placements"
 * (structural components), so its variance is estimated from their sample variances.
 * Placements come from one walk over the sorted scores (O(N log N) with the sort), never from
 * the O(m·n) table of pairs. Formulas follow pROC 1.18 (`ci.auc.delong`,
 * `delong.paired.test`, `delong.unpaired.test`) so the numbers agree with it.
 */
export interface DelongPlacements {
  auc: number;
  /** V10 per case (input order): share of controls below it, ties ½. Mean = AUC. */
  casePlacements: Float64Array;
  /** V01 per control (input order): share of cases above it, ties ½. Mean = AUC. */
  controlPlacements: Float64Array;
}

export function placementsOfRanked(ranked: RankedScores): DelongPlacements {
  const table = placementTable(ranked);
  const casePlacements = new Float64Array(ranked.cases.length);
  const controlPlacements = new Float64Array(ranked.controls.length);
  for (let i = 0; i < casePlacements.length; i++) {
    casePlacements[i] = table.caseAt[lowerBound(table.values, ranked.cases[i])];
  }
  for (let j = 0; j < controlPlacements.length; j++) {
    controlPlacements[j] = table.controlAt[lowerBound(table.values, ranked.controls[j])];
  }
  return { auc: aucOfRanked(ranked), casePlacements, controlPlacements };
}

/**
 * Placement of a case / a control at each distinct score (ascending). Patients are then looked
 * up by one binary search in this table, which with tied scores is far smaller than either class.
 */
function placementTable(ranked: RankedScores): {
  values: Float64Array;
  caseAt: Float64Array;
  controlAt: Float64Array;
} {
  const P = ranked.casesSorted;
  const N = ranked.controlsSorted;
  const m = P.length;
  const n = N.length;
  const values = new Float64Array(m + n);
  const caseAt = new Float64Array(m + n);
  const controlAt = new Float64Array(m + n);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < m || j < n) {
    const v = i >= m ? N[j] : j >= n ? P[i] : Math.min(P[i], N[j]);
    const casesBelow = i;
    const controlsBelow = j;
    while (i < m && P[i] === v) i++;
    while (j < n && N[j] === v) j++;
    const groupCases = i - casesBelow;
    const groupControls = j - controlsBelow;
    values[k] = v;
    caseAt[k] = (controlsBelow + 0.5 * groupControls) / n;
    controlAt[k] = (m - casesBelow - 0.5 * groupCases) / m;
    k++;
  }
  return {
    values: values.subarray(0, k),
    caseAt: caseAt.subarray(0, k),
    controlAt: controlAt.subarray(0, k),
  };
}

/** Sample covariance about a known mean, Σ(a−θa)(b−θb)/(len−1), as pROC writes it. */
function covarianceAbout(a: Float64Array, thetaA: number, b: Float64Array, thetaB: number): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (a[k] - thetaA) * (b[k] - thetaB);
  return s / (a.length - 1);
}

/**
 * DeLong variance of one AUC straight from the sorted scores: all patients with the same score in
 * the same class share one placement, so S10 and S01 are sums over distinct values (two O(N)
 * walks, the first for θ) and no per-patient arrays are built. This is what makes 1M scores cost
 * little more than their sort; the paired test, which must pair patients, uses the placements.
 */
export function delongVarianceOfRanked(ranked: RankedScores, auc: number): number {
  const P = ranked.casesSorted;
  const N = ranked.controlsSorted;
  const m = P.length;
  const n = N.length;
  let i = m - 1;
  let j = n - 1;
  let casesAbove = 0;
  let controlsAbove = 0;
  let ss10 = 0;
  let ss01 = 0;
  while (i >= 0 || j >= 0) {
    const v = i < 0 ? N[j] : j < 0 ? P[i] : Math.max(P[i], N[j]);
    let groupCases = 0;
    while (i >= 0 && P[i] === v) {
      groupCases++;
      i--;
    }
    let groupControls = 0;
    while (j >= 0 && N[j] === v) {
      groupControls++;
      j--;
    }
    if (groupCases > 0) {
      const controlsBelow = n - controlsAbove - groupControls;
      const x = (controlsBelow + 0.5 * groupControls) / n;
      ss10 += groupCases * (x - auc) ** 2;
    }
    if (groupControls > 0) {
      const y = (casesAbove + 0.5 * groupCases) / m;
      ss01 += groupControls * (y - auc) ** 2;
    }
    casesAbove += groupCases;
    controlsAbove += groupControls;
  }
  return ss10 / (m - 1) / m + ss01 / (n - 1) / n;
}

/** DeLong variance of one AUC from its placements: S10/m + S01/n. */
export function delongVarianceOf(p: DelongPlacements): number {
  const m = p.casePlacements.length;
  const n = p.controlPlacements.length;
  return (
    covarianceAbout(p.casePlacements, p.auc, p.casePlacements, p.auc) / m +
    covarianceAbout(p.controlPlacements, p.auc, p.controlPlacements, p.auc) / n
  );
}

export interface DelongOptions {
  direction?: Direction;
  /** Confidence level of the interval, default 0.95. */
  confLevel?: number;
}

/** An AUC with its DeLong standard error and normal confidence interval. */
export interface AucWithCi {
  auc: number;
  variance: number;
  standardError: number;
  /** auc ± z·SE clipped to [0, 1], as pROC's `ci.auc(method = "delong")`. */
  ci: [number, number];
  confLevel: number;
  nPos: number;
  nNeg: number;
}

/** Everything `phcc-fed roc` reports for one score: AUC, DeLong CI, class counts, Youden point. */
export interface RocSummary extends AucWithCi {
  youden: YoudenPoint;
  direction: Direction;
}

function normalCi(estimate: number, variance: number, confLevel: number): [number, number] {
  if (!(confLevel > 0 && confLevel < 1)) {
    throw new InputError(`confidence level must be between 0 and 1 (got ${confLevel})`);
  }
  const half = qnorm(1 - (1 - confLevel) / 2) * Math.sqrt(variance);
  return [Math.max(0, estimate - half), Math.min(1, estimate + half)];
}

function ciOfRanked(ranked: RankedScores, confLevel: number): AucWithCi {
  const auc = aucOfRanked(ranked);
  const variance = delongVarianceOfRanked(ranked, auc);
  return {
    auc,
    variance,
    standardError: Math.sqrt(variance),
    ci: normalCi(auc, variance, confLevel),
    confLevel,
    nPos: ranked.cases.length,
    nNeg: ranked.controls.length,
  };
}

/** AUC with DeLong variance and confidence interval (needs ≥ 2 cases and ≥ 2 controls). */
export function delongCi(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: DelongOptions = {},
): AucWithCi {
  const ranked = rankScores(splitScores(labels, scores, options.direction ?? '<', 2));
  return ciOfRanked(ranked, options.confLevel ?? 0.95);
}

/** AUC, DeLong CI and Youden point from one sort of the data. */
export function rocSummary(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: DelongOptions = {},
): RocSummary {
  const direction = options.direction ?? '<';
  const ranked = rankScores(splitScores(labels, scores, direction, 2));
  return { ...ciOfRanked(ranked, options.confLevel ?? 0.95), youden: youdenOfRanked(ranked), direction };
}

/** Result of comparing two AUCs. */
export interface AucComparison {
  auc1: number;
  auc2: number;
  /** auc1 − auc2. */
  difference: number;
  /** Variance of the difference. */
  varianceOfDifference: number;
  /** The test statistic: z (paired, normal) or D (unpaired, Student t with `df`). */
  statistic: number;
  /** Two-sided p value. */
  p: number;
  /** Degrees of freedom of the unpaired test; undefined for the paired (normal) test. */
  df?: number;
  /** Confidence interval of the difference (normal, paired test only, as pROC's `conf.int`). */
  differenceCi?: [number, number];
}

/**
 * DeLong's test of two correlated AUCs measured on the same patients (pROC's
 * `roc.test(method = "delong", paired = TRUE)`): z = (θ1 − θ2) / √(L·S·Lᵀ) with S the 2×2
 * covariance of the placements, two-sided normal p value.
 */
export function delongPairedTest(
  labels: ArrayLike<number>,
  scores1: ArrayLike<number>,
  scores2: ArrayLike<number>,
  options: DelongOptions = {},
): AucComparison {
  const pair = delongPairedCovariance(labels, scores1, scores2, options.direction ?? '<');
  const varianceOfDifference = pair.varA + pair.varB - 2 * pair.covAB;
  const difference = pair.aucA - pair.aucB;
  const statistic = zOf(difference, varianceOfDifference);
  return {
    auc1: pair.aucA,
    auc2: pair.aucB,
    difference,
    varianceOfDifference,
    statistic,
    p: twoSidedNormalP(statistic),
    differenceCi: normalDifferenceCi(difference, varianceOfDifference, options.confLevel ?? 0.95),
  };
}

/**
 * Two models scored on the same patients: each AUC, each DeLong variance and the DeLong
 * covariance of the pair (pROC's `var(roc)` and `cov(roc1, roc2, method = "delong")`). Seven
 * numbers that a site can release instead of its patients' scores: enough for the paired test
 * here and for combining sites (meta-analysis.ts).
 */
export interface PairedAucCovariance {
  aucA: number;
  aucB: number;
  varA: number;
  varB: number;
  covAB: number;
  nPos: number;
  nNeg: number;
}

export function delongPairedCovariance(
  labels: ArrayLike<number>,
  scoresA: ArrayLike<number>,
  scoresB: ArrayLike<number>,
  direction: Direction = '<',
): PairedAucCovariance {
  const pA = placementsOfRanked(rankScores(splitScores(labels, scoresA, direction, 2, 'first scores')));
  const pB = placementsOfRanked(rankScores(splitScores(labels, scoresB, direction, 2, 'second scores')));
  const m = pA.casePlacements.length;
  const n = pA.controlPlacements.length;
  const cov = (a: DelongPlacements, b: DelongPlacements): number =>
    covarianceAbout(a.casePlacements, a.auc, b.casePlacements, b.auc) / m +
    covarianceAbout(a.controlPlacements, a.auc, b.controlPlacements, b.auc) / n;
  return {
    aucA: pA.auc,
    aucB: pB.auc,
    varA: cov(pA, pA),
    varB: cov(pB, pB),
    covAB: cov(pA, pB),
    nPos: m,
    nNeg: n,
  };
}

function normalDifferenceCi(difference: number, variance: number, confLevel: number): [number, number] {
  const half = qnorm(1 - (1 - confLevel) / 2) * Math.sqrt(Math.max(0, variance));
  return [difference - half, difference + half];
}

/** Identical curves give 0/0: pROC reports z = 0 (p = 1) there, and so do we. */
function zOf(difference: number, variance: number): number {
  const se = Math.sqrt(Math.max(0, variance));
  if (se === 0) return difference === 0 ? 0 : difference > 0 ? Infinity : -Infinity;
  return difference / se;
}

/** One independent sample for the unpaired test. */
export interface LabelledScores {
  labels: ArrayLike<number>;
  scores: ArrayLike<number>;
}

/**
 * DeLong's test of two AUCs from independent samples (pROC's `roc.test(method = "delong",
 * paired = FALSE)`): D = (θ1 − θ2)/√(V1 + V2), referred to a Student t with the
 * Welch–Satterthwaite-like df = (V1 + V2)² / (V1²/(N1 − 1) + V2²/(N2 − 1)), N = cases + controls.
 */
export function delongUnpairedTest(
  sample1: LabelledScores,
  sample2: LabelledScores,
  options: DelongOptions = {},
): AucComparison {
  const direction = options.direction ?? '<';
  const ranked1 = rankScores(splitScores(sample1.labels, sample1.scores, direction, 2, 'first sample'));
  const ranked2 = rankScores(splitScores(sample2.labels, sample2.scores, direction, 2, 'second sample'));
  const auc1 = aucOfRanked(ranked1);
  const auc2 = aucOfRanked(ranked2);
  const var1 = delongVarianceOfRanked(ranked1, auc1);
  const var2 = delongVarianceOfRanked(ranked2, auc2);
  const total1 = sample1.labels.length;
  const total2 = sample2.labels.length;
  const difference = auc1 - auc2;
  const statistic = zOf(difference, var1 + var2);
  const df = (var1 + var2) ** 2 / (var1 ** 2 / (total1 - 1) + var2 ** 2 / (total2 - 1));
  return {
    auc1,
    auc2,
    difference,
    varianceOfDifference: var1 + var2,
    statistic,
    df,
    p: statistic === 0 ? 1 : Number.isFinite(statistic) ? twoSidedTP(statistic, df) : 0,
  };
}

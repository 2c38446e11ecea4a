/**
 * How separable the generated classes are: the AUC of each phenotype tendency alone and of the
 * Bayes-optimal score using all of them (the true log-likelihood ratio). docs/SYNTHETIC.md quotes
 * these; the tests hold them in the bands.
 */
import { IMAGE_FEATURES, ImageFeature } from './image-features';
import { PHENOTYPE_EFFECTS, PHENOTYPE_FEATURES, PhenotypeFeature, TumourPhenotype } from './phenotype';

/**
 * Mann–Whitney AUC = P(score of a positive > score of a negative), ties counting ½.
 * Kept local (O(n log n), no dependencies) so the generator does not depend on libs/metrics.
 */
export function mannWhitneyAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSumPositive = 0;
  let nPos = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]] === scores[order[start]]) end++;
    const midRank = (start + end) / 2 + 1; // 1-based average rank of the tie group
    for (let r = start; r <= end; r++) {
      if (positive[order[r]]) {
        rankSumPositive += midRank;
        nPos++;
      }
    }
    start = end + 1;
  }
  const nNeg = order.length - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSumPositive - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** The physical parameter behind each tendency, oriented so that higher = "more proliferative". */
export const FEATURE_SCORES: Readonly<Record<PhenotypeFeature, (p: TumourPhenotype) => number>> = {
  size: (p) => p.diameterMm,
  rim: (p) => p.necroticFraction,
  margin: (p) => p.marginIrregularity,
  washout: (p) => p.tumourKep,
  hbp: (p) => -p.hepatocyteFraction,
  capsule: (p) => -p.capsuleStrength,
};

export interface SeparabilityReport {
  patients: number;
  positives: number;
  /** AUC of each tendency alone (physical parameter, oriented as in FEATURE_SCORES). */
  featureAuc: Record<PhenotypeFeature, number>;
  /** AUC of the true log-likelihood ratio: the best any model could do with perfect features. */
  oracleAuc: number;
  /** What the equal-variance Gaussian design predicts: Φ(effect/√2) per feature, Φ(√Σeffect²/√2) all. */
  expectedFeatureAuc: Record<PhenotypeFeature, number>;
  expectedOracleAuc: number;
}

export function separabilityReport(phenotypes: TumourPhenotype[]): SeparabilityReport {
  const labels = phenotypes.map((p) => p.proliferative);
  const featureAuc = {} as Record<PhenotypeFeature, number>;
  const expectedFeatureAuc = {} as Record<PhenotypeFeature, number>;
  let sumSquares = 0;
  for (const f of PHENOTYPE_FEATURES) {
    featureAuc[f] = mannWhitneyAuc(phenotypes.map(FEATURE_SCORES[f]), labels);
    expectedFeatureAuc[f] = normalCdf(Math.abs(PHENOTYPE_EFFECTS[f]) / Math.SQRT2);
    sumSquares += PHENOTYPE_EFFECTS[f] ** 2;
  }
  return {
    patients: phenotypes.length,
    positives: labels.filter(Boolean).length,
    featureAuc,
    oracleAuc: mannWhitneyAuc(
      phenotypes.map((p) => p.logLikelihoodRatio),
      labels,
    ),
    expectedFeatureAuc,
    expectedOracleAuc: normalCdf(Math.sqrt(sumSquares) / Math.SQRT2),
  };
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

export interface ImageFeatureReport {
  patients: number;
  /** AUC of each image measurement alone (oriented as documented in image-features.ts). */
  featureAuc: Record<ImageFeature, number>;
  /** AUC of the sum of the z-scored measurements: a naive combined reader, no fitting. */
  combinedAuc: number;
}

/** Separability as seen in the pixels (measureImageFeatures of each generated patient). */
export function imageFeatureReport(
  features: Record<ImageFeature, number>[],
  labels: boolean[],
): ImageFeatureReport {
  const featureAuc = {} as Record<ImageFeature, number>;
  const combined = new Float64Array(features.length);
  for (const f of IMAGE_FEATURES) {
    const values = features.map((x) => x[f]);
    featureAuc[f] = mannWhitneyAuc(values, labels);
    const m = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / values.length) || 1;
    values.forEach((v, i) => (combined[i] += (v - m) / sd));
  }
  return { patients: features.length, featureAuc, combinedAuc: mannWhitneyAuc(combined, labels) };
}

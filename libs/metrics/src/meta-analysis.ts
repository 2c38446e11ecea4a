import { InputError } from '../../common/src';
import { PairedAucCovariance } from './delong';
import { chiSquareUpperP, qnorm, twoSidedNormalP } from './distributions';

/**
 * Combining sites without pooling their patients: each site computes an estimate and its variance
 * on its own patients (an AUC, or the difference of two models' AUCs with the DeLong covariance
 * of the pair), and the coordinator combines them by fixed-effect inverse-variance weighting —
 * the meta-analysis of independent studies (metafor's `rma(yi, vi, method = "FE")`):
 *
 *   w_k = 1/v_k,  θ̂ = Σ w_k·y_k / Σ w_k,  Var θ̂ = 1/Σ w_k,
 *   z = θ̂/SE,  CI = θ̂ ± z_{1−α/2}·SE,
 *   Q = Σ w_k (y_k − θ̂)²  ~ χ²(K − 1) under homogeneity,  I² = max(0, (Q − (K − 1))/Q).
 *
 * Fixed effect answers "what is the common difference across these sites", which is the
 * comparison of two training methods evaluated on the same sites; Q and I² say how far the sites
 * disagree, so a reader sees when one number hides heterogeneity.
 */
export interface SiteEstimate {
  /** Names the site in errors and in the per-site table. */
  site: string;
  estimate: number;
  variance: number;
}

export interface FixedEffectSite extends SiteEstimate {
  /** Share of the total weight, 1/v_k ÷ Σ 1/v. */
  weight: number;
  ci: [number, number];
}

export interface FixedEffectResult {
  estimate: number;
  variance: number;
  standardError: number;
  ci: [number, number];
  confLevel: number;
  /** Wald statistic θ̂/SE and its two-sided normal p value (H0: θ = 0). */
  z: number;
  p: number;
  /** Cochran's Q, its degrees of freedom K − 1 and χ² p value (null with one site). */
  q: number;
  qDf: number;
  qP: number | null;
  /** Higgins' I² in [0, 1]: share of the variation across sites beyond chance. */
  i2: number;
  sites: FixedEffectSite[];
}

function halfWidth(variance: number, confLevel: number): number {
  if (!(confLevel > 0 && confLevel < 1)) {
    throw new InputError(`confidence level must be between 0 and 1 (got ${confLevel})`);
  }
  return qnorm(1 - (1 - confLevel) / 2) * Math.sqrt(variance);
}

/** Fixed-effect inverse-variance combination of per-site estimates. */
export function fixedEffect(sites: readonly SiteEstimate[], confLevel = 0.95): FixedEffectResult {
  if (sites.length === 0) throw new InputError('fixed-effect combination: no sites');
  for (const s of sites) {
    if (!Number.isFinite(s.estimate))
      throw new InputError(`site ${s.site}: estimate ${s.estimate} is not a finite number`);
    // A zero variance would take all the weight: two identical models at a site, or a site too
    // small for DeLong. Refused by name rather than silently dropped.
    if (!(s.variance > 0 && Number.isFinite(s.variance)))
      throw new InputError(
        `site ${s.site}: variance ${s.variance} must be positive and finite to weight the site (identical scores?)`,
      );
  }
  const weights = sites.map((s) => 1 / s.variance);
  const total = weights.reduce((a, w) => a + w, 0);
  const estimate = sites.reduce((a, s, k) => a + weights[k] * s.estimate, 0) / total;
  const variance = 1 / total;
  const half = halfWidth(variance, confLevel);
  const q = sites.reduce((a, s, k) => a + weights[k] * (s.estimate - estimate) ** 2, 0);
  const qDf = sites.length - 1;
  const z = estimate / Math.sqrt(variance);
  return {
    estimate,
    variance,
    standardError: Math.sqrt(variance),
    ci: [estimate - half, estimate + half],
    confLevel,
    z,
    p: twoSidedNormalP(z),
    q,
    qDf,
    qP: qDf > 0 ? chiSquareUpperP(q, qDf) : null,
    i2: q > 0 ? Math.max(0, (q - qDf) / q) : 0,
    sites: sites.map((s, k) => {
      const h = halfWidth(s.variance, confLevel);
      return { ...s, weight: weights[k] / total, ci: [s.estimate - h, s.estimate + h] };
    }),
  };
}

/** One site's paired aggregates, as its evaluation task returns them. */
export interface SitePairedAuc extends PairedAucCovariance {
  site: string;
}

/**
 * Whether inverse-variance weighting can weight this site's pair: both DeLong variances and the
 * variance of the difference positive. Zero means both models separate the site's classes
 * perfectly, or rank its patients alike (identical models): the site carries no weight that the
 * combination could give it, so callers leave it out by name (never with infinite weight).
 */
export function pairIsWeightable(p: Pick<PairedAucCovariance, 'varA' | 'varB' | 'covAB'>): boolean {
  return p.varA > 0 && p.varB > 0 && p.varA + p.varB - 2 * p.covAB > 1e-15;
}

/** The combined difference AUC_A − AUC_B across sites, with each model's site-stratified AUC. */
export interface PairedDifferenceAcrossSites {
  difference: FixedEffectResult;
  /** Fixed-effect (site-stratified) AUC of model A and of model B. */
  aucA: FixedEffectResult;
  aucB: FixedEffectResult;
  nPos: number;
  nNeg: number;
}

/**
 * Sites each scored two models on the same patients; the difference at site k is
 * d_k = AUC_A − AUC_B with Var d_k = V_A + V_B − 2·Cov_AB (DeLong), and the d_k are combined by
 * `fixedEffect`. Sites are independent samples, so no covariance across sites is needed.
 */
export function pairedDifferenceAcrossSites(
  sites: readonly SitePairedAuc[],
  confLevel = 0.95,
): PairedDifferenceAcrossSites {
  for (const s of sites) {
    for (const key of ['aucA', 'aucB', 'varA', 'varB', 'covAB'] as const) {
      if (!Number.isFinite(s[key])) throw new InputError(`site ${s.site}: ${key} ${s[key]} is not finite`);
    }
  }
  const of = (pick: (s: SitePairedAuc) => [number, number]): SiteEstimate[] =>
    sites.map((s) => {
      const [estimate, variance] = pick(s);
      return { site: s.site, estimate, variance };
    });
  return {
    difference: fixedEffect(
      of((s) => [s.aucA - s.aucB, s.varA + s.varB - 2 * s.covAB]),
      confLevel,
    ),
    aucA: fixedEffect(
      of((s) => [s.aucA, s.varA]),
      confLevel,
    ),
    aucB: fixedEffect(
      of((s) => [s.aucB, s.varB]),
      confLevel,
    ),
    nPos: sites.reduce((a, s) => a + s.nPos, 0),
    nNeg: sites.reduce((a, s) => a + s.nNeg, 0),
  };
}

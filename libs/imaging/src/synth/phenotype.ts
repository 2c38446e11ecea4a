/**
 * The tumour's phenotype: the label and six imaging tendencies of proliferative HCC (size, rim
 * arterial enhancement, margin irregularity, washout, hepatobiliary hypointensity, and — the other
 * way — a capsule). Each tendency is a latent z-score shifted by ± effect/2 with the class, so each
 * alone separates the classes weakly (AUC = Φ(effect/√2) ≈ 0.69–0.71) and all six together well
 * (AUC = Φ(√Σeffect²/√2) ≈ 0.90): tendencies with overlap, as in the radiology literature.
 */
import { Rng } from '../../../common/src';

export const PHENOTYPE_FEATURES = ['size', 'rim', 'margin', 'washout', 'hbp', 'capsule'] as const;
export type PhenotypeFeature = (typeof PHENOTYPE_FEATURES)[number];

/**
 * Class separation of each latent in standard deviations, signed: + means "higher in
 * proliferative tumours". Chosen for the target bands, no single source.
 */
export const PHENOTYPE_EFFECTS: Readonly<Record<PhenotypeFeature, number>> = {
  size: 0.8,
  rim: 0.8,
  margin: 0.7,
  washout: 0.75,
  hbp: 0.7,
  capsule: -0.7,
};

export interface TumourPhenotype {
  proliferative: boolean;
  /** The latent z-scores that drive the physical parameters below. */
  latent: Record<PhenotypeFeature, number>;
  /** log P(latent | proliferative) / P(latent | not): the Bayes-optimal score without the prior. */
  logLikelihoodRatio: number;
  diameterMm: number;
  /** Radius of the necrotic core as a fraction of the tumour radius (rim pattern when large). */
  necroticFraction: number;
  /** 0 = smooth, 1 = strongly lobulated margin. */
  marginIrregularity: number;
  /** Tumour efflux rate constant kep (1/min): higher = faster washout. */
  tumourKep: number;
  /** Tumour hepatocyte uptake as a fraction of the patient's liver uptake (lower = darker HBP). */
  hepatocyteFraction: number;
  /** 0 = no capsule, 1 = thick, strongly enhancing delayed capsule. */
  capsuleStrength: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** Draw one patient's phenotype given the site's prevalence. */
export function drawPhenotype(rng: Rng, prevalence: number): TumourPhenotype {
  const proliferative = rng.bernoulli(prevalence);
  const sign = proliferative ? 0.5 : -0.5;
  const latent = {} as Record<PhenotypeFeature, number>;
  let logLikelihoodRatio = 0;
  for (const f of PHENOTYPE_FEATURES) {
    const effect = PHENOTYPE_EFFECTS[f];
    latent[f] = sign * effect + rng.normal();
    // Two unit-variance normals ±effect/2 apart: log LR = effect · z.
    logLikelihoodRatio += effect * latent[f];
  }
  return { proliferative, latent, logLikelihoodRatio, ...physicalParameters(latent) };
}

/** Monotone maps from latents to physical parameters (monotone, so per-feature AUCs carry over). */
export function physicalParameters(z: Record<PhenotypeFeature, number>) {
  return {
    // Median 30 mm, ≈ 15–60 mm: the size range of resected HCC series.
    diameterMm: clamp(30 * Math.exp(0.33 * z.size), 12, 75),
    necroticFraction: 0.7 * sigmoid(1.8 * z.rim - 0.6),
    marginIrregularity: sigmoid(1.6 * z.margin),
    tumourKep: clamp(2 * Math.exp(0.45 * z.washout), 0.5, 8),
    hepatocyteFraction: 0.55 * sigmoid(-1.5 * z.hbp - 0.3),
    capsuleStrength: sigmoid(1.6 * z.capsule - 0.2),
  };
}

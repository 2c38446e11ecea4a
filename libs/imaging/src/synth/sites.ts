/**
 * What differs between hospitals: scanner, protocol and population. Each site's profile is drawn
 * once from its seed; the ranges are those of clinical liver DCE-MRI protocols (see
 * docs/SYNTHETIC.md) and are what makes federated training non-IID.
 */
import { Rng } from '../../../common/src';
import { FieldStrength } from './physics/signal';

/**
 * The contrast agent, which decides the protocol: gadoxetate (hepatobiliary uptake, six phases up
 * to the 20-minute hepatobiliary phase) or an extracellular agent (no uptake, the usual four
 * phases: pre-contrast, arterial, portal venous, delayed).
 */
export type ContrastAgent = 'gadoxetate' | 'extracellular';
export const CONTRAST_AGENTS: readonly ContrastAgent[] = ['gadoxetate', 'extracellular'];

export interface SiteProfile {
  /** `site-a`, `site-b`, … */
  name: string;
  agent: ContrastAgent;
  /** Upper-case letter(s) used in patient ids (A0001). */
  code: string;
  index: number;
  seed: number;
  fieldStrength: FieldStrength;
  /** In-plane voxel size and slice thickness, mm. */
  inPlaneMm: number;
  sliceMm: number;
  /** Matrix: columns = rows (in-plane) and slices. */
  matrix: number;
  slices: number;
  /** Spoiled gradient-echo protocol. */
  trMs: number;
  flipDeg: number;
  /** Receiver gain (arbitrary scanner units per unit M0·signal). */
  gain: number;
  /** Liver signal-to-noise ratio on the pre-contrast phase. */
  snr: number;
  /** Strength of the smooth receive-coil bias field: its polynomial coefficients are N(0, (a/2)²) in log-intensity. */
  biasAmplitude: number;
  /** Coefficients of the site's bias polynomial (x, y, z, x², y², xy), before scaling. */
  biasCoefficients: number[];
  /** Phase timing protocol, seconds (arterial ones relative to bolus arrival in the aorta). */
  timing: {
    earlyArterialAfterArrival: number;
    lateArterialAfterArrival: number;
    portalVenous: number;
    transitional: number;
    hepatobiliary: number;
  };
  /** Share of proliferative tumours among this site's patients. */
  prevalence: number;
  /** Share of training patients with a known label (the rest feed self-supervision only). */
  labelledFraction: number;
  /** Axis signs of the written affine: dcm2niix-style LPS→RAS flips at some sites, not others. */
  axisFlips: [1 | -1, 1 | -1];
}

/** Round to a multiple of step, without binary-fraction tails (1.88, not 1.8800000000000001). */
const round = (x: number, step: number) => Number((Math.round(x / step) * step).toFixed(6));
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** Letters for site names: a…z, then aa, ab, … */
export function siteLetters(index: number): string {
  let n = index;
  let s = '';
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return s;
}

export interface SiteDrawOptions {
  /** Field strength alternates across sites, so that any two sites mix 1.5 T and 3 T; this picks the start. */
  firstSiteIs3T: boolean;
  /** Overrides the site's own draw when the user sets one. */
  labelledFraction?: number;
  /** Default gadoxetate; not drawn, so a site's other draws do not depend on it. */
  agent?: ContrastAgent;
}

/** Draw site `index`'s profile from its own random stream. */
export function drawSiteProfile(
  index: number,
  seed: number,
  rng: Rng,
  options: SiteDrawOptions,
): SiteProfile {
  const letters = siteLetters(index);
  const fieldStrength: FieldStrength = (index % 2 === 1) !== options.firstSiteIs3T ? 3 : 1.5;
  const inPlaneMm = round(rng.uniform(1.2, 1.9), 0.01);
  const sliceMm = round(rng.uniform(3, 5), 0.5);
  // Field of view ≈ 150–170 mm in-plane (a liver-region crop), 70–90 mm through-plane.
  const matrix = clamp(round(rng.uniform(150, 170) / inPlaneMm, 8), 96, 128);
  const slices = clamp(Math.round(rng.uniform(70, 90) / sliceMm), 16, 24);
  return {
    name: `site-${letters}`,
    agent: options.agent ?? 'gadoxetate',
    code: letters.toUpperCase(),
    index,
    seed,
    fieldStrength,
    inPlaneMm,
    sliceMm,
    matrix,
    slices,
    trMs: round(rng.uniform(3.2, 4.5), 0.01),
    flipDeg: round(rng.uniform(10, 15), 0.5),
    gain: round(10000 * Math.exp(rng.uniform(Math.log(0.6), Math.log(1.6))), 1),
    snr: round(rng.uniform(15, 40), 0.1),
    biasAmplitude: round(rng.uniform(0.08, 0.3), 0.01),
    biasCoefficients: Array.from({ length: 6 }, () => rng.normal()),
    timing: {
      earlyArterialAfterArrival: round(rng.uniform(5, 9), 0.1),
      lateArterialAfterArrival: round(rng.uniform(15, 22), 0.1),
      portalVenous: round(rng.uniform(60, 80), 0.1),
      transitional: round(rng.uniform(150, 210), 0.1),
      // Hepatobiliary phase at 20 min by the label; some centres image at 15 min.
      hepatobiliary: rng.bernoulli(0.35) ? 900 : 1200,
    },
    prevalence: round(clamp(rng.normal(0.5, 0.08), 0.35, 0.65), 0.01),
    labelledFraction: options.labelledFraction ?? round(rng.uniform(0.4, 0.8), 0.01),
    axisFlips: rng.bernoulli(0.5) ? [-1, -1] : [1, 1],
  };
}

import { InputError } from '../../../../common/src';
import { erfc } from '../../../../metrics/src/distributions';

/**
 * Rényi-DP accountant for the (Poisson-)subsampled Gaussian mechanism, the accountant of
 * TF-Privacy / Google's dp_accounting and Opacus.
 *
 * RDP of one step at order α with sampling rate q and noise multiplier σ (Mironov, Talwar &
 * Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism"): ε(α) =
 * log A_α / (α − 1) with A_α = E_{z∼μ0}[((1−q) + q·μ1(z)/μ0(z))^α], μ0 = N(0, σ²),
 * μ1 = N(1, σ²); A_α is a finite binomial sum for integer α and a two-sided series with erfc
 * tails for fractional α (§3.3 of the paper). Steps compose by adding RDP per order. The
 * (ε, δ) conversion is Balle et al. 2020 (Thm 21), as dp_accounting and Opacus use:
 * ε = min_α RDP(α) + log1p(−1/α) − log(δ·α)/(α − 1).
 *
 * Checked against dp_accounting's published test values and an independent numerical
 * integration (rdp-accountant.spec.ts).
 *
 * In federated learning with DP at the aggregate (DP-FedAvg, McMahan et al. 2018) a "step" is a
 * round, q is the share of sites sampled per round (1 when all take part) and the unit of
 * privacy is a whole site's contribution.
 */

/** Opacus's default orders: 1.1 … 10.9 by 0.1, then 12 … 63. */
export const DEFAULT_RDP_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 52 }, (_, x) => 12 + x),
];

export interface GaussianStep {
  noiseMultiplier: number;
  /** Probability that a given site (or record) takes part in the step; 1 = always. */
  sampleRate: number;
  /** Identical steps to compose (default 1). */
  steps?: number;
}

export interface PrivacySpent {
  epsilon: number;
  delta: number;
  /** The Rényi order at which the bound was tightest. */
  order: number;
}

/** ε(α) of one step of the subsampled Gaussian mechanism. */
export function rdpSubsampledGaussian(sampleRate: number, noiseMultiplier: number, order: number): number {
  const q = sampleRate;
  const sigma = noiseMultiplier;
  if (q === 0) return 0;
  if (sigma === 0) return Infinity;
  if (!Number.isFinite(order)) return Infinity;
  if (q === 1) return order / (2 * sigma * sigma);
  return logA(q, sigma, order) / (order - 1);
}

function logA(q: number, sigma: number, alpha: number): number {
  return Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
}

/** Integer α: A = Σ_i C(α, i) q^i (1−q)^(α−i) exp((i² − i)/(2σ²)), summed in log space. */
function logAInt(q: number, sigma: number, alpha: number): number {
  let result = -Infinity;
  let logBinom = 0; // log C(α, 0)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    const term =
      logBinom + i * Math.log(q) + (alpha - i) * Math.log1p(-q) + (i * i - i) / (2 * sigma * sigma);
    result = logAdd(result, term);
  }
  return result;
}

/**
 * Fractional α: the two series of Mironov et al. §3.3, each term weighted by an erfc tail. The
 * generalised binomial coefficients alternate in sign past i = ⌈α⌉; like dp_accounting today we
 * add their absolute values, which bounds A_α from above (a conservative ε, and what the
 * published reference values assume). Stops once terms fall and are below e^−30.
 */
function logAFrac(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  let lastS0 = -Infinity;
  let lastS1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  let logCoef = 0; // log |C(α, i)|
  for (let i = 0; i < MAX_FRACTIONAL_TERMS; i++) {
    if (i > 0) logCoef += Math.log(Math.abs((alpha - i + 1) / i));
    const j = alpha - i;
    const logT0 = logCoef + i * Math.log(q) + j * Math.log1p(-q);
    const logT1 = logCoef + j * Math.log(q) + i * Math.log1p(-q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    logA0 = logAdd(logA0, logS0);
    logA1 = logAdd(logA1, logS1);
    if (logS0 < lastS0 && logS1 < lastS1 && Math.max(logS0, logS1) < -30) break;
    lastS0 = logS0;
    lastS1 = logS1;
  }
  return logAdd(logA0, logA1);
}

const MAX_FRACTIONAL_TERMS = 1000;

/** log erfc(x), accurate deep into the right tail where erfc underflows. */
export function logErfc(x: number): number {
  if (x < 25) return Math.log(erfc(x));
  // Asymptotic series: erfc(x) = e^{−x²}/(x√π)·(1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + …).
  const r = 1 / (x * x);
  return (
    -x * x -
    Math.log(x) -
    0.5 * Math.log(Math.PI) +
    Math.log(1 - r / 2 + (3 * r * r) / 4 - (15 * r * r * r) / 8)
  );
}

function logAdd(a: number, b: number): number {
  const hi = Math.max(a, b);
  const lo = Math.min(a, b);
  if (hi === -Infinity) return -Infinity;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/** (ε, δ) from RDP values per order: Balle et al. 2020's conversion, minimised over orders. */
export function epsilonFromRdp(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
): PrivacySpent {
  checkDelta(delta);
  let best: PrivacySpent = { epsilon: Infinity, delta, order: NaN };
  orders.forEach((a, k) => {
    const r = rdp[k];
    let eps: number;
    if (delta * delta + Math.expm1(-r) > 0) eps = 0;
    else if (a > 1.01) eps = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1);
    else eps = Infinity;
    if (eps < best.epsilon) best = { epsilon: Math.max(0, eps), delta, order: a };
  });
  return best;
}

function checkDelta(delta: number): void {
  if (!(delta > 0 && delta < 1)) throw new InputError(`delta must be in (0, 1) (got ${delta})`);
}

/**
 * Composes steps and reports the privacy spent. One per run: `compose` each round as it is
 * aggregated, `spent(δ)` for the run so far; `roundEpsilon` for what one round alone costs.
 */
export class RdpAccountant {
  private readonly rdp: number[];

  constructor(readonly orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    if (orders.length === 0 || orders.some((a) => !(a > 1)))
      throw new InputError('RDP orders must all be > 1');
    this.rdp = orders.map(() => 0);
  }

  compose(step: GaussianStep): this {
    const steps = step.steps ?? 1;
    checkStep(step);
    this.orders.forEach(
      (a, k) => (this.rdp[k] += steps * rdpSubsampledGaussian(step.sampleRate, step.noiseMultiplier, a)),
    );
    return this;
  }

  spent(delta: number): PrivacySpent {
    return epsilonFromRdp(this.orders, this.rdp, delta);
  }

  rdpValues(): readonly number[] {
    return [...this.rdp];
  }
}

/** ε of one step alone (a round's own cost, as reported per round). */
export function roundEpsilon(step: GaussianStep, delta: number, orders = DEFAULT_RDP_ORDERS): PrivacySpent {
  return new RdpAccountant(orders).compose({ ...step, steps: 1 }).spent(delta);
}

/**
 * The smallest noise multiplier (to 1e-3 relative) for which `steps` steps at `sampleRate`
 * stay within `targetEpsilon` at `delta`: the plan's `targetEpsilon` turned into σ.
 */
export function noiseMultiplierFor(
  targetEpsilon: number,
  delta: number,
  sampleRate: number,
  steps: number,
): number {
  if (!(targetEpsilon > 0) || !Number.isFinite(targetEpsilon))
    throw new InputError(`targetEpsilon must be > 0 (got ${targetEpsilon})`);
  checkDelta(delta);
  const eps = (sigma: number) =>
    new RdpAccountant().compose({ noiseMultiplier: sigma, sampleRate, steps }).spent(delta).epsilon;
  let lo = 0.01;
  let hi = 1;
  while (eps(hi) > targetEpsilon) {
    hi *= 2;
    if (hi > 1e6) throw new InputError(`no noise multiplier below 1e6 reaches ε = ${targetEpsilon}`);
  }
  while ((hi - lo) / hi > 1e-3) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > targetEpsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}

function checkStep(step: GaussianStep): void {
  const steps = step.steps ?? 1;
  if (!(step.noiseMultiplier >= 0) || !Number.isFinite(step.noiseMultiplier)) {
    throw new InputError(`noiseMultiplier must be a finite number ≥ 0 (got ${step.noiseMultiplier})`);
  }
  if (!(step.sampleRate >= 0 && step.sampleRate <= 1))
    throw new InputError(`sampleRate must be in [0, 1] (got ${step.sampleRate})`);
  if (!Number.isInteger(steps) || steps < 0)
    throw new InputError(`steps must be a non-negative integer (got ${steps})`);
}

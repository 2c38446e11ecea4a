/**
 * Contrast-agent concentration in blood: the Parker population arterial input function, a
 * bi-exponential late tail for acquisitions that run past Parker's fitting window (the
 * hepatobiliary phase is ~20 min), and the portal-venous input of the liver.
 * Times in minutes, concentrations in mmol/L (mM). Every constant is listed, with its source,
 * in docs/SYNTHETIC.md.
 */

/** Parker GJM et al. 2006, Magn Reson Med 56:993–1000, Table 1 (population-averaged AIF). */
export const PARKER_2006 = {
  A1: 0.809, // mmol·min/L
  A2: 0.33, // mmol·min/L
  T1: 0.17046, // min
  T2: 0.365, // min
  sigma1: 0.0563, // min
  sigma2: 0.132, // min
  alpha: 1.05, // mmol/L
  beta: 0.1685, // 1/min
  s: 38.078, // 1/min
  tau: 0.483, // min
} as const;

/** Large-vessel hematocrit used to turn whole-blood into plasma concentration (Parker 2006 used 0.42). */
export const HEMATOCRIT = 0.42;

/**
 * Whole-blood concentration (mM) of the Parker 2006 AIF at `t` minutes after bolus arrival,
 * for Parker's dose (0.1 mmol/kg); 0 before arrival.
 */
export function parkerAif(t: number): number {
  if (t <= 0) return 0;
  const p = PARKER_2006;
  const gauss = (a: number, mu: number, sigma: number) =>
    (a / (sigma * Math.sqrt(2 * Math.PI))) * Math.exp(-((t - mu) ** 2) / (2 * sigma * sigma));
  return (
    gauss(p.A1, p.T1, p.sigma1) +
    gauss(p.A2, p.T2, p.sigma2) +
    (p.alpha * Math.exp(-p.beta * t)) / (1 + Math.exp(-p.s * (t - p.tau)))
  );
}

export interface LateTail {
  /** Minutes after arrival where the tail takes over from Parker's curve (its fitting window ended ≈ 5 min). */
  start: number;
  /** Fraction of the tail in the fast (distribution) exponential. */
  fastFraction: number;
  /** Half-lives (min) of the distribution and elimination exponentials. */
  fastHalfLife: number;
  slowHalfLife: number;
}

/**
 * Gadoxetate plasma tail: distribution half-life ≈ 0.2 h as for extracellular Gd chelates
 * (Weinmann 1984, AJR 142:619), terminal half-life ≈ 56 min (Hamm 1995, Radiology 195:785);
 * start and fraction chosen for realism (no single source).
 */
export const GADOXETATE_TAIL: LateTail = { start: 5, fastFraction: 0.6, fastHalfLife: 12, slowHalfLife: 56 };

/**
 * Whole-blood AIF (mM) for a given dose relative to Parker's 0.1 mmol/kg, continued after
 * `tail.start` by a bi-exponential that matches Parker's value there: Parker's own sigmoid term
 * decays with a 4-min half-life, much faster than plasma clearance, which would make the
 * hepatobiliary phase unrealistically empty of agent.
 */
export function bloodAif(t: number, doseScale: number, tail: LateTail = GADOXETATE_TAIL): number {
  if (t <= tail.start) return doseScale * parkerAif(t);
  const dt = t - tail.start;
  const decay =
    tail.fastFraction * Math.exp((-Math.LN2 * dt) / tail.fastHalfLife) +
    (1 - tail.fastFraction) * Math.exp((-Math.LN2 * dt) / tail.slowHalfLife);
  return doseScale * parkerAif(tail.start) * decay;
}

/** A concentration curve sampled on a uniform time grid starting at t = 0 (minutes). */
export interface Curve {
  dt: number;
  values: Float64Array;
}

/** Sample `f` on [0, duration] every `dt` minutes. */
export function sampleCurve(f: (t: number) => number, duration: number, dt: number): Curve {
  const n = Math.floor(duration / dt) + 1;
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = f(i * dt);
  return { dt, values };
}

/** Linear interpolation of a curve at `t` (clamped to its ends). */
export function curveAt(curve: Curve, t: number): number {
  const x = t / curve.dt;
  if (x <= 0) return curve.values[0];
  const last = curve.values.length - 1;
  if (x >= last) return curve.values[last];
  const i = Math.floor(x);
  const f = x - i;
  return curve.values[i] * (1 - f) + curve.values[i + 1] * f;
}

/** The curve delayed by `delay` minutes (zero before). */
export function delayCurve(curve: Curve, delay: number): Curve {
  const values = new Float64Array(curve.values.length);
  for (let i = 0; i < values.length; i++)
    values[i] = curveAt(curve, i * curve.dt - delay) * (i * curve.dt >= delay ? 1 : 0);
  return { dt: curve.dt, values };
}

/**
 * Convolution with a unit-area exponential e^{-t/T}/T (dispersion through a well-mixed
 * compartment): the classic model of bolus broadening between the aorta and the portal vein
 * (Materne R et al. 2000, Clin Sci 99:517). Exact for piecewise-linear input.
 */
export function disperseCurve(curve: Curve, timeConstant: number): Curve {
  if (timeConstant <= 0) return { dt: curve.dt, values: Float64Array.from(curve.values) };
  return exponentialConvolution(curve, 1 / timeConstant, 1 / timeConstant);
}

/**
 * y(t) = gain · ∫₀ᵗ x(τ) e^{-k (t-τ)} dτ, computed in O(n) by recursion with exact integration
 * of a piecewise-linear x: the workhorse of the Tofts, dispersion and hepatocyte-uptake models.
 */
export function exponentialConvolution(input: Curve, k: number, gain: number): Curve {
  const { dt, values: x } = input;
  const y = new Float64Array(x.length);
  const kdt = k * dt;
  let decay: number;
  let wPrev: number;
  let wCur: number;
  if (kdt < 1e-6) {
    decay = 1 - kdt;
    wPrev = dt / 2;
    wCur = dt / 2;
  } else {
    decay = Math.exp(-kdt);
    // ∫₀^dt of the linear ramp between x[i-1] and x[i], weighted by e^{-k(dt-s)}.
    wCur = (kdt - 1 + decay) / (k * kdt);
    wPrev = (1 - decay - kdt * decay) / (k * kdt);
  }
  for (let i = 1; i < x.length; i++) y[i] = y[i - 1] * decay + gain * (wPrev * x[i - 1] + wCur * x[i]);
  return { dt, values: y };
}

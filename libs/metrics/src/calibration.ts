import { InputError } from '../../common/src';

/**
 * Calibration of predicted probabilities (TRIPOD / Steyerberg conventions):
 * - `brier`: mean squared error of the probabilities (0 is perfect; 0.25 is a constant ½).
 * - `calibrationInTheLarge`: a in logit P(y=1) = a + 1·logit(p), i.e. the slope fixed at 1 through
 *   an offset; 0 is ideal, > 0 means the model under-predicts risk on average.
 * - `intercept`, `slope`: a and b of the joint logistic recalibration logit P(y=1) = a + b·logit(p);
 *   the slope is ideally 1, < 1 means predictions too extreme (typical of overfitting).
 * Both fits are maximum likelihood by Newton–Raphson with step halving.
 */
export interface Calibration {
  n: number;
  brier: number;
  /** Mean predicted probability and observed event rate, the raw ingredients of calibration-in-the-large. */
  meanPredicted: number;
  observedRate: number;
  calibrationInTheLarge: number;
  intercept: number;
  slope: number;
  /** False when the joint fit did not converge (e.g. scores separate the classes perfectly) or is undefined (all scores equal). */
  converged: boolean;
  /** How many probabilities were pulled in to [ε, 1 − ε] before taking logits. */
  clipped: number;
}

export interface CalibrationOptions {
  /**
   * Probabilities are clipped to [ε, 1 − ε] before the logit, default 1e-7: float32 sigmoid
   * outputs saturate to exactly 0 or 1, whose logit is infinite.
   */
  epsilon?: number;
}

export function calibration(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  options: CalibrationOptions = {},
): Calibration {
  const eps = options.epsilon ?? 1e-7;
  const n = labels.length;
  if (probabilities.length !== n)
    throw new InputError(`calibration: ${n} labels but ${probabilities.length} probabilities`);
  if (n === 0) throw new InputError('calibration: no cases');
  const y = new Float64Array(n);
  const logit = new Float64Array(n);
  let brier = 0;
  let sumP = 0;
  let clipped = 0;
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    const p = probabilities[i];
    if (label !== 0 && label !== 1)
      throw new InputError(`calibration: label at index ${i} is ${label}; labels must be 0 or 1`);
    if (!(p >= 0 && p <= 1))
      throw new InputError(`calibration: probability at index ${i} is ${p}; must be in [0, 1]`);
    y[i] = label;
    brier += (p - label) ** 2;
    sumP += p;
    const q = Math.min(1 - eps, Math.max(eps, p));
    if (q !== p) clipped++;
    logit[i] = Math.log(q / (1 - q));
  }
  const citl = fitOffsetIntercept(y, logit);
  const joint = fitInterceptSlope(y, logit);
  return {
    n,
    brier: brier / n,
    meanPredicted: sumP / n,
    observedRate: y.reduce((s, v) => s + v, 0) / n,
    calibrationInTheLarge: citl,
    intercept: joint.intercept,
    slope: joint.slope,
    converged: joint.converged,
    clipped,
  };
}

function sigmoid(eta: number): number {
  return eta >= 0 ? 1 / (1 + Math.exp(-eta)) : Math.exp(eta) / (1 + Math.exp(eta));
}

/** Bernoulli log-likelihood with linear predictor a + b·x, written to stay finite for large |η|. */
function logLikelihood(y: Float64Array, x: Float64Array, a: number, b: number): number {
  let ll = 0;
  for (let i = 0; i < y.length; i++) {
    const eta = a + b * x[i];
    // log(1 + e^η) computed without overflow
    const softplus = eta > 0 ? eta + Math.log1p(Math.exp(-eta)) : Math.log1p(Math.exp(eta));
    ll += y[i] * eta - softplus;
  }
  return ll;
}

/** a in logit P = a + offset: one-dimensional Newton. Infinite when every label is the same. */
function fitOffsetIntercept(y: Float64Array, offset: Float64Array): number {
  let a = 0;
  for (let iter = 0; iter < 200; iter++) {
    let g = 0;
    let h = 0;
    for (let i = 0; i < y.length; i++) {
      const mu = sigmoid(a + offset[i]);
      g += y[i] - mu;
      h += mu * (1 - mu);
    }
    if (h === 0) break;
    let step = g / h;
    // The log-likelihood is concave in a; halving guards against overshoot from a far start.
    const before = logLikelihood(y, offset, a, 1);
    while (Math.abs(step) > 1e-15 && logLikelihood(y, offset, a + step, 1) < before) step /= 2;
    a += step;
    if (Math.abs(step) < 1e-12 * Math.max(1, Math.abs(a))) return a;
  }
  const rate = y.reduce((s, v) => s + v, 0) / y.length;
  return rate === 0 ? -Infinity : rate === 1 ? Infinity : a;
}

/** (a, b) in logit P = a + b·x by Newton–Raphson on the 2×2 information matrix. */
function fitInterceptSlope(
  y: Float64Array,
  x: Float64Array,
): { intercept: number; slope: number; converged: boolean } {
  let a = 0;
  let b = 1;
  for (let iter = 0; iter < 100; iter++) {
    let g0 = 0;
    let g1 = 0;
    let h00 = 0;
    let h01 = 0;
    let h11 = 0;
    for (let i = 0; i < y.length; i++) {
      const mu = sigmoid(a + b * x[i]);
      const r = y[i] - mu;
      const w = mu * (1 - mu);
      g0 += r;
      g1 += r * x[i];
      h00 += w;
      h01 += w * x[i];
      h11 += w * x[i] * x[i];
    }
    const det = h00 * h11 - h01 * h01;
    if (!(det > 1e-12 * Math.max(1, h00 * h11))) return { intercept: NaN, slope: NaN, converged: false };
    let da = (h11 * g0 - h01 * g1) / det;
    let db = (h00 * g1 - h01 * g0) / det;
    const before = logLikelihood(y, x, a, b);
    for (let halvings = 0; halvings < 60 && logLikelihood(y, x, a + da, b + db) < before; halvings++) {
      da /= 2;
      db /= 2;
    }
    a += da;
    b += db;
    if (Math.abs(da) < 1e-12 * Math.max(1, Math.abs(a)) && Math.abs(db) < 1e-12 * Math.max(1, Math.abs(b))) {
      return { intercept: a, slope: b, converged: true };
    }
  }
  return { intercept: a, slope: b, converged: false };
}

/**
 * Normal and Student-t distribution functions, written out here because p values and confidence
 * limits must agree with R (pROC) to ~1e-12 and JavaScript has no erf, lgamma or incomplete beta.
 *
 * Methods are chosen for accuracy, not speed: they run a handful of times per analysis.
 */

const SQRT_PI = Math.sqrt(Math.PI);

/**
 * Complementary error function, relative accuracy ~1e-15 over the whole real line.
 * Below x = 1.5 the all-positive series erf(x) = 2/√π·e^{−x²}·Σ 2ⁿx^{2n+1}/(1·3·…·(2n+1)) has no
 * cancellation inside the sum; above it the Laplace continued fraction converges in a few dozen
 * terms and keeps full relative accuracy deep into the tail (where 1 − erf would lose it all).
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 1.5) return 1 - erfSeries(x);
  if (x > 27.3) return 0; // below the smallest subnormal double
  return (Math.exp(-x * x) / SQRT_PI) * erfcContinuedFraction(x);
}

/** Error function; see {@link erfc} for the method. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erf(-x);
  if (x < 1.5) return erfSeries(x);
  return 1 - erfc(x);
}

function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return (2 / SQRT_PI) * Math.exp(-x2) * sum;
}

/** 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) by the modified Lentz method; erfc = e^{−x²}/√π · this. */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 / f;
}

/** Standard normal cumulative distribution Φ(x) (R's `pnorm`). */
export function pnorm(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Standard normal density. */
export function dnorm(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

// Acklam's rational approximation (relative error < 1.2e-9), used only as a starting point.
const ACKLAM_A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
  2.506628277459239,
];
const ACKLAM_B = [
  -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
];
const ACKLAM_C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
];
const ACKLAM_D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

/**
 * Standard normal quantile Φ⁻¹(p) (R's `qnorm`): Acklam's approximation refined by Halley steps on
 * {@link pnorm}, so the result is as accurate as pnorm itself (~1e-15), not just 1e-9.
 */
export function qnorm(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const pLow = 0.02425;
  let x: number;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = tailApprox(q);
  } else if (p > 1 - pLow) {
    const q = Math.sqrt(-2 * Math.log1p(-p));
    x = -tailApprox(q);
  } else {
    const q = p - 0.5;
    const r = q * q;
    const [a0, a1, a2, a3, a4, a5] = ACKLAM_A;
    const [b0, b1, b2, b3, b4] = ACKLAM_B;
    x =
      ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
      (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  }
  // Halley refinement; work in the lower tail for accuracy when p is close to 1.
  for (let i = 0; i < 4; i++) {
    const e = p < 0.5 ? pnorm(x) - p : -(pnorm(-x) - (1 - p));
    const u = e / dnorm(x);
    const step = u / (1 + (x * u) / 2);
    x -= step;
    if (Math.abs(step) <= 1e-16 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

function tailApprox(q: number): number {
  const [c0, c1, c2, c3, c4, c5] = ACKLAM_C;
  const [d0, d1, d2, d3] = ACKLAM_D;
  return (
    (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
  );
}

/** Two-sided p value of a standard normal statistic: 2·Φ(−|z|), as pROC's paired DeLong test. */
export function twoSidedNormalP(z: number): number {
  if (Number.isNaN(z)) return NaN;
  return Math.min(1, 2 * pnorm(-Math.abs(z)));
}

// Lanczos approximation, g = 7, n = 9 (relative error ~1e-15 for x > 0).
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0. */
export function lgamma(x: number): number {
  if (!(x > 0)) return NaN;
  if (x < 0.5) {
    // Reflection keeps the Lanczos sum in its accurate range.
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  }
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i] / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * log B(a, b). Summing three lgamma values loses all precision when a is large (the terms are
 * ~a·ln a and cancel), which matters for the t distribution at large df; there the Stirling
 * forms are subtracted analytically and only their small corrections are evaluated.
 */
export function lnBeta(a: number, b: number): number {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  if (hi < 10) return lgamma(a) + lgamma(b) - lgamma(a + b);
  if (lo < 10) {
    return (
      lgamma(lo) +
      stirlingCorrection(hi) -
      stirlingCorrection(hi + lo) -
      (hi - 0.5) * Math.log1p(lo / hi) -
      lo * Math.log(hi + lo) +
      lo
    );
  }
  return (
    0.5 * Math.log(2 * Math.PI) -
    0.5 * Math.log(a + b) -
    (a - 0.5) * Math.log1p(b / a) -
    (b - 0.5) * Math.log1p(a / b) +
    stirlingCorrection(a) +
    stirlingCorrection(b) -
    stirlingCorrection(a + b)
  );
}

/** lgamma(x) − [(x − ½)·ln x − x + ½·ln 2π] for x ≥ 10 (Stirling series; error < 1e-17). */
function stirlingCorrection(x: number): number {
  const r = 1 / (x * x);
  return (1 / 12 - r * (1 / 360 - r * (1 / 1260 - r * (1 / 1680 - r / 1188)))) / x;
}

/**
 * Regularised incomplete beta I_x(a, b), by its continued fraction (modified Lentz), using the
 * symmetry I_x(a,b) = 1 − I_{1−x}(b,a) so the fraction is always evaluated where it converges fast.
 * `y` = 1 − x may be passed when the caller knows it more accurately than 1 − x.
 */
export function incompleteBeta(x: number, a: number, b: number, y = 1 - x): number {
  if (Number.isNaN(x) || !(a > 0) || !(b > 0)) return NaN;
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const logFront = a * Math.log(x) + b * Math.log(y) - lnBeta(a, b);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(y, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  d = Math.abs(d) < tiny ? tiny : d;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = 1 + aa / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = 1 + aa / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return h;
}

/** Student-t cumulative distribution P(T ≤ t) with (possibly non-integer) df > 0 (R's `pt`). */
export function pt(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  if (df === Infinity) return pnorm(t);
  if (df > 1e4) return ptLargeDf(t, df);
  // P(T ≤ −|t|) = ½·I_x(df/2, ½) with x = df/(df+t²) = 1/(1+r), 1 − x = r/(1+r), r = t²/df;
  // passing 1 − x separately keeps its digits when df is large and x is close to 1.
  const r = (t * t) / df;
  const tail = 0.5 * incompleteBeta(1 / (1 + r), df / 2, 0.5, r / (1 + r));
  return t < 0 ? tail : 1 - tail;
}

/**
 * Hill's normalising transformation of t (CACM Algorithm 395): its error falls like df⁻⁴, while
 * the beta continued fraction needs ~√df terms and accumulates rounding, so above df = 10⁴ this is
 * the more accurate of the two (the two agree to ~2e-13 at the switch).
 */
function ptLargeDf(t: number, df: number): number {
  const a = df - 0.5;
  const b = 48 * a * a;
  const y = a * Math.log1p((t * t) / df);
  const z =
    (((((-0.4 * y - 3.3) * y - 24) * y - 85.5) / (0.8 * y * y + 100 + b) + y + 3) / b + 1) * Math.sqrt(y);
  return t < 0 ? pnorm(-z) : 1 - pnorm(-z);
}

/** Two-sided p value of a t statistic: 2·P(T ≤ −|t|), as pROC's unpaired DeLong test. */
export function twoSidedTP(t: number, df: number): number {
  if (Number.isNaN(t)) return NaN;
  return Math.min(1, 2 * pt(-Math.abs(t), df));
}

/**
 * Regularised upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a): its series below x = a + 1 (where it
 * converges fast; Q = 1 − P) and Legendre's continued fraction (modified Lentz) above.
 */
export function upperIncompleteGamma(a: number, x: number): number {
  if (Number.isNaN(x) || !(a > 0)) return NaN;
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  const logFront = a * Math.log(x) - x - lgamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 100000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return 1 - Math.exp(logFront) * sum;
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    d = Math.abs(d) < tiny ? tiny : d;
    c = b + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(logFront) * h;
}

/** Upper tail P(X² ≥ x) of a chi-square with df > 0 (R's `pchisq(x, df, lower.tail = FALSE)`). */
export function chiSquareUpperP(x: number, df: number): number {
  if (Number.isNaN(x) || !(df > 0)) return NaN;
  return upperIncompleteGamma(df / 2, x / 2);
}

import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../select';
import { heapPointer, SimdHelpers, simdHelpers, simdHelperSwitch } from './helpers';

/**
 * The GELU helpers (gelu-wat.ts) called directly on the wasm heap, against the tanh-form GELU and
 * its derivative in float64: both pairs (the σ form and the previous tanh form), both module
 * variants (FMA and plain), every count's split into 4-vector iterations, single vectors and single
 * floats, and nothing written past count. The kernels' gradient checks (kernels.spec.ts,
 * masked-gelu.spec.ts) test the same helpers through tfjs; these bound the error itself.
 */

const C = Math.sqrt(2 / Math.PI);
const A = 0.044715;
/**
 * ½(1 + tanh u) written as σ(2u) here too: in float64, 1 + tanh u is 0 for u < −19 (x < −7.2),
 * which would make the reference's relative error, not the helper's.
 */
const sigmoid2u = (x: number) => 1 / (1 + Math.exp(-2 * C * (x + A * x ** 3)));
const gelu = (x: number) => x * sigmoid2u(x);
function geluGrad(x: number): number {
  const s = sigmoid2u(x);
  return s + x * s * (1 - s) * 2 * C * (1 + 3 * A * x * x);
}

/**
 * Bounds on |helper − float64 reference| over x in [−12, 12]. Measured (2026-12-02, both module
 * variants): forward 5.1e-7 (σ form) and 4.3e-7 (previous), gradient 2.0e-6 both, the float32
 * rounding of values up to 12. The σ form's forward is also held to a relative error of 2e-5
 * (measured 8.6e-6 with FMA, 1.1e-5 without, in the far negative tail, where e^{2u}'s argument
 * carries |2u|·2⁻²⁴ of rounding); the previous form's 1 − 2/(e^{2u} + 1) rounds to 0 below
 * x ≈ −4.96, a relative error of 1 on values under 3e-7.
 */
const FORWARD_ABS = 1e-6;
const GRADIENT_ABS = 4e-6;
const FAST_FORWARD_REL = 2e-5;

/** A dense grid over [−12, 12], then saturating and tiny values, then odd remainders. */
function grid(count: number): Float32Array {
  const x = Float32Array.from({ length: count }, (_, i) => -12 + (24 * i) / (count - 1));
  x.set([40, -40, 1e-30, -1e-30, 0, -0, 87, -87], 0);
  return x;
}

type Pair = 'fast' | 'previous';
const PAIRS: [Pair, keyof SimdHelpers, keyof SimdHelpers][] = [
  ['fast', 'geluForward', 'geluBackward'],
  ['previous', 'geluForwardTanh', 'geluBackwardTanh'],
];

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Runs one helper over `x` (and `dy`) on the heap; returns count outputs and the float after them. */
function runHelper(
  helpers: SimdHelpers,
  name: keyof SimdHelpers,
  x: Float32Array,
  dy?: Float32Array,
): { out: Float32Array; guard: number } {
  const backend = tf.engine().findBackend('wasm');
  const SENTINEL = 12345;
  return tf.tidy(() => {
    const xt = tf.tensor1d(x);
    const dyt = dy ? tf.tensor1d(dy) : undefined;
    const outT = tf.fill([x.length + 1], SENTINEL);
    const at = (t: tf.Tensor) => heapPointer(backend, t);
    const fn = helpers[name] as unknown as (...args: number[]) => void;
    if (dyt) fn(at(xt), at(dyt), at(outT), x.length);
    else fn(at(xt), at(outT), x.length);
    const all = outT.dataSync() as Float32Array;
    return { out: all.slice(0, x.length), guard: all[x.length] };
  });
}

/** max |out − reference| over the points with |x| ≤ 12 (a NaN output counts as infinite). */
function maxAbsError(
  out: Float32Array,
  x: Float32Array,
  reference: (x: number, i: number) => number,
): number {
  let worst = 0;
  out.forEach((v, i) => {
    if (Math.abs(x[i]) > 12) return;
    worst = Math.max(worst, Number.isNaN(v) ? Infinity : Math.abs(v - reference(x[i], i)));
  });
  return worst;
}

function maxRelError(out: Float32Array, x: Float32Array): number {
  let worst = 0;
  out.forEach((v, i) => {
    const ref = gelu(x[i]);
    worst = Math.max(worst, Math.abs(v - ref) / Math.max(Math.abs(ref), 1e-30));
  });
  return worst;
}

describe.each([
  ['FMA (relaxed SIMD)', true],
  ['plain SIMD', false],
])('GELU helpers against float64, %s', (_variant, fma) => {
  const saved = { ...simdHelperSwitch };
  beforeAll(() => Object.assign(simdHelperSwitch, { enabled: true, fma }));
  afterAll(() => Object.assign(simdHelperSwitch, saved));
  const helpers = () => {
    const h = simdHelpers(tf.engine().findBackend('wasm'));
    if (!h || h.fma !== fma) throw new Error(`the ${fma ? 'FMA' : 'plain'} SIMD helpers did not load`);
    return h;
  };

  it.each(PAIRS)('%s pair: forward and gradient within the bounds on 40,003 points', (pair, fwd, bwd) => {
    const x = grid(40_003);
    const dy = new Float32Array(x.length).fill(1);
    const y = runHelper(helpers(), fwd, x);
    const dx = runHelper(helpers(), bwd, x, dy);
    expect(maxAbsError(y.out, x, gelu)).toBeLessThanOrEqual(FORWARD_ABS);
    expect(maxAbsError(dx.out, x, geluGrad)).toBeLessThanOrEqual(GRADIENT_ABS);
    if (pair === 'fast') expect(maxRelError(y.out, x)).toBeLessThanOrEqual(FAST_FORWARD_REL);
    // Saturation: gelu(40) = 40, gelu(−40) = −0 within a denormal, slope 1 and 0.
    expect(y.out[0]).toBe(40);
    expect(Math.abs(y.out[1])).toBeLessThan(1e-30);
    expect(dx.out[0]).toBeCloseTo(1, 6);
    expect(Math.abs(dx.out[1])).toBeLessThan(1e-30);
  });

  it.each(PAIRS)(
    '%s pair: dy scales the gradient; every count from 0 to 40 writes exactly count floats',
    (_p, fwd, bwd) => {
      const x = grid(41);
      const dy = Float32Array.from(x, (_, i) => (i % 3) - 1.5);
      const full = runHelper(helpers(), bwd, x, dy).out;
      full.forEach((v, i) =>
        expect(Math.abs(v - dy[i] * geluGrad(x[i]))).toBeLessThanOrEqual(2 * GRADIENT_ABS),
      );
      for (let count = 0; count <= 40; count++) {
        const part = x.subarray(0, count);
        const y = runHelper(helpers(), fwd, part);
        const dx = runHelper(helpers(), bwd, part, dy.subarray(0, count));
        expect(y.guard).toBe(12345);
        expect(dx.guard).toBe(12345);
        expect(maxAbsError(y.out, part, gelu)).toBeLessThanOrEqual(FORWARD_ABS);
        // The same floats whichever loop (4 vectors, 1 vector, 1 float) computed them.
        expect(Array.from(dx.out)).toEqual(Array.from(full.subarray(0, count)));
      }
    },
  );
});

describe('the bounds can fail', () => {
  it('the exact (erf) GELU is outside the forward bound of the tanh form, as is a nudged output', async () => {
    const x = grid(4001);
    const helpers = simdHelpers(tf.engine().findBackend('wasm'));
    if (!helpers) throw new Error('the SIMD helpers did not load');
    const y = runHelper(helpers, 'geluForward', x).out;
    expect(maxAbsError(y, x, gelu)).toBeLessThanOrEqual(FORWARD_ABS);
    // erf GELU from tfjs's cpu erf: the tanh form differs from it by up to ≈ 4.7e-4.
    await tf.setBackend('cpu');
    const erfGelu = tf.tidy(() => {
      const t = tf.tensor1d(x);
      return tf.mul(tf.mul(t, 0.5), tf.add(1, tf.erf(tf.div(t, Math.SQRT2)))).dataSync() as Float32Array;
    });
    await tf.setBackend('wasm');
    const erfError = maxAbsError(y, x, (_v, i) => erfGelu[i]);
    expect(erfError).toBeGreaterThan(100 * FORWARD_ABS);
    const nudged = y.slice();
    nudged[2000] += 10 * FORWARD_ABS;
    expect(maxAbsError(nudged, x, gelu)).toBeGreaterThan(FORWARD_ABS);
    const slopeNudged = runHelper(helpers, 'geluBackward', x, new Float32Array(x.length).fill(1)).out;
    slopeNudged[3000] *= 1 + 10 * GRADIENT_ABS;
    expect(maxAbsError(slopeNudged, x, geluGrad)).toBeGreaterThan(GRADIENT_ABS);
  });
});

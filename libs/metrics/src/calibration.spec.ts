import { Rng } from '../../common/src';
import { calibration } from './calibration';

const logit = (p: number): number => Math.log(p / (1 - p));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

describe('calibration', () => {
  it('Brier score by hand', () => {
    // ((1 − 0.8)² + (0 − 0.3)²) / 2
    expect(calibration([1, 0], [0.8, 0.3]).brier).toBeCloseTo(0.065, 15);
  });

  it('constant predictions: calibration-in-the-large = logit(observed rate) − logit(p); slope undefined', () => {
    const c = calibration([1, 1, 1, 0], [0.5, 0.5, 0.5, 0.5]);
    expect(c.calibrationInTheLarge).toBeCloseTo(Math.log(3), 12);
    expect(c.slope).toBeNaN();
    expect(c.converged).toBe(false);
    const d = calibration([1, 0, 0, 0, 0], [0.2, 0.2, 0.2, 0.2, 0.2]);
    expect(d.calibrationInTheLarge).toBeCloseTo(0, 12);
  });

  it('two score groups: the joint fit is saturated and solvable by hand', () => {
    // p = 0.2 → 1 of 4 events, p = 0.8 → 3 of 4: a + b·logit(.2) = logit(.25), a + b·logit(.8) = logit(.75)
    const labels = [1, 0, 0, 0, 1, 1, 1, 0];
    const probs = [0.2, 0.2, 0.2, 0.2, 0.8, 0.8, 0.8, 0.8];
    const c = calibration(labels, probs);
    expect(c.converged).toBe(true);
    expect(c.slope).toBeCloseTo(Math.log(3) / Math.log(4), 12);
    expect(c.intercept).toBeCloseTo(0, 12);
  });

  it('the fits satisfy their score equations (maximum likelihood) on random data', () => {
    const rng = new Rng(17);
    const labels: number[] = [];
    const probs: number[] = [];
    for (let i = 0; i < 300; i++) {
      const p = sigmoid(rng.normal(0, 1.5));
      probs.push(p);
      labels.push(rng.bernoulli(sigmoid(0.3 + 0.7 * logit(p))) ? 1 : 0);
    }
    const c = calibration(labels, probs);
    let g0 = 0;
    let g1 = 0;
    let gOffset = 0;
    for (let i = 0; i < labels.length; i++) {
      const x = logit(probs[i]);
      const r = labels[i] - sigmoid(c.intercept + c.slope * x);
      g0 += r;
      g1 += r * x;
      gOffset += labels[i] - sigmoid(c.calibrationInTheLarge + x);
    }
    expect(Math.abs(g0)).toBeLessThan(1e-8);
    expect(Math.abs(g1)).toBeLessThan(1e-8);
    expect(Math.abs(gOffset)).toBeLessThan(1e-8);
  });

  it('recovers a well-calibrated model (slope ≈ 1, intercepts ≈ 0) and an over-confident one (slope ≈ ½)', () => {
    const rng = new Rng(2);
    const labels: number[] = [];
    const calibrated: number[] = [];
    const overconfident: number[] = [];
    for (let i = 0; i < 8000; i++) {
      const x = rng.normal(0, 1.2);
      labels.push(rng.bernoulli(sigmoid(x)) ? 1 : 0);
      calibrated.push(sigmoid(x));
      overconfident.push(sigmoid(2 * x));
    }
    const good = calibration(labels, calibrated);
    expect(good.slope).toBeGreaterThan(0.92);
    expect(good.slope).toBeLessThan(1.08);
    expect(Math.abs(good.intercept)).toBeLessThan(0.08);
    expect(Math.abs(good.calibrationInTheLarge)).toBeLessThan(0.08);
    const bad = calibration(labels, overconfident);
    expect(bad.slope).toBeGreaterThan(0.45);
    expect(bad.slope).toBeLessThan(0.55);
    expect(bad.brier).toBeGreaterThan(good.brier);
  });

  it('clips saturated probabilities and rejects out-of-range ones', () => {
    const c = calibration([1, 0, 1, 0], [1, 0, 0.7, 0.4]);
    expect(c.clipped).toBe(2);
    expect(Number.isFinite(c.calibrationInTheLarge)).toBe(true);
    expect(() => calibration([1, 0], [1.5, 0.2])).toThrow(/index 0 is 1.5/);
  });
});

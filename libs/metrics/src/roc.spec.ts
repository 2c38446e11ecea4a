import { InputError, Rng } from '../../common/src';
import { bruteAuc, bruteOperatingPoint, loadPairedReference, randomTiedData } from './__tests__/brute-force';
import { auc, rocCurve, youden } from './roc';

describe('AUC (Mann–Whitney, ties ½)', () => {
  it('matches hand-computed small cases', () => {
    // perfect separation, reversed, all tied
    expect(auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])).toBe(1);
    expect(auc([0, 0, 1, 1], [0.8, 0.9, 0.1, 0.2])).toBe(0);
    expect(auc([0, 1, 0, 1], [3, 3, 3, 3])).toBe(0.5);
    // cases {2, 3}, controls {1, 2}: pairs (2>1)=1, (2=2)=½, (3>1)=1, (3>2)=1 → 3.5/4
    expect(auc([1, 1, 0, 0], [2, 3, 1, 2])).toBe(0.875);
  });

  it("direction '>' means a lower score is positive", () => {
    expect(auc([1, 1, 0, 0], [2, 3, 1, 2], '>')).toBe(0.125);
  });

  it('matches all pairs on random data with ties to 1e-12', () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 30; trial++) {
      const { labels, scores } = randomTiedData(rng, 5 + rng.int(150), 1 + rng.int(6));
      expect(Math.abs(auc(labels, scores) - bruteAuc(labels, scores))).toBeLessThanOrEqual(1e-12);
    }
  });

  it('matches pROC on the reference data set to 1e-9', () => {
    const { y, a, b, expected } = loadPairedReference();
    expect(auc(y, a)).toBeCloseTo(expected.a.auc, 11);
    expect(auc(y, b)).toBeCloseTo(expected.b.auc, 11);
  });

  it('rejects bad input with InputError naming the index', () => {
    expect(() => auc([0, 1, 2], [1, 2, 3])).toThrow(/index 2/);
    expect(() => auc([0, 1, 1], [1, NaN, 3])).toThrow(InputError);
    expect(() => auc([1, 1, 1], [1, 2, 3])).toThrow(/0 negative/);
    expect(() => auc([0, 1], [1, 2, 3])).toThrow(/2 labels but 3 scores/);
  });
});

describe('ROC curve and Youden point', () => {
  it('lists one point per distinct score with counted sensitivity/specificity', () => {
    const labels = [1, 1, 0, 0, 1, 0];
    const scores = [0.9, 0.4, 0.4, 0.1, 0.7, 0.6];
    const points = rocCurve(labels, scores);
    expect(points.map((p) => p.threshold)).toEqual([Infinity, 0.9, 0.7, 0.6, 0.4, 0.1]);
    for (const p of points.slice(1)) {
      const [sens, spec] = bruteOperatingPoint(labels, scores, p.threshold);
      expect(p.sensitivity).toBeCloseTo(sens, 15);
      expect(p.specificity).toBeCloseTo(spec, 15);
    }
    expect(points[0]).toEqual({ threshold: Infinity, sensitivity: 0, specificity: 1 });
    expect(points[points.length - 1]).toMatchObject({ sensitivity: 1, specificity: 0 });
  });

  it('Youden point: hand case', () => {
    // ≥0.7: sens 2/3, spec 1 → J = 2/3, the maximum
    const y = youden([1, 1, 0, 0, 1, 0], [0.9, 0.4, 0.4, 0.1, 0.7, 0.6]);
    expect(y.threshold).toBe(0.7);
    expect(y.sensitivity).toBeCloseTo(2 / 3, 15);
    expect(y.specificity).toBe(1);
    expect(y.j).toBeCloseTo(2 / 3, 15);
  });

  it('Youden point is the maximum of J over brute-force operating points (random data)', () => {
    const rng = new Rng(5);
    for (let trial = 0; trial < 20; trial++) {
      const { labels, scores } = randomTiedData(rng, 10 + rng.int(100), 2);
      const best = Math.max(
        ...[...new Set(scores)].map((t) => {
          const [sens, spec] = bruteOperatingPoint(labels, scores, t);
          return sens + spec - 1;
        }),
        0,
      );
      const y = youden(labels, scores);
      expect(y.j).toBeCloseTo(best, 12);
      const [sens, spec] =
        y.threshold === Infinity ? [0, 1] : bruteOperatingPoint(labels, scores, y.threshold);
      expect(y.sensitivity).toBeCloseTo(sens, 15);
      expect(y.specificity).toBeCloseTo(spec, 15);
    }
  });

  it("direction '>' reports thresholds on the caller's scale (score ≤ threshold is positive)", () => {
    const labels = [1, 1, 0, 0];
    const scores = [1, 2, 3, 4];
    const y = youden(labels, scores, '>');
    expect(y).toMatchObject({ threshold: 2, sensitivity: 1, specificity: 1 });
    expect(rocCurve(labels, scores, '>')[0].threshold).toBe(-Infinity);
  });
});

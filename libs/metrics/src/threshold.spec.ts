import { chooseThreshold, metricsAtThreshold, shiftPrior } from './threshold';

describe('metrics at a fixed threshold', () => {
  // 4 positives, 6 negatives; at t = 0.5: TP 3 (0.9, 0.8, 0.5), FN 1, FP 2 (0.7, 0.6), TN 4.
  const y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
  const s = [0.9, 0.8, 0.5, 0.2, 0.7, 0.6, 0.4, 0.3, 0.1, 0.05];

  it('counts score ≥ t as positive and derives sensitivity, specificity, PPV, NPV, accuracy', () => {
    expect(metricsAtThreshold(y, s, 0.5)).toEqual({
      threshold: 0.5,
      tp: 3,
      fp: 2,
      tn: 4,
      fn: 1,
      sensitivity: 3 / 4,
      specificity: 4 / 6,
      ppv: 3 / 5,
      npv: 4 / 5,
      accuracy: 7 / 10,
    });
  });

  it('a threshold above every score calls nobody positive: PPV undefined, not 0', () => {
    const r = metricsAtThreshold(y, s, Infinity);
    expect([r.tp, r.fp, r.ppv, r.npv]).toEqual([0, 0, null, 6 / 10]);
  });

  it('chooses the Youden cut-off on validation data, then applies it unchanged', () => {
    const t = chooseThreshold(y, s);
    expect(t).toBe(0.8);
    const elsewhere = metricsAtThreshold([1, 0, 1, 0], [0.85, 0.81, 0.2, 0.1], t);
    expect([elsewhere.sensitivity, elsewhere.specificity]).toEqual([0.5, 0.5]);
  });

  it('refuses a missing class and bad labels by index', () => {
    expect(() => metricsAtThreshold([1, 1], [0.2, 0.3], 0.5)).toThrow(/both classes/);
    expect(() => metricsAtThreshold([1, 2], [0.2, 0.3], 0.5)).toThrow(/index 1 is 2/);
  });
});

describe('prior shift (balanced scores → probabilities at the training prevalence)', () => {
  it('maps 0.5 to the new prior and keeps the order', () => {
    expect(shiftPrior(0.5, 0.3)).toBeCloseTo(0.3, 15);
    // odds 3 × (0.2/0.8) = 0.75 → p = 0.75/1.75
    expect(shiftPrior(0.75, 0.2)).toBeCloseTo(0.75 / 1.75, 15);
    expect(shiftPrior(0.6, 0.2)).toBeLessThan(shiftPrior(0.7, 0.2));
    expect(shiftPrior(0.42, 0.5)).toBeCloseTo(0.42, 15);
    expect(() => shiftPrior(0.5, 1)).toThrow(/strictly between 0 and 1/);
  });
});

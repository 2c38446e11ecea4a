import { scoreHistogram } from './pooled';
import { chooseThreshold, chooseThresholdOfHistogram, metricsAtThreshold, shiftPrior } from './threshold';

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

  it('chooses the same cut-off from a histogram as from the scores, to the bin width', () => {
    // Youden on the scores: 0.8 (J = 0.5); the histogram's bin holding 0.8 starts at 0.8.
    expect(chooseThresholdOfHistogram(scoreHistogram(y, s, 10))).toBeCloseTo(0.8, 12);
    // Two sites' histograms summed choose what the pooled scores would, to 1/B.
    const a = scoreHistogram(y.slice(0, 5), s.slice(0, 5), 1000);
    const b = scoreHistogram(y.slice(5), s.slice(5), 1000);
    const summed = {
      bins: 1000,
      pos: a.pos.map((x, i) => x + b.pos[i]),
      neg: a.neg.map((x, i) => x + b.neg[i]),
    };
    const t = chooseThresholdOfHistogram(summed);
    expect(Math.abs(t - chooseThreshold(y, s))).toBeLessThanOrEqual(1 / 1000);
    expect(metricsAtThreshold(y, s, t)).toMatchObject(metricsAtThreshold(y, s, chooseThreshold(y, s)));
  });

  it('returns +∞ from a histogram when no cut-off beats chance, and refuses a missing class', () => {
    // Positives all below the negatives: every cut-off has J ≤ 0.
    expect(chooseThresholdOfHistogram({ bins: 2, pos: [3, 0], neg: [0, 3] })).toBe(Infinity);
    expect(() => chooseThresholdOfHistogram({ bins: 2, pos: [0, 0], neg: [1, 1] })).toThrow(/both classes/);
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

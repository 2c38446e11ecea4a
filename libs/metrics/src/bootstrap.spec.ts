import { Rng } from '../../common/src';
import { bruteAuc, bruteOperatingPoint, loadPairedReference, randomTiedData } from './__tests__/brute-force';
import { bootstrapCi, quantileType7 } from './bootstrap';
import { delongCi } from './delong';

/** Explicit resampling with the same random stream: replicate lists of scores, AUC by all pairs. */
function bruteBootstrapAucs(labels: number[], scores: number[], replicates: number, seed: number): number[] {
  const cases = scores.filter((_, k) => labels[k] === 1).sort((x, y) => x - y);
  const controls = scores.filter((_, k) => labels[k] === 0).sort((x, y) => x - y);
  const rng = new Rng(seed);
  const out: number[] = [];
  for (let r = 0; r < replicates; r++) {
    const c = cases.map(() => cases[rng.int(cases.length)]);
    const d = controls.map(() => controls[rng.int(controls.length)]);
    out.push(bruteAuc([...c.map(() => 1), ...d.map(() => 0)], [...c, ...d]));
  }
  return out.sort((x, y) => x - y);
}

describe('stratified bootstrap', () => {
  it('weighted replicates equal explicit resamples (same stream) to 1e-12', () => {
    const { labels, scores } = randomTiedData(new Rng(2), 60, 3);
    const result = bootstrapCi(labels, scores, { replicates: 200, seed: 9 });
    const brute = bruteBootstrapAucs(labels, scores, 200, 9);
    expect(Math.abs(result.auc.ci[0] - quantileType7(brute, 0.025))).toBeLessThanOrEqual(1e-12);
    expect(Math.abs(result.auc.ci[1] - quantileType7(brute, 0.975))).toBeLessThanOrEqual(1e-12);
    expect(result.auc.estimate).toBeCloseTo(bruteAuc(labels, scores), 12);
  });

  it('is reproducible by seed and changes with it', () => {
    const { y, a } = loadPairedReference();
    const r1 = bootstrapCi(y, a, { replicates: 300, seed: 4 });
    const r2 = bootstrapCi(y, a, { replicates: 300, seed: 4 });
    const r3 = bootstrapCi(y, a, { replicates: 300, seed: 5 });
    expect(r1).toEqual(r2);
    expect(r3.auc.ci).not.toEqual(r1.auc.ci);
  });

  it('bootstrap SD agrees with the DeLong standard error on a large sample', () => {
    const { labels, scores } = randomTiedData(new Rng(12), 400, 20);
    const boot = bootstrapCi(labels, scores, { replicates: 1000, seed: 1 });
    const se = delongCi(labels, scores).standardError;
    expect(boot.auc.sd / se).toBeGreaterThan(0.9);
    expect(boot.auc.sd / se).toBeLessThan(1.1);
    expect(boot.auc.ci[0]).toBeLessThan(boot.auc.estimate);
    expect(boot.auc.ci[1]).toBeGreaterThan(boot.auc.estimate);
  });

  it('sensitivity/specificity at a fixed cut-off: estimate is the counted operating point', () => {
    const { y, a } = loadPairedReference();
    const r = bootstrapCi(y, a, { replicates: 500, seed: 3, threshold: 0 });
    const [sens, spec] = bruteOperatingPoint(y, a, 0);
    expect(r.threshold).toBe(0);
    expect(r.sensitivity.estimate).toBeCloseTo(sens, 15);
    expect(r.specificity.estimate).toBeCloseTo(spec, 15);
    expect(r.sensitivity.ci[0]).toBeLessThanOrEqual(sens);
    expect(r.sensitivity.ci[1]).toBeGreaterThanOrEqual(sens);
  });

  it('quantile type 7 matches R', () => {
    // R: quantile(1:10, c(0.025, 0.975)) = 1.225, 9.775
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(quantileType7(xs, 0.025)).toBeCloseTo(1.225, 14);
    expect(quantileType7(xs, 0.975)).toBeCloseTo(9.775, 14);
  });

  it('rejects a replicate count below 2', () => {
    expect(() => bootstrapCi([0, 0, 1, 1], [1, 2, 3, 4], { replicates: 1 })).toThrow(/replicates/);
  });
});

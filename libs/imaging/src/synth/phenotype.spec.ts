import { Rng } from '../../../common/src';
import { assignSplits } from './assign';
import { cohortSites, sitePhenotypes } from './cohort';
import { PHENOTYPE_FEATURES } from './phenotype';
import { mannWhitneyAuc, separabilityReport } from './report';

describe('mannWhitneyAuc', () => {
  it('counts ties as one half (hand-computed)', () => {
    // Positives {2, 3} vs negatives {1, 2}: 1 + ½ + 1 + 1 = 3.5 of 4 pairs.
    expect(mannWhitneyAuc([1, 2, 2, 3], [false, true, false, true])).toBe(0.875);
    expect(mannWhitneyAuc([3, 1], [true, false])).toBe(1);
    expect(mannWhitneyAuc([1, 2], [true, true])).toBeNaN();
  });
});

describe('phenotype tendencies', () => {
  // Phenotypes are drawn without painting images, so a large cohort costs milliseconds.
  const sites = cohortSites(11, 3);
  const phenotypes = sites.flatMap((s) => sitePhenotypes(s, 400));
  const report = separabilityReport(phenotypes);

  it.each(PHENOTYPE_FEATURES)('%s alone separates the classes only weakly (AUC 0.6–0.75)', (f) => {
    expect(report.featureAuc[f]).toBeGreaterThan(0.6);
    expect(report.featureAuc[f]).toBeLessThan(0.75);
  });

  it('all tendencies together (the true log-likelihood ratio) reach AUC 0.85–0.95', () => {
    expect(report.oracleAuc).toBeGreaterThan(0.85);
    expect(report.oracleAuc).toBeLessThan(0.95);
  });

  it('measured AUCs agree with what the Gaussian design predicts', () => {
    for (const f of PHENOTYPE_FEATURES)
      expect(Math.abs(report.featureAuc[f] - report.expectedFeatureAuc[f])).toBeLessThan(0.04);
    expect(Math.abs(report.oracleAuc - report.expectedOracleAuc)).toBeLessThan(0.03);
  });

  it('proliferative tumours are more often large, rim-enhancing and capsule-free', () => {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const pos = phenotypes.filter((p) => p.proliferative);
    const neg = phenotypes.filter((p) => !p.proliferative);
    expect(mean(pos.map((p) => p.diameterMm))).toBeGreaterThan(mean(neg.map((p) => p.diameterMm)));
    expect(mean(pos.map((p) => p.necroticFraction))).toBeGreaterThan(
      mean(neg.map((p) => p.necroticFraction)),
    );
    expect(mean(pos.map((p) => p.capsuleStrength))).toBeLessThan(mean(neg.map((p) => p.capsuleStrength)));
    expect(mean(pos.map((p) => p.hepatocyteFraction))).toBeLessThan(
      mean(neg.map((p) => p.hepatocyteFraction)),
    );
  });

  it('prevalence follows each site (≈ 50 %, site-dependent)', () => {
    sites.forEach((site, s) => {
      const own = phenotypes.slice(s * 400, (s + 1) * 400);
      const share = own.filter((p) => p.proliferative).length / own.length;
      expect(site.prevalence).toBeGreaterThanOrEqual(0.35);
      expect(site.prevalence).toBeLessThanOrEqual(0.65);
      expect(Math.abs(share - site.prevalence)).toBeLessThan(0.08);
    });
  });
});

describe('assignSplits', () => {
  const labels = Array.from({ length: 120 }, (_, i) => i % 5 < 2); // 48 positives, 72 negatives
  const a = assignSplits(labels, 0.3, 0.6, new Rng(4));
  const count = (pred: (i: number) => boolean) => labels.filter((_, i) => pred(i)).length;

  it('holds out round(30 %) of each class as test', () => {
    expect(count((i) => labels[i] && a[i].split === 'test')).toBe(Math.round(48 * 0.3));
    expect(count((i) => !labels[i] && a[i].split === 'test')).toBe(Math.round(72 * 0.3));
  });

  it('labels every test patient and round(F·n) training patients of each class', () => {
    expect(count((i) => a[i].split === 'test' && !a[i].labelled)).toBe(0);
    const trainPos = 48 - 14;
    const trainNeg = 72 - 22;
    expect(count((i) => labels[i] && a[i].split === 'train' && a[i].labelled)).toBe(
      Math.round(trainPos * 0.6),
    );
    expect(count((i) => !labels[i] && a[i].split === 'train' && a[i].labelled)).toBe(
      Math.round(trainNeg * 0.6),
    );
  });

  it('is deterministic for a seed', () => {
    expect(assignSplits(labels, 0.3, 0.6, new Rng(4))).toEqual(a);
    expect(assignSplits(labels, 0.3, 0.6, new Rng(5))).not.toEqual(a);
  });
});

describe('assignSplits with a validation split', () => {
  const labels = Array.from({ length: 120 }, (_, i) => i % 5 < 2);
  const withVal = assignSplits(labels, 0.3, 0.6, new Rng(4), 0.15);
  const without = assignSplits(labels, 0.3, 0.6, new Rng(4));

  it('holds out round(15 %) of each class as labelled validation patients, leaving the test split unchanged', () => {
    const count = (cls: boolean, split: string) =>
      labels.filter((y, i) => y === cls && withVal[i].split === split).length;
    expect(count(true, 'val')).toBe(Math.round(48 * 0.15));
    expect(count(false, 'val')).toBe(Math.round(72 * 0.15));
    expect(withVal.filter((a) => a.split === 'val').every((a) => a.labelled)).toBe(true);
    expect(withVal.map((a) => a.split === 'test')).toEqual(without.map((a) => a.split === 'test'));
  });
});

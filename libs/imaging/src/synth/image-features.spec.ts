import { Rng } from '../../../common/src';
import { cohortSites } from './cohort';
import { measureImageFeatures } from './image-features';
import { generatePatient } from './patient';
import { normalTable } from './volume';

function pearson(a: number[], b: number[]): number {
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const [ma, mb] = [mean(a), mean(b)];
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  a.forEach((_, i) => {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  });
  return sab / Math.sqrt(saa * sbb);
}

jest.setTimeout(60_000);

describe('measureImageFeatures', () => {
  // Coarse voxels (scale 0.4): ten patients in well under a second of CPU.
  const site = cohortSites(21, 1, undefined, 0.4)[0];
  const normals = normalTable(new Rng(3));
  const patients = Array.from({ length: 10 }, (_, k) => generatePatient(site, k, normals));
  const features = patients.map(measureImageFeatures);

  it('measures tumour size from the mask close to the generated diameter', () => {
    const measured = features.map((f) => f.size);
    const truth = patients.map((p) => p.phenotype.diameterMm);
    expect(pearson(measured, truth)).toBeGreaterThan(0.8);
  });

  it('sees hepatobiliary hypointensity grow as tumour hepatocyte uptake falls', () => {
    const measured = features.map((f) => f.hbp);
    const truth = patients.map((p) => -p.phenotype.hepatocyteFraction);
    expect(pearson(measured, truth)).toBeGreaterThan(0.5);
  });

  it('sees rim enhancement grow with the necrotic core', () => {
    const measured = features.map((f) => f.rim);
    const truth = patients.map((p) => p.phenotype.necroticFraction);
    expect(pearson(measured, truth)).toBeGreaterThan(0.5);
  });
});

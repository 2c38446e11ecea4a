import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCohort } from '../cohort/load-cohort';
import { readNiftiSync } from '../nifti/read';
import { generateCohort } from './cohort';
import { computeKinetics, drawKineticParameters } from './kinetics';
import { drawPhenotype } from './phenotype';
import { cohortSites } from './cohort';
import { Rng } from '../../../common/src';

describe('synth --agent extracellular', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'phcc-synth-ecf-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes a four-phase site (pre, arterial, portal venous, delayed) that the loader takes with phases 4', async () => {
    const summary = await generateCohort({
      outDir: root,
      sites: 1,
      patients: 4,
      seed: 3,
      scale: 0.25,
      threads: 0,
      agent: 'extracellular',
    });
    const site = summary.sites[0];
    const manifest = readFileSync(site.manifestPath, 'utf8').trim().split('\n');
    const times = manifest[1].split(',')[5].split(';').map(Number);
    expect(times).toHaveLength(4);
    expect(times[0]).toBe(0);
    expect(times[1]).toBeGreaterThan(25);
    expect(times[3]).toBeGreaterThan(times[2]);
    const dce = readNiftiSync(join(site.dir, manifest[1].split(',')[1]));
    expect(dce.dims[3]).toBe(4);
    expect(JSON.parse(readFileSync(join(root, 'synth.json'), 'utf8')).phases).toEqual([
      'pre',
      'arterial',
      'portal_venous',
      'delayed',
    ]);
    const cohort = await loadCohort(site.dir, { phases: 4, size: 16 });
    expect(cohort.report.loaded).toBe(4);
  });

  it('has no hepatocyte uptake: liver concentration falls after the portal venous phase', () => {
    const [gadoxetate] = cohortSites(5, 1);
    const [extracellular] = cohortSites(5, 1, undefined, 1, 'extracellular');
    const rng = new Rng(9);
    const params = drawKineticParameters(rng, drawPhenotype(rng, 0.5));
    const times = [0, 35, 70, 180, 1200];
    const withUptake = computeKinetics(gadoxetate, params, times).concentration.liver;
    const without = computeKinetics(extracellular, params, times).concentration.liver;
    expect(withUptake[4]).toBeGreaterThan(withUptake[2]); // hepatobiliary uptake keeps rising
    expect(without[4]).toBeLessThan(without[2]); // the extracellular agent washes out
  });
});

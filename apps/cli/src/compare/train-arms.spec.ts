import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../../../libs/common/src';
import { initBackend } from '../../../../libs/compute/src';
import { DEFAULT_NORMALISATION_PATTERN } from '../../../../libs/federated/src';
import { TINY } from '../../../../libs/model/src/__tests__/tiny-config';
import { modelConfig } from '../../../../libs/model/src/network';
import { constructedCohort } from '../../../../libs/model/src/training';
import type { PatientSample } from '../../../../libs/model/src/training/types';
import { planArms } from './arms';
import { QUICK_RECIPE, recipeWithEpochs } from './budget';
import { trainArm, weightsAt, withLabelledFraction } from './train-arms';

describe('compare --labelled-fraction', () => {
  const samples: PatientSample[] = Array.from({ length: 40 }, (_, i) => ({
    id: `p${i}`,
    label: (i % 2) as 0 | 1,
    split: i < 30 ? 'train' : 'test',
    x: new Float32Array(1),
  }));
  const site = { site: 'a', dir: '/a', samples, external: false };

  it('removes labels only from training patients, keeping order and the test split whole', () => {
    const half = withLabelledFraction(site, 0.5);
    expect(half.samples.map((p) => p.id)).toEqual(samples.map((p) => p.id));
    const train = half.samples.filter((p) => p.split === 'train');
    // Half of each class's 15 labels, rounded per class stratum by keepLabelFraction.
    const kept = train.filter((p) => p.label !== null).length;
    expect(kept).toBeGreaterThanOrEqual(14);
    expect(kept).toBeLessThanOrEqual(16);
    expect(train.filter((p) => p.label === null).length).toBe(30 - kept);
    expect(half.samples.filter((p) => p.split === 'test')).toEqual(samples.filter((p) => p.split === 'test'));
  });

  it('picks the same labelled patients every time (every arm and seed sees them)', () => {
    const labelled = (f: number) =>
      withLabelledFraction(site, f)
        .samples.filter((p) => p.split === 'train' && p.label !== null)
        .map((p) => p.id);
    expect(labelled(0.3)).toEqual(labelled(0.3));
    expect(withLabelledFraction(site, 1).samples).toEqual(samples);
  });
});

describe('compare: the FedBN arm', () => {
  const config = modelConfig(TINY);
  let workDir: string;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    workDir = mkdtempSync(join(tmpdir(), 'phcc-fedbn-arm-'));
  });
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it("is evaluated at each site with that site's own normalisation layers, the rest shared", async () => {
    const site = (name: string, seed: number) => ({
      site: name,
      dir: `/${name}`,
      external: false,
      samples: constructedCohort(config, { patients: 8, seed }).map((p, i) => ({
        ...p,
        split: i < 6 ? 'train' : 'test',
      })),
    });
    const sites = [site('a', 1), site('b', 2)];
    const [arm] = planArms({ kinds: ['federated'], ssl: 'off', strategies: ['fedbn'], sites: ['a', 'b'] });
    const model = await trainArm(arm, {
      config,
      recipe: recipeWithEpochs(QUICK_RECIPE, { finetune: 1 }),
      sites,
      seed: 3,
      workDir,
      log: silentLog,
      print: () => undefined,
    });
    const [a, b] = ['a', 'b'].map((s) => weightsAt(model, s));
    // A site outside the federation has no normalisation layers of its own: the shared model.
    expect(weightsAt(model, 'external')).toBe(model.shared);
    const isNorm = (name: string) => DEFAULT_NORMALISATION_PATTERN.test(name);
    expect(model.shared.some((t) => isNorm(t.name))).toBe(true);
    model.shared.forEach((shared, i) => {
      expect([a[i].name, b[i].name]).toEqual([shared.name, shared.name]);
      if (isNorm(shared.name)) return;
      expect(a[i].values).toEqual(shared.values);
      expect(b[i].values).toEqual(shared.values);
    });
    // Trained at each site, never averaged: the sites' norms differ from each other and the shared copy.
    const norms = (ws: typeof a) => ws.filter((t) => isNorm(t.name)).flatMap((t) => [...t.values]);
    expect(norms(a)).not.toEqual(norms(model.shared));
    expect(norms(a)).not.toEqual(norms(b));
  }, 60_000);
});

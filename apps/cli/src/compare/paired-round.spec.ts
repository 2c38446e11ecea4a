import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../../../libs/common/src';
import { initBackend } from '../../../../libs/compute/src';
import { TINY } from '../../../../libs/model/src/__tests__/tiny-config';
import { modelConfig } from '../../../../libs/model/src/network';
import { constructedCohort } from '../../../../libs/model/src/training';
import { planArms, planComparisons } from './arms';
import { QUICK_RECIPE, recipeWithEpochs } from './budget';
import { armResult, resolveComparisons, siteAggregates, SiteAggregates } from './evaluation';
import { evaluationPatients } from './run-compare';
import { ArmModel, CompareSite, scoreArm, trainArm, weightsAt } from './train-arms';

/**
 * compare's federated − central row comes from the federated arm's paired evaluation round (the
 * sites' executors, the coordinator's stored aggregates). It must be exactly what compare's own
 * in-process path computes from the same two models on the same patients: then the report's
 * figure is both what a real federation would report and what compare always reported.
 */
describe('compare: federated − central from the paired evaluation round', () => {
  const config = modelConfig(TINY);
  const recipe = recipeWithEpochs(QUICK_RECIPE, { finetune: 1 });
  let workDir: string;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    workDir = mkdtempSync(join(tmpdir(), 'phcc-paired-arm-'));
  });
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  const site = (name: string, seed: number): CompareSite => ({
    site: name,
    dir: `/${name}`,
    external: false,
    samples: constructedCohort(config, { patients: 16, seed }).map((p, i) => ({
      ...p,
      split: i < 8 ? 'train' : 'test',
    })),
  });

  it.each(['fedavg', 'fedbn'] as const)(
    '%s: the sites’ aggregates equal compare’s own, and so does the combined row',
    async (strategy) => {
      const sites = [site('site-a', 1), site('site-b', 2)];
      const arms = planArms({
        kinds: ['central', 'federated'],
        ssl: 'off',
        strategies: [strategy],
        sites: [],
      });
      const [central, federated] = arms;
      const ctx = (dir: string) => ({
        config,
        recipe,
        sites,
        seed: 4,
        workDir: join(workDir, strategy, dir),
        log: silentLog,
        print: () => undefined,
      });
      const centralModel = await trainArm(central, ctx('central'));
      const fedModel = await trainArm(federated, {
        ...ctx('federated'),
        compareWith: { arm: central.id, model: centralModel },
      });
      expect(fedModel.paired?.failed).toBeUndefined();
      expect(fedModel.paired?.against).toBe('central');

      // compare's own path: both models scored here, the DeLong aggregates computed here.
      const models = new Map<string, ArmModel>([
        [central.id, centralModel],
        [federated.id, fedModel],
      ]);
      const pairs: [string, string][] = [[federated.id, central.id]];
      const aggregates: SiteAggregates[] = [];
      for (const s of sites) {
        const patients = evaluationPatients(s);
        const scores = new Map<string, Float32Array>();
        for (const arm of [federated, central])
          scores.set(
            arm.id,
            await scoreArm(
              config,
              weightsAt(models.get(arm.id)!, s.site),
              patients,
              recipe.finetune.batchSize,
            ),
          );
        aggregates.push(
          siteAggregates(
            s.site,
            false,
            patients.map((p) => p.label as number),
            scores,
            pairs,
          ),
        );
      }
      const own = aggregates.map((a) => {
        const { a: _a, b: _b, ...pair } = a.pairs[0];
        return { site: a.site, ...pair };
      });
      expect(fedModel.paired!.sites).toEqual(own);
      expect(own.every((s) => s.varA > 0 && s.nPos >= 2 && s.nNeg >= 2)).toBe(true);

      const planned = planComparisons(arms);
      const armResults = arms.map((a) => armResult(a.name, a.ssl, aggregates));
      const [fromSites] = resolveComparisons(
        planned,
        armResults,
        aggregates,
        false,
        new Map([[federated.id, fedModel.paired!]]),
      );
      const [fromCompare] = resolveComparisons(planned, armResults, aggregates, false);
      expect(fromSites.source).toBe('paired-round');
      expect(fromCompare.source).toBeUndefined();
      const { source: _source, ...numbers } = fromSites;
      expect(numbers).toEqual(fromCompare);
      expect(fromSites.diff).not.toBeNull();
    },
    120_000,
  );
});

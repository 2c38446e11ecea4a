import { validatePlan } from '../../../coordinator/src/runs/run-plan';
import { modelConfig, TINY_MODEL } from '../../../../libs/model/src/network/config';
import { centralTrainOptions, DEFAULT_RECIPE, federatedPlan, QUICK_RECIPE, recipeWithEpochs } from './budget';

const config = modelConfig(TINY_MODEL);

describe('compare budget', () => {
  it('gives the federated arm rounds × local epochs equal to the central epochs, with the same recipe', () => {
    for (const recipe of [DEFAULT_RECIPE, QUICK_RECIPE]) {
      const plan = validatePlan(
        federatedPlan(recipe, { strategy: 'fedavg', ssl: true, seed: 3, sites: 3, config }),
        'test plan',
      );
      const central = centralTrainOptions(recipe, 3);
      const ssl = plan.stages.ssl!;
      const ft = plan.stages.finetune!;
      expect(ssl.rounds * ssl.localEpochs).toBe(central.ssl.epochs);
      expect(ft.rounds * ft.localEpochs).toBe(central.finetune.epochs);
      expect(ssl.optimiser).toEqual({
        name: 'adam',
        lr: central.ssl.lr,
        weightDecay: central.ssl.weightDecay,
      });
      expect(ft.optimiser).toEqual({
        name: 'adam',
        lr: central.finetune.lr,
        weightDecay: central.finetune.weightDecay,
      });
      expect(ft.batchSize).toBe(central.finetune.batchSize);
      expect(ssl.batchSize).toBe(central.ssl.batchSize);
      expect(ft.warmupEpochs).toBe(central.finetune.warmupEpochs);
      expect(ft.frozenEncoderWarmupEpochs).toBe(central.finetune.freezeEncoderEpochs);
      expect(plan.quorum.minSites).toBe(3);
      expect(plan.encoding).toBe('float32');
      expect(plan.seed).toBe(3);
    }
  });

  it('leaves out the SSL stage without SSL and sets FedProx μ only for fedprox', () => {
    const off = federatedPlan(QUICK_RECIPE, { strategy: 'fedprox', ssl: false, seed: 1, sites: 2, config });
    const plan = validatePlan(off, 'test plan');
    expect(plan.stages.ssl).toBeUndefined();
    expect(plan.strategy.name).toBe('fedprox');
    expect(plan.strategy.params?.mu).toBeGreaterThan(0);
    const avg = federatedPlan(QUICK_RECIPE, { strategy: 'fedavg', ssl: false, seed: 1, sites: 2, config });
    expect(validatePlan(avg, 'test plan').strategy.params).toBeUndefined();
  });

  it('keeps local epochs that divide new epoch counts and falls back to 1 otherwise', () => {
    const r = recipeWithEpochs(QUICK_RECIPE, { ssl: 1, finetune: 2 });
    expect(r.ssl).toMatchObject({ epochs: 1, localEpochs: 1, warmupEpochs: 0 });
    expect(r.finetune).toMatchObject({ epochs: 2, localEpochs: 1, freezeEncoderEpochs: 1 });
    const nine = recipeWithEpochs(QUICK_RECIPE, { finetune: 9 });
    expect(nine.finetune.localEpochs).toBe(3);
    expect(recipeWithEpochs(QUICK_RECIPE, {})).toEqual(QUICK_RECIPE);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { packageRoot } from '../../../../libs/common/src';
import { epochsPerSite, federatedBudgetFor } from '../../../../libs/federated/src';
import { DEFAULT_FINETUNE_OPTIONS } from '../../../../libs/model/src/training/loops';

/** The example plan's fine-tune stage follows the budget rule against `train`'s defaults. */
describe('configs/plans/quick.yaml: the federated fine-tune budget equals the central one', () => {
  const plan = parseYaml(readFileSync(join(packageRoot(), 'configs', 'plans', 'quick.yaml'), 'utf8')) as {
    stages: {
      finetune: {
        rounds: number;
        localEpochs: number;
        warmupEpochs: number;
        frozenEncoderWarmupEpochs: number;
        batchSize: number;
        optimiser: { name: string; lr: number; weightDecay: number };
      };
    };
  };
  const stage = plan.stages.finetune;
  const central = DEFAULT_FINETUNE_OPTIONS;

  it('rounds × local epochs, warm-up, head-only epochs, LR, batch size and decay match train', () => {
    expect(epochsPerSite(stage)).toBe(central.epochs);
    expect(
      federatedBudgetFor(
        {
          epochs: central.epochs,
          warmupEpochs: central.warmupEpochs,
          freezeEncoderEpochs: central.freezeEncoderEpochs,
        },
        stage.localEpochs,
      ),
    ).toMatchObject({
      rounds: stage.rounds,
      warmupEpochs: stage.warmupEpochs,
      frozenEncoderWarmupEpochs: stage.frozenEncoderWarmupEpochs,
    });
    expect(stage.optimiser).toEqual({ name: 'adam', lr: central.lr, weightDecay: central.weightDecay });
    expect(stage.batchSize).toBe(central.batchSize);
  });
});

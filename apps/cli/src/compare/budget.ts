import { InputError } from '../../../../libs/common/src';
import { federatedBudgetFor } from '../../../../libs/federated/src/schedule/budget';
import type { ModelConfig } from '../../../../libs/model/src/network/config';
import { DEFAULT_FINETUNE_OPTIONS, DEFAULT_SSL_OPTIONS } from '../../../../libs/model/src/training/defaults';
import type { FinetuneTrainOptions, SslTrainOptions } from '../../../../libs/model/src/training/loops';

/**
 * One training recipe for every arm of a comparison. Central and local arms run it as `train`
 * does (epochs over their training patients); a federated arm gets rounds × local epochs equal to
 * those epochs with the same peak LR, warm-up, head-only epochs, batch size, optimiser (AdamW) and
 * weight decay — `federatedBudgetFor`, the documented rule (docs/MODEL.md).
 */
export interface StageRecipe {
  epochs: number;
  /** Epochs each site trains per federated round; must divide `epochs`. */
  localEpochs: number;
  lr: number;
  batchSize: number;
  warmupEpochs: number;
  weightDecay: number;
}

export interface CompareRecipe {
  ssl: StageRecipe;
  finetune: StageRecipe & { freezeEncoderEpochs: number };
}

/** `train`'s defaults: 12 SSL epochs (12 rounds × 1), 15 fine-tune epochs (3 rounds × 5). */
export const DEFAULT_RECIPE: CompareRecipe = Object.freeze({
  ssl: {
    epochs: DEFAULT_SSL_OPTIONS.epochs,
    localEpochs: 1,
    lr: DEFAULT_SSL_OPTIONS.lr,
    batchSize: DEFAULT_SSL_OPTIONS.batchSize,
    warmupEpochs: DEFAULT_SSL_OPTIONS.warmupEpochs,
    weightDecay: DEFAULT_SSL_OPTIONS.weightDecay,
  },
  finetune: {
    epochs: DEFAULT_FINETUNE_OPTIONS.epochs,
    localEpochs: 5,
    lr: DEFAULT_FINETUNE_OPTIONS.lr,
    batchSize: DEFAULT_FINETUNE_OPTIONS.batchSize,
    warmupEpochs: DEFAULT_FINETUNE_OPTIONS.warmupEpochs,
    weightDecay: DEFAULT_FINETUNE_OPTIONS.weightDecay,
    freezeEncoderEpochs: DEFAULT_FINETUNE_OPTIONS.freezeEncoderEpochs,
  },
});

/** `--quick`: the tiny model's smoke budget, 2 SSL epochs (2 × 1) and 6 fine-tune epochs (2 × 3). */
export const QUICK_RECIPE: CompareRecipe = Object.freeze({
  ssl: { ...DEFAULT_RECIPE.ssl, epochs: 2, localEpochs: 1, batchSize: 8 },
  finetune: { ...DEFAULT_RECIPE.finetune, epochs: 6, localEpochs: 3, freezeEncoderEpochs: 1 },
});

/** The recipe with the given epochs per stage (local epochs kept when they still divide). */
export function recipeWithEpochs(
  base: CompareRecipe,
  epochs: { ssl?: number; finetune?: number },
): CompareRecipe {
  const stage = <S extends StageRecipe>(s: S, n: number | undefined): S => {
    if (n === undefined) return s;
    const localEpochs = n % s.localEpochs === 0 ? s.localEpochs : 1;
    return { ...s, epochs: n, localEpochs, warmupEpochs: Math.min(s.warmupEpochs, n - 1) };
  };
  const finetune = stage(base.finetune, epochs.finetune);
  return {
    ssl: stage(base.ssl, epochs.ssl),
    finetune: {
      ...finetune,
      freezeEncoderEpochs: Math.min(finetune.freezeEncoderEpochs, finetune.epochs - 1),
    },
  };
}

/** What `trainSsl` / `trainFinetune` get for a central or local arm. */
export function centralTrainOptions(
  recipe: CompareRecipe,
  seed: number,
): { ssl: Partial<SslTrainOptions>; finetune: Partial<FinetuneTrainOptions> } {
  const common = (s: StageRecipe) => ({
    seed,
    epochs: s.epochs,
    lr: s.lr,
    batchSize: s.batchSize,
    warmupEpochs: s.warmupEpochs,
    weightDecay: s.weightDecay,
  });
  return {
    ssl: common(recipe.ssl),
    finetune: { ...common(recipe.finetune), freezeEncoderEpochs: recipe.finetune.freezeEncoderEpochs },
  };
}

/** FedBN keeps normalisation layers at each site: its arm is evaluated with each site's own (train-arms.ts). */
export const COMPARE_STRATEGIES = ['fedavg', 'fedprox', 'fedbn'] as const;
export type CompareStrategy = (typeof COMPARE_STRATEGIES)[number];

/** FedProx's proximal weight in the comparison (Li et al. 2020 report μ ∈ {0.001 … 1}; 0.01 is their common pick). */
export const FEDPROX_MU = 0.01;

/**
 * The run plan (as `validatePlan` takes it) of a federated arm: rounds from the budget rule, the
 * central recipe's optimiser and schedule, every site in every round, float32 updates (a lossy
 * encoding would be a difference between the arms that is not the federated algorithm).
 */
export function federatedPlan(
  recipe: CompareRecipe,
  o: { strategy: CompareStrategy; ssl: boolean; seed: number; sites: number; config: ModelConfig },
): Record<string, unknown> {
  const ssl = federatedBudgetFor(recipe.ssl, recipe.ssl.localEpochs);
  const finetune = federatedBudgetFor(recipe.finetune, recipe.finetune.localEpochs);
  const optimiser = (s: StageRecipe) => ({ name: 'adam', lr: s.lr, weightDecay: s.weightDecay });
  if (o.sites < 1) throw new InputError('compare: a federated arm needs at least one training site');
  return {
    name: `compare federated-${o.strategy}${o.ssl ? '+ssl' : ''}`,
    seed: o.seed,
    sites: 'all',
    stages: {
      ...(o.ssl
        ? {
            ssl: {
              rounds: ssl.rounds,
              localEpochs: ssl.localEpochs,
              optimiser: optimiser(recipe.ssl),
              maskRatio: o.config.maskRatio,
              batchSize: recipe.ssl.batchSize,
              warmupEpochs: ssl.warmupEpochs,
            },
          }
        : {}),
      finetune: {
        rounds: finetune.rounds,
        localEpochs: finetune.localEpochs,
        optimiser: optimiser(recipe.finetune),
        batchSize: recipe.finetune.batchSize,
        warmupEpochs: finetune.warmupEpochs,
        frozenEncoderWarmupEpochs: finetune.frozenEncoderWarmupEpochs,
      },
    },
    strategy:
      o.strategy === 'fedprox' ? { name: 'fedprox', params: { mu: FEDPROX_MU } } : { name: o.strategy },
    quorum: { minSites: o.sites },
    roundDeadlineSeconds: 3600,
    maxRetries: 0,
    encoding: 'float32',
    evaluation: { final: false },
    model: { ...o.config },
  };
}

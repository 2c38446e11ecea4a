import { InputError } from '../../../common/src';
import { StageBudget } from './lr-schedule';

/**
 * The budget rule that makes a federated arm comparable with the central one.
 *
 * A training budget is counted in **epochs over each patient's site data**: the central arm's
 * epoch is one pass over the pooled training patients; a federated round with E local epochs is
 * E passes of every site over its own training patients. So a central run of C epochs and a
 * federated stage of R rounds × E local epochs show every training patient to the optimiser the
 * same number of times exactly when R·E = C. The rest of the recipe is carried over unchanged:
 * peak LR, warm-up epochs and frozen-encoder epochs (counted on the same global-epoch axis,
 * `stageScheduleOf`), batch size, optimiser and weight decay. What differs by design is the
 * number of optimiser steps (site k takes C·⌈n_k/B⌉ steps, the central arm C·⌈N/B⌉ on N = Σ n_k)
 * and that site models are averaged every E epochs: that is the federated algorithm under test,
 * not a difference of budget.
 */
export interface CentralRecipe {
  /** Epochs of the central run (`train --epochs`). */
  epochs: number;
  warmupEpochs: number;
  /** Fine-tune only: head-only epochs at the start. */
  freezeEncoderEpochs?: number;
}

export interface FederatedBudget extends StageBudget {
  /** Equal to the central warm-up: the schedule spans the stage (rounds × localEpochs epochs). */
  warmupEpochs: number;
  /** The plan's `frozenEncoderWarmupEpochs`, spread over rounds by the coordinator. */
  frozenEncoderWarmupEpochs: number;
  /** rounds × localEpochs: equals the central epochs. */
  epochsPerSite: number;
}

/** Rounds and schedule of a federated stage with E local epochs per round, given the central recipe. */
export function federatedBudgetFor(central: CentralRecipe, localEpochs: number): FederatedBudget {
  if (!Number.isInteger(central.epochs) || central.epochs < 1)
    throw new InputError(`budget: central epochs must be a positive integer (got ${central.epochs})`);
  if (!Number.isInteger(localEpochs) || localEpochs < 1)
    throw new InputError(`budget: local epochs must be a positive integer (got ${localEpochs})`);
  if (central.epochs % localEpochs !== 0) {
    throw new InputError(
      `budget: ${central.epochs} central epochs are not a whole number of rounds of ${localEpochs} local epochs; ` +
        'choose local epochs that divide them so both arms train every patient equally often',
    );
  }
  const rounds = central.epochs / localEpochs;
  return {
    rounds,
    localEpochs,
    warmupEpochs: central.warmupEpochs,
    frozenEncoderWarmupEpochs: central.freezeEncoderEpochs ?? 0,
    epochsPerSite: rounds * localEpochs,
  };
}

/** Epochs over each site's data that a federated stage gives: rounds × localEpochs. */
export function epochsPerSite(stage: StageBudget): number {
  return stage.rounds * stage.localEpochs;
}

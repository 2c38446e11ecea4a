import { NamedArray } from '../types';
import { BaseStrategyOptions, FoldingStrategy } from './base';

/** Options of `FedAvg`: see `BaseStrategyOptions` (`updateKind` = 'delta', `keepLocal` = null). */
export type FedAvgOptions = BaseStrategyOptions;

/**
 * Federated Averaging (McMahan et al. 2017): the new global is the sample-weighted mean of the
 * sites' models,  w ← Σ nᵢ·wᵢ / Σ nᵢ  (or, with deltas, w ← w + Σ nᵢ·Δᵢ / Σ nᵢ).
 *
 * Tensors outside the stage's parts (the decoder in fine-tuning, the head in SSL) and tensors
 * matching `keepLocal` keep their global values unchanged.
 */
export class FedAvg extends FoldingStrategy {
  readonly name: string = 'fedavg';

  constructor(options: FedAvgOptions = {}) {
    super(options);
  }

  protected finishTensor(global: NamedArray, sum: Float64Array, totalWeight: number): void {
    const g = global.values;
    // Computed in float64, rounded to float32 once by the typed-array store.
    if (this.updateKind === 'delta') {
      for (let i = 0; i < g.length; i++) g[i] = g[i] + sum[i] / totalWeight;
    } else {
      for (let i = 0; i < g.length; i++) g[i] = sum[i] / totalWeight;
    }
  }
}

import { InputError } from '../../../common/src';
import { BaseStrategyOptions } from './base';
import { FedAvg } from './fedavg';

/**
 * Options of `FedProx`.
 * - `mu` (default 0.01): proximal coefficient μ sent to the sites; 0 turns FedProx into FedAvg.
 *   Li et al. (2020) tune it in {0.001, 0.01, 0.1, 1}; larger μ keeps heterogeneous sites closer
 *   to the global model.
 * - plus `BaseStrategyOptions`.
 */
export interface FedProxOptions extends BaseStrategyOptions {
  mu?: number;
}

/**
 * FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks"). The server side is
 * FedAvg; the difference lives at the site, which minimises  loss(w) + (μ/2)·‖w − w_global‖²
 * (see `proximalTerm` / `proximalLoss`). `configureFit` carries μ in every instruction.
 */
export class FedProx extends FedAvg {
  override readonly name: string = 'fedprox';
  readonly mu: number;

  constructor(options: FedProxOptions = {}) {
    super(options);
    this.mu = options.mu ?? 0.01;
    if (!(this.mu >= 0) || !Number.isFinite(this.mu)) {
      throw new InputError(`fedprox mu must be a finite number ≥ 0 (got ${options.mu})`);
    }
  }

  protected override proximalMu(): number {
    return this.mu;
  }
}

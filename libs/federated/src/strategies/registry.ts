import { InputError } from '../../../common/src';
import { FedAdam, FedAdamOptions } from './fedadam';
import { FedAvg, FedAvgOptions } from './fedavg';
import { FedBN, FedBNOptions } from './fedbn';
import { FedProx, FedProxOptions } from './fedprox';
import { Strategy } from './strategy';

export const STRATEGY_NAMES = ['fedavg', 'fedprox', 'fedadam', 'fedbn'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** A strategy as a run plan names it: `{ name: 'fedprox', mu: 0.1 }`. */
export type StrategySpec =
  | ({ name: 'fedavg' } & FedAvgOptions)
  | ({ name: 'fedprox' } & FedProxOptions)
  | ({ name: 'fedadam' } & FedAdamOptions)
  | ({ name: 'fedbn' } & FedBNOptions);

export function createStrategy(spec: StrategySpec): Strategy {
  switch (spec.name) {
    case 'fedavg':
      return new FedAvg(spec);
    case 'fedprox':
      return new FedProx(spec);
    case 'fedadam':
      return new FedAdam(spec);
    case 'fedbn':
      return new FedBN(spec);
    default:
      throw new InputError(
        `unknown strategy "${(spec as { name: string }).name}" (expected one of ${STRATEGY_NAMES.join(', ')})`,
      );
  }
}

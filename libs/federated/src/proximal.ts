import { InputError } from '../../common/src';
import { byName, squaredDistance } from './named-arrays';
import { NamedArray } from './types';

/**
 * FedProx's proximal term on plain arrays: (μ/2)·‖w − w_global‖², summed over the given tensors
 * (the ones the site trains and sends). For logging and for non-tfjs trainers; training with tfjs
 * uses `proximalLoss` so that autodiff sees it.
 */
export function proximalTerm(
  params: readonly NamedArray[],
  globalParams: readonly NamedArray[],
  mu: number,
): number {
  assertMu(mu);
  if (mu === 0) return 0;
  return (mu / 2) * squaredDistance(params, byName(globalParams));
}

/** ∇ of the proximal term: μ·(w − w_global), per tensor. Add it to the loss gradient. */
export function proximalGradient(
  params: readonly NamedArray[],
  globalParams: readonly NamedArray[],
  mu: number,
): NamedArray[] {
  assertMu(mu);
  const globals = byName(globalParams);
  return params.map((p) => {
    const g = globals.get(p.name);
    if (!g || g.values.length !== p.values.length) {
      throw new InputError(`no global tensor matching "${p.name}" for the proximal term`);
    }
    const values = new Float32Array(p.values.length);
    for (let i = 0; i < values.length; i++) values[i] = mu * (p.values[i] - g.values[i]);
    return { name: p.name, shape: [...p.shape], values };
  });
}

function assertMu(mu: number): void {
  if (!(mu >= 0) || !Number.isFinite(mu)) {
    throw new InputError(`proximal mu must be a finite number ≥ 0 (got ${mu})`);
  }
}

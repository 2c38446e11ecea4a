import { InputError, PhccError } from '../../../common/src';
import { NamedArray } from '../types';
import { BaseStrategyOptions, FoldingStrategy } from './base';
import { ConfigValue } from './strategy';

/**
 * Options of `FedAdam` (defaults follow Reddi et al.'s recommended ranges).
 * - `eta` (default 0.01): server learning rate η.
 * - `beta1` (default 0.9): first-moment decay β₁.
 * - `beta2` (default 0.99): second-moment decay β₂.
 * - `tau` (default 1e-3): adaptivity τ; larger τ makes the update less adaptive (closer to SGD).
 * - `biasCorrection` (default false): Adam-style bias correction of η, as Flower does; the paper's
 *   Algorithm 2 has none.
 * - plus `BaseStrategyOptions` (`updateKind` = 'delta', `keepLocal` = null).
 */
export interface FedAdamOptions extends BaseStrategyOptions {
  eta?: number;
  beta1?: number;
  beta2?: number;
  tau?: number;
  biasCorrection?: boolean;
}

const STATE_PREFIX = 'fedadam/';

/**
 * FedAdam (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2). The sample-
 * weighted mean of the sites' deltas is a pseudo-gradient Δ; the server applies Adam to it:
 *
 *   m ← β₁·m + (1 − β₁)·Δ        v ← β₂·v + (1 − β₂)·Δ²        w ← w + η·m / (√v + τ)
 *
 * with m₀ = 0 and v₀ = τ² per element. m and v are float32 per aggregated tensor and survive a
 * coordinator restart through `exportState` / `importState`. They cost 2× the aggregated model's
 * bytes of persistent memory on top of the fold's working set.
 */
export class FedAdam extends FoldingStrategy {
  readonly name: string = 'fedadam';
  readonly eta: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly tau: number;
  readonly biasCorrection: boolean;
  private readonly moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  /** Server steps taken (rounds aggregated), for bias correction. */
  private step = 0;

  constructor(options: FedAdamOptions = {}) {
    super(options);
    this.eta = positive('eta', options.eta ?? 0.01);
    this.beta1 = unitInterval('beta1', options.beta1 ?? 0.9);
    this.beta2 = unitInterval('beta2', options.beta2 ?? 0.99);
    this.tau = positive('tau', options.tau ?? 1e-3);
    this.biasCorrection = options.biasCorrection ?? false;
  }

  override get parameters(): Readonly<Record<string, ConfigValue | null>> {
    return {
      ...super.parameters,
      eta: this.eta,
      beta1: this.beta1,
      beta2: this.beta2,
      tau: this.tau,
      biasCorrection: this.biasCorrection,
    };
  }

  protected override beforeFinish(): void {
    this.step++;
  }

  protected finishTensor(global: NamedArray, sum: Float64Array, totalWeight: number): void {
    const { m, v } = this.momentsFor(global.name, global.values.length);
    const g = global.values;
    const { beta1, beta2, tau } = this;
    const eta = this.biasCorrection
      ? (this.eta * Math.sqrt(1 - beta2 ** this.step)) / (1 - beta1 ** this.step)
      : this.eta;
    const fullWeights = this.updateKind === 'weights';
    for (let i = 0; i < g.length; i++) {
      const mean = sum[i] / totalWeight;
      const delta = fullWeights ? mean - g[i] : mean;
      const mi = beta1 * m[i] + (1 - beta1) * delta;
      const vi = beta2 * v[i] + (1 - beta2) * delta * delta;
      m[i] = mi;
      v[i] = vi;
      g[i] = g[i] + (eta * mi) / (Math.sqrt(vi) + tau);
    }
  }

  private momentsFor(name: string, length: number): { m: Float32Array; v: Float32Array } {
    let state = this.moments.get(name);
    if (!state) {
      // A tensor first aggregated now (e.g. the head when fine-tuning starts) starts fresh.
      state = { m: new Float32Array(length), v: new Float32Array(length).fill(this.tau * this.tau) };
      this.moments.set(name, state);
    }
    if (state.m.length !== length) {
      throw new PhccError(
        `FedAdam state for "${name}" has ${state.m.length} values, the tensor ${length}`,
        'STATE_MISMATCH',
      );
    }
    return state;
  }

  /** `fedadam/step` ([1]), then `fedadam/m/<tensor>` and `fedadam/v/<tensor>` per tensor (flat). */
  override exportState(): NamedArray[] {
    const state: NamedArray[] = [
      { name: `${STATE_PREFIX}step`, shape: [1], values: Float32Array.of(this.step) },
    ];
    for (const [name, { m, v }] of this.moments) {
      state.push({ name: `${STATE_PREFIX}m/${name}`, shape: [m.length], values: new Float32Array(m) });
      state.push({ name: `${STATE_PREFIX}v/${name}`, shape: [v.length], values: new Float32Array(v) });
    }
    return state;
  }

  override importState(state: readonly NamedArray[]): void {
    const moments = new Map<string, { m?: Float32Array; v?: Float32Array }>();
    let step: number | undefined;
    for (const array of state) {
      if (array.name === `${STATE_PREFIX}step`) {
        step = array.values[0];
        continue;
      }
      const match = /^fedadam\/([mv])\/(.+)$/.exec(array.name);
      if (!match) throw new InputError(`FedAdam state has an unknown tensor "${array.name}"`);
      const entry = moments.get(match[2]) ?? {};
      entry[match[1] as 'm' | 'v'] = new Float32Array(array.values);
      moments.set(match[2], entry);
    }
    if (step === undefined || !Number.isInteger(step) || step < 0) {
      throw new InputError('FedAdam state lacks a valid "fedadam/step"');
    }
    this.moments.clear();
    for (const [name, { m, v }] of moments) {
      if (!m || !v || m.length !== v.length) {
        throw new InputError(`FedAdam state for "${name}" needs m and v of equal length`);
      }
      this.moments.set(name, { m, v });
    }
    this.step = step;
  }
}

function positive(field: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new InputError(`fedadam ${field} must be a finite number > 0 (got ${value})`);
  }
  return value;
}

function unitInterval(field: string, value: number): number {
  if (!(value >= 0 && value < 1)) throw new InputError(`fedadam ${field} must be in [0, 1) (got ${value})`);
  return value;
}

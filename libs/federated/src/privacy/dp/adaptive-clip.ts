import { InputError } from '../../../../common/src';

/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy, "Differentially Private Learning
 * with Adaptive Clipping", NeurIPS 2021): the clip norm C follows a target quantile γ of the
 * sites' update norms instead of being guessed. Each site also reports one bit, b = 1 when its
 * update norm was ≤ C (summed under secure aggregation, in the trailer of its input); the
 * coordinator adds N(0, σ_b²) to the count, and updates C ← C·exp(−η·(b̄ − γ)) (geometric
 * update) with b̄ the noisy fraction.
 *
 * The bit costs privacy too; the paper's Theorem 1 keeps the total equal to one Gaussian
 * mechanism with multiplier z when the update noise uses z_Δ = (z^−2 − (2σ_b)^−2)^−1/2. So
 * the accountant keeps using z, and sites noise with z_Δ.
 */
/** The update metric a site adds when asked (the bit above): 1 when its norm was ≤ the clip. */
export const UNCLIPPED_METRIC = 'dp_unclipped';

export interface AdaptiveClipOptions {
  /** Starting clip norm C₀. */
  initialClip: number;
  /** γ, the quantile of update norms to track (paper default 0.5). */
  targetQuantile?: number;
  /** η_C, the geometric learning rate (paper default 0.2). */
  learningRate?: number;
  /** σ_b, the noise on the count of unclipped sites (paper: expected sites / 20). */
  countNoiseStd: number;
}

export interface AdaptiveClipState {
  clip: number;
  targetQuantile: number;
  learningRate: number;
  countNoiseStd: number;
}

export function initialAdaptiveClip(options: AdaptiveClipOptions): AdaptiveClipState {
  const state = {
    clip: options.initialClip,
    targetQuantile: options.targetQuantile ?? 0.5,
    learningRate: options.learningRate ?? 0.2,
    countNoiseStd: options.countNoiseStd,
  };
  if (!(state.clip > 0) || !Number.isFinite(state.clip))
    throw new InputError(`initialClip must be > 0 (got ${state.clip})`);
  if (!(state.targetQuantile >= 0 && state.targetQuantile <= 1))
    throw new InputError('targetQuantile must be in [0, 1]');
  if (!(state.learningRate > 0)) throw new InputError('learningRate must be > 0');
  if (!(state.countNoiseStd >= 0)) throw new InputError('countNoiseStd must be ≥ 0');
  return state;
}

/** The site's bit: 1 when its update norm is within the current clip. */
export function unclippedBit(updateNorm: number, state: AdaptiveClipState): 0 | 1 {
  return updateNorm <= state.clip ? 1 : 0;
}

/**
 * Next round's clip from the noisy count of unclipped sites (the sum of bits plus the
 * coordinator's N(0, σ_b²) draw) and the number of sites summed.
 */
export function nextAdaptiveClip(
  state: AdaptiveClipState,
  noisyUnclippedCount: number,
  sites: number,
): AdaptiveClipState {
  if (!(sites >= 1)) throw new InputError(`adaptive clipping needs at least one summed site (got ${sites})`);
  const fraction = Math.min(1, Math.max(0, noisyUnclippedCount / sites));
  return { ...state, clip: state.clip * Math.exp(-state.learningRate * (fraction - state.targetQuantile)) };
}

/**
 * z_Δ, the update noise multiplier that leaves the whole round at multiplier z once the count
 * noise σ_b is accounted for; needs 2σ_b > z.
 */
export function updateNoiseMultiplier(noiseMultiplier: number, countNoiseStd: number): number {
  if (noiseMultiplier === 0) return 0;
  if (!(2 * countNoiseStd > noiseMultiplier)) {
    throw new InputError(
      `adaptive clipping with noise multiplier ${noiseMultiplier} needs countNoiseStd > ${noiseMultiplier / 2} (got ${countNoiseStd})`,
    );
  }
  return (noiseMultiplier ** -2 - (2 * countNoiseStd) ** -2) ** -0.5;
}

import { createHash } from 'node:crypto';
import { InputError } from '../../../common/src';
import type { NamedArray, TensorLayout } from '../types';
import { FixedPoint, fixedPointFor } from './fixed-point';
import { SecAggConfig } from './secagg-messages';
import {
  decodeWeightedSum,
  encodeWeightedUpdate,
  WeightedLayout,
  weightedVectorLength,
} from './weighted-input';

/**
 * Secure aggregation as a training round runs it: the settings a task carries, what a site
 * encodes (its clipped, weighted update) and how the coordinator turns the unmasked sum back into
 * the mean update a strategy folds. One definition for the engine, the coordinator, the agent and
 * the simulator, so all four agree on every number.
 */

/**
 * The ring: 48 bits leave ⌊47 − log2(n·(maxAbs + 1))⌋ fractional bits, 36 at 100 sites, so the
 * sum's rounding (≤ n·2^−(f+1)) stays far below float32's resolution of the weights; masks cost
 * 6 bytes per value on the wire.
 */
export const SECAGG_RING_BITS = 48;
/**
 * Largest |value| a site may put into the sum (weight or delta, after multiplying by its weight
 * w ≤ 1). Sites clip to it and count what they clipped; the coordinator cannot see a value, so
 * this bound takes the place of its per-update norm check (docs/PRIVACY.md §3).
 */
export const SECAGG_MAX_ABS = 256;
/**
 * A site's weight in the mean is min(1, nSamples / cap): exact sample weighting for any site with
 * up to this many training samples (a hospital's cohort), and a bounded weight for any larger claim.
 */
export const SECAGG_WEIGHT_CAP = 4096;

/** What a training task tells each site about the round's secure aggregation (signed with it). */
export interface SecureAggregationSettings {
  /** Names this attempt's SecAgg session: every key, seed and mask is bound to it. */
  sessionId: string;
  /** t: shares needed to unmask, per neighbourhood. */
  threshold: number;
  /** SecAgg+ neighbour degree; absent = complete graph. */
  neighbours?: number;
  ringBits: number;
  fractionBits: number;
  maxAbs: number;
  weightCap: number;
}

/** The plan's `privacy` as the engine reads it (PrivacyDto satisfies it). */
export interface SecureAggregationPlan {
  secureAggregation: boolean;
  threshold?: number;
  neighbours?: number;
}

/**
 * Settings for an attempt of `selected` sites: the finest fixed point for which their sum cannot
 * overflow. The session id hashes the attempt's place (run, stage, round, attempt) so that no two
 * attempts ever share a mask.
 */
export function secureAggregationSettings(
  privacy: SecureAggregationPlan,
  selected: number,
  attempt: { runId: string; stage: string; round: number; attempt: number },
): SecureAggregationSettings {
  if (privacy.threshold === undefined)
    throw new InputError('privacy.secureAggregation needs privacy.threshold');
  const fp = fixedPointFor({
    sites: Math.max(1, selected),
    maxAbs: SECAGG_MAX_ABS,
    ringBits: SECAGG_RING_BITS,
  });
  const sessionId =
    'sa-' +
    createHash('sha256')
      .update(`${attempt.runId}\n${attempt.stage}\n${attempt.round}\n${attempt.attempt}`)
      .digest('hex')
      .slice(0, 40);
  return {
    sessionId,
    threshold: privacy.threshold,
    ...(privacy.neighbours !== undefined ? { neighbours: privacy.neighbours } : {}),
    ringBits: fp.ringBits,
    fractionBits: fp.fractionBits,
    maxAbs: fp.maxAbs,
    weightCap: SECAGG_WEIGHT_CAP,
  };
}

export function fixedPointOf(settings: SecureAggregationSettings): FixedPoint {
  return { ringBits: settings.ringBits, fractionBits: settings.fractionBits, maxAbs: settings.maxAbs };
}

/** The weighted input's layout: the upload's tensors, then the weight (no extra scalars yet). */
export function weightedLayoutOf(upload: readonly TensorLayout[]): WeightedLayout {
  return { tensors: upload, extras: [] };
}

/** The state machines' config for one session over `upload` (both ends derive the same). */
export function secAggConfigOf(
  settings: SecureAggregationSettings,
  upload: readonly TensorLayout[],
): SecAggConfig {
  return {
    roundId: settings.sessionId,
    threshold: settings.threshold,
    neighbours: settings.neighbours ?? null,
    ringBits: settings.ringBits,
    vectorLength: weightedVectorLength(weightedLayoutOf(upload)),
  };
}

/** A site's input, ready to mask, and what clipping changed. */
export interface SecureInput {
  input: Float64Array;
  weight: number;
  /** Values (after weighting) that lay outside ±maxAbs and were clipped to it. */
  clipped: number;
}

/**
 * The site's side: its update (in upload order) weighted by min(1, nSamples/cap), each value
 * clipped to ±maxAbs (counted), then fixed-point encoded. A non-finite value is refused: it would
 * poison a sum that nobody can inspect.
 */
export function encodeSecureInput(
  arrays: readonly NamedArray[],
  nSamples: number,
  settings: SecureAggregationSettings,
): SecureInput {
  const weight = Math.min(1, nSamples / settings.weightCap);
  if (!(weight > 0))
    throw new InputError(`a site with ${nSamples} training samples has no weight in the mean`);
  let clipped = 0;
  // A hair inside the bound, so that float32 rounding of the clipped value never crosses it.
  const bound = (settings.maxAbs / weight) * (1 - 1e-6);
  const safe = arrays.map((a) => {
    const values = new Float32Array(a.values.length);
    for (let i = 0; i < values.length; i++) {
      const v = a.values[i];
      if (!Number.isFinite(v))
        throw new InputError(`update tensor ${a.name} value ${i} is ${v}; nothing non-finite is aggregated`);
      if (Math.abs(v) > bound) clipped++;
      values[i] = Math.max(-bound, Math.min(bound, v));
    }
    return { name: a.name, shape: [...a.shape], values };
  });
  const layout = weightedLayoutOf(arrays.map((a) => ({ name: a.name, shape: a.shape })));
  const input = encodeWeightedUpdate(safe, weight, [], layout, fixedPointOf(settings));
  return { input, weight, clipped };
}

/** The coordinator's side: the unmasked sum → the weighted mean update and the samples behind it. */
export function decodeSecureSum(
  sum: Float64Array,
  settings: SecureAggregationSettings,
  upload: readonly TensorLayout[],
): { mean: NamedArray[]; totalWeight: number; samples: number } {
  const { arrays, totalWeight } = decodeWeightedSum(sum, weightedLayoutOf(upload), fixedPointOf(settings));
  return { mean: arrays, totalWeight, samples: Math.round(totalWeight * settings.weightCap) };
}

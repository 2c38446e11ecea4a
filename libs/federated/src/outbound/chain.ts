import { InputError } from '../../../common/src';
import { WeightEncoding } from '../../../weights/src';
import { keepLocalFromSource } from '../parts';
import { FitInstruction } from '../strategies/strategy';
import { NamedArray } from '../types';
import { ClipAndNoiseOptions, clipAndNoise, quantise, selectUpload, toDelta } from './filters';
import { OutgoingFilter } from './outgoing';

/**
 * Options of `siteOutgoingFilters`.
 * - `clip` (default none): `{ clipNorm, noiseMultiplier, rng, reportUnclipped }` for the Gaussian
 *   mechanism (filters.ts `ClipAndNoiseOptions`).
 * - `encoding` (default 'float32'): wire precision of the update.
 * - `mask` (default none): the secure-aggregation masking filter, when that lands (pairwise
 *   X25519 masks cancel in the sum; it must come after every filter that changes values).
 */
export interface SiteOutgoingOptions {
  instruction: Pick<FitInstruction, 'parts' | 'keepLocalPattern' | 'updateKind'>;
  /** The global weights the round started from (needed for deltas). */
  global: readonly NamedArray[];
  clip?: ClipAndNoiseOptions;
  encoding?: WeightEncoding;
  mask?: OutgoingFilter;
}

/**
 * The site's way out, in one place:
 *
 *   select (stage parts, minus keep-local) → delta → clip + noise → quantise → [mask] → (sign,
 *   libs/protocol)
 *
 * Clip + noise come before quantisation so that the noisy values are rounded once to what the
 * wire carries (quantising first would have the noise undo it and the encoder round again); the
 * privacy guarantee is unaffected because quantisation is post-processing.
 */
export function siteOutgoingFilters(options: SiteOutgoingOptions): OutgoingFilter[] {
  const { instruction } = options;
  const filters: OutgoingFilter[] = [
    selectUpload(instruction.parts, keepLocalFromSource(instruction.keepLocalPattern)),
  ];
  if (options.clip && instruction.updateKind !== 'delta') {
    throw new InputError('clipping and noise need a round that asks for deltas (updateKind "delta")');
  }
  if (instruction.updateKind === 'delta') filters.push(toDelta(options.global));
  if (options.clip) filters.push(clipAndNoise(options.clip));
  filters.push(quantise(options.encoding ?? 'float32'));
  if (options.mask) filters.push(options.mask);
  return filters;
}

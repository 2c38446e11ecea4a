import { InputError, PhccError } from '../../../common/src';
import { decodeWeights, encodeWeights, WeightEncoding, WEIGHT_ENCODINGS } from '../../../weights/src';
import { byName } from '../named-arrays';
import { clipToNorm, NoiseSource } from '../privacy/dp/gaussian';
import { ModelPart, uploadPredicate } from '../parts';
import { UNCLIPPED_METRIC } from '../privacy/dp/adaptive-clip';
import { NamedArray } from '../types';
import { OutgoingFilter } from './outgoing';

/**
 * Keeps only the tensors the instruction asked for: the stage's parts, minus those that must
 * stay at the site (FedBN's normalisation parameters never leave it).
 */
export function selectUpload(parts: readonly ModelPart[], keepLocal: RegExp | null): OutgoingFilter {
  const wanted = uploadPredicate(parts, keepLocal);
  return {
    name: 'select',
    process: (update) => ({ ...update, arrays: update.arrays.filter((a) => wanted(a.name)) }),
  };
}

/** Full local weights → difference to the global the round started from (w − w_global). */
export function toDelta(global: readonly NamedArray[]): OutgoingFilter {
  const globals = byName(global);
  return {
    name: 'delta',
    process(update) {
      if (update.kind === 'delta') return update;
      const arrays = update.arrays.map((a) => {
        const g = globals.get(a.name);
        if (!g || g.values.length !== a.values.length) {
          throw new PhccError(`no global tensor matching "${a.name}"`, 'NAME_MISMATCH');
        }
        const values = new Float32Array(a.values.length);
        for (let i = 0; i < values.length; i++) values[i] = a.values[i] - g.values[i];
        return { name: a.name, shape: [...a.shape], values };
      });
      return { ...update, kind: 'delta', arrays };
    },
  };
}

/**
 * Options of `clipAndNoise` (the Gaussian mechanism).
 * - `clipNorm` (required): the delta's L2 norm over all tensors is scaled down to at most this.
 * - `noiseMultiplier` (default 0): Gaussian noise with σ = noiseMultiplier × clipNorm is added to
 *   every value; 0 clips only.
 * - `rng`: the noise source; a seeded `Rng` replays a run in tests, a deployment uses
 *   `secureNormalNoise()` (a known seed would let anyone subtract the noise).
 * - `reportUnclipped` (default false): adaptive clipping's one bit, as metric `dp_unclipped`.
 *
 * With distributed noise under secure aggregation, pass `siteNoiseMultiplier(z, 'distributed', t)`
 * (libs/federated/src/privacy/dp/gaussian.ts) as the multiplier.
 */
export interface ClipAndNoiseOptions {
  clipNorm: number;
  noiseMultiplier?: number;
  rng: NoiseSource;
  /** Adaptive clipping: add the metric `dp_unclipped` (1 when the norm was within the clip). */
  reportUnclipped?: boolean;
}

/**
 * Bounds one site's influence (clip) and hides it (noise). Acts on deltas only: clipping full
 * weights would shrink the model itself. The accountant is `RdpAccountant` (privacy/dp).
 */
export function clipAndNoise(options: ClipAndNoiseOptions): OutgoingFilter {
  const { clipNorm, rng } = options;
  const noiseMultiplier = options.noiseMultiplier ?? 0;
  if (!(clipNorm > 0) || !Number.isFinite(clipNorm)) {
    throw new InputError(`clipNorm must be a finite number > 0 (got ${clipNorm})`);
  }
  if (!(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier)) {
    throw new InputError(`noiseMultiplier must be a finite number ≥ 0 (got ${noiseMultiplier})`);
  }
  const sigma = noiseMultiplier * clipNorm;
  return {
    name: 'clip-and-noise',
    process(update) {
      if (update.kind !== 'delta') {
        throw new PhccError(
          'clip-and-noise needs a delta update: put the delta filter first',
          'KIND_MISMATCH',
        );
      }
      const { arrays, clipped } = clipToNorm(update.arrays, clipNorm);
      if (sigma > 0)
        for (const a of arrays) for (let i = 0; i < a.values.length; i++) a.values[i] += rng.normal(0, sigma);
      const metrics = options.reportUnclipped
        ? { ...update.metrics, [UNCLIPPED_METRIC]: clipped ? 0 : 1 }
        : update.metrics;
      return { ...update, arrays, metrics };
    },
  };
}

/**
 * Rounds the values to what `encoding` carries (codec round trip), so the site knows, and can
 * log, exactly what it sends, and the encoder that follows is lossless. float32 passes unchanged.
 * Output tensors come in the codec's canonical (name) order.
 */
export function quantise(encoding: WeightEncoding): OutgoingFilter {
  if (!WEIGHT_ENCODINGS.includes(encoding)) {
    throw new InputError(`encoding must be one of ${WEIGHT_ENCODINGS.join(', ')} (got "${encoding}")`);
  }
  return {
    name: `quantise-${encoding}`,
    process(update) {
      if (encoding === 'float32') return update;
      return { ...update, arrays: decodeWeights(encodeWeights(update.arrays, encoding)) };
    },
  };
}

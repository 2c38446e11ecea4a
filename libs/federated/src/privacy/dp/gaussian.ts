import { randomFillSync } from 'node:crypto';
import { InputError, PhccError } from '../../../../common/src';
import { squaredDistance } from '../../named-arrays';
import { NamedArray } from '../../types';

/**
 * The Gaussian mechanism's parts that run at a site: bound the update's L2 norm (clip), and
 * draw the noise. Where the noise is added decides whom it protects against:
 *
 * - `central`: the coordinator adds N(0, (z·C)²) to the aggregate. Protects the released model
 *   against everyone downstream; the coordinator itself is trusted (it sees the sum before
 *   noise, and the individual updates too unless secure aggregation is on).
 * - `distributed`: every site adds N(0, (z·C)²/t) before masking, with t the secure-aggregation
 *   threshold, the fewest sites whose input a round can complete with. Any ≥ t survivors' noise
 *   sums to a variance ≥ (z·C)², so the coordinator never sees a sum with less noise than the
 *   accountant assumes. Needs secure aggregation (otherwise each individual update would carry
 *   only 1/√t of the noise).
 */
export type NoisePlacement = 'central' | 'distributed';

/** Any source of normal deviates (the seeded `Rng` in tests, `secureNormalNoise` in a deployment). */
export interface NoiseSource {
  normal(mean?: number, sd?: number): number;
}

/** The update scaled so its L2 norm over all tensors is at most `clip` (never scaled up). */
export function clipToNorm(
  arrays: readonly NamedArray[],
  clip: number,
): { arrays: NamedArray[]; norm: number; clipped: boolean } {
  if (!(clip > 0) || !Number.isFinite(clip))
    throw new InputError(`clipNorm must be a finite number > 0 (got ${clip})`);
  const norm = Math.sqrt(squaredDistance(arrays));
  if (!Number.isFinite(norm))
    throw new PhccError('the update has non-finite values; refusing to clip it', 'NON_FINITE');
  const factor = norm > clip ? clip / norm : 1;
  return {
    arrays: arrays.map((a) => ({
      name: a.name,
      shape: [...a.shape],
      values: Float32Array.from(a.values, (v) => v * factor),
    })),
    norm,
    clipped: factor < 1,
  };
}

/**
 * The noise multiplier each site applies to its own clipped update: z/√t when the noise is
 * distributed over at least `minSurvivors` = t sites, 0 when the coordinator adds it centrally.
 */
export function siteNoiseMultiplier(
  noiseMultiplier: number,
  placement: NoisePlacement,
  minSurvivors: number,
): number {
  if (!(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier)) {
    throw new InputError(`noiseMultiplier must be a finite number ≥ 0 (got ${noiseMultiplier})`);
  }
  if (placement === 'central') return 0;
  if (!Number.isInteger(minSurvivors) || minSurvivors < 1) {
    throw new InputError(`distributed noise needs the minimum number of summed sites (got ${minSurvivors})`);
  }
  return noiseMultiplier / Math.sqrt(minSurvivors);
}

/**
 * Normal deviates from the operating system's CSPRNG (Box–Muller on 53-bit uniforms). A seeded
 * PRNG would let anyone who learns the seed subtract the noise. Floating-point sampling leaks
 * in the lowest bits (Mironov 2012); the fixed-point encoding that follows rounds those away
 * at 2^−fractionBits, far above where the leak sits.
 */
export function secureNormalNoise(): NoiseSource {
  const buffer = new Uint32Array(4096);
  let next = buffer.length;
  const uniform = (): number => {
    if (next + 2 > buffer.length) {
      randomFillSync(buffer);
      next = 0;
    }
    const hi = buffer[next++] >>> 5; // 27 bits
    const lo = buffer[next++] >>> 6; // 26 bits
    return (hi * 67108864 + lo + 0.5) / 9007199254740992; // in (0, 1)
  };
  let spare: number | undefined;
  return {
    normal(mean = 0, sd = 1) {
      if (spare !== undefined) {
        const z = spare;
        spare = undefined;
        return mean + sd * z;
      }
      const r = Math.sqrt(-2 * Math.log(uniform()));
      const theta = 2 * Math.PI * uniform();
      spare = r * Math.sin(theta);
      return mean + sd * r * Math.cos(theta);
    },
  };
}

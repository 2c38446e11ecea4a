import { InputError, PhccError } from '../../../common/src';
import { checkRingBits } from './ring';

/**
 * Fixed-point encoding of real values into Z_{2^ringBits}: v ↦ round(v·2^fractionBits) mod 2^ringBits
 * (two's complement). Sums of encodings are encodings of sums as long as the true sum stays in
 * (−2^(ringBits−1), 2^(ringBits−1)): that is the overflow bound, checked when the parameters are
 * chosen (`fixedPointFor`) and enforced at every site by a range check on the values it encodes.
 */
export interface FixedPoint {
  ringBits: number;
  fractionBits: number;
  /** Largest |value| any one site may encode; sites refuse (and clip before) anything larger. */
  maxAbs: number;
}

/** Below this, the rounding error (2^−(f+1) per value and site) stops being negligible. */
export const MIN_FRACTION_BITS = 8;

/**
 * The finest encoding for which the sum of `sites` values each within ±maxAbs cannot overflow:
 * fractionBits = ⌊ringBits − 1 − log2(sites·maxAbs + sites)⌋ (the `+ sites` covers each site's
 * rounding by at most ½ unit). Throws when fewer than MIN_FRACTION_BITS remain.
 */
export function fixedPointFor(options: { sites: number; maxAbs: number; ringBits: number }): FixedPoint {
  const { sites, maxAbs, ringBits } = options;
  checkRingBits(ringBits);
  if (!Number.isInteger(sites) || sites < 1)
    throw new InputError(`sites must be a positive integer (got ${sites})`);
  if (!(maxAbs > 0) || !Number.isFinite(maxAbs))
    throw new InputError(`maxAbs must be finite and > 0 (got ${maxAbs})`);
  const fractionBits = Math.floor(ringBits - 1 - Math.log2(sites * maxAbs + sites));
  const fp: FixedPoint = { ringBits, fractionBits, maxAbs };
  if (fractionBits < MIN_FRACTION_BITS) {
    throw new InputError(
      `a ${ringBits}-bit ring leaves ${fractionBits} fractional bits for ${sites} sites with |value| ≤ ${maxAbs}; ` +
        `raise ringBits or lower the bound`,
    );
  }
  checkOverflowBound(fp, sites);
  return fp;
}

/** Worst case |Σ encoded| for `sites` sites; throws when it could reach 2^(ringBits−1). */
export function checkOverflowBound(fp: FixedPoint, sites: number): void {
  const worst = sites * (fp.maxAbs * 2 ** fp.fractionBits + 0.5);
  if (!(worst < 2 ** (fp.ringBits - 1))) {
    throw new InputError(
      `fixed point overflows: ${sites} sites × ${fp.maxAbs} × 2^${fp.fractionBits} reaches 2^${fp.ringBits - 1}`,
    );
  }
}

/**
 * Encodes `values` (each scaled by `scale`, e.g. the site's weight) into `out` from `offset`.
 * Refuses (rather than wraps) a value outside ±maxAbs: a wrapped value would silently corrupt
 * the sum nobody can inspect.
 */
export function encodeFixedPoint(
  values: ArrayLike<number>,
  fp: FixedPoint,
  out: Float64Array,
  offset = 0,
  scale = 1,
): void {
  const unit = 2 ** fp.fractionBits;
  const modulus = 2 ** fp.ringBits;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] * scale;
    if (!(Math.abs(v) <= fp.maxAbs)) {
      throw new PhccError(
        `value ${i} (${v}) is outside the encodable range ±${fp.maxAbs}; clip before encoding`,
        'FIXED_POINT_RANGE',
      );
    }
    const q = Math.round(v * unit);
    out[offset + i] = q < 0 ? q + modulus : q;
  }
}

/** Decodes ring elements (a sum) back to reals: elements ≥ 2^(ringBits−1) are negative. */
export function decodeFixedPoint(
  ring: Float64Array,
  fp: FixedPoint,
  offset = 0,
  length = ring.length - offset,
): Float64Array {
  const unit = 2 ** fp.fractionBits;
  const modulus = 2 ** fp.ringBits;
  const half = modulus / 2;
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const q = ring[offset + i];
    out[i] = (q >= half ? q - modulus : q) / unit;
  }
  return out;
}

/**
 * IEEE 754 binary16 conversion. Float32 → half rounds to nearest, ties to even (the same result
 * as numpy's `astype(float16)` for every finite value up to 65504), produces half subnormals
 * below 2^-14, and clamps finite values beyond the half range to ±65504 instead of ±Inf: an
 * update must stay finite to pass the coordinator's checks, and a clamped outlier is still
 * visible to the norm bound, whereas an Inf would discard the site's whole round.
 */

export const FLOAT16_MAX = 65504;
const HALF_MAX_BITS = 0x7bff;
const HALF_INF_BITS = 0x7c00;

/**
 * Half bits for the float32 with bit pattern `f` (a uint32). Non-finite input must be rejected
 * by the caller; its result here is meaningless.
 */
export function float32BitsToFloat16Bits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exponentBits = f & 0x7f800000;
  let significand = f & 0x007fffff;
  // |x| ≥ 2^16: beyond the half range whatever the rounding.
  if (exponentBits >= 0x47800000) return sign | HALF_MAX_BITS;
  // |x| < 2^-14: a half subnormal or zero.
  if (exponentBits <= 0x38000000) {
    // Below 2^-25 (half of the smallest subnormal, or exactly it: ties to even = 0) → signed zero.
    if (exponentBits < 0x33000000) return sign;
    const exponent = exponentBits >>> 23;
    significand = (0x00800000 + significand) >>> (113 - exponent);
    // Round to nearest even; the shift may have dropped up to 11 low bits, so look at them too.
    if ((significand & 0x3fff) !== 0x1000 || (f & 0x7ff) !== 0) significand += 0x1000;
    // A carry out of the significand correctly yields the smallest normal half.
    return sign | (significand >>> 13);
  }
  const halfExponent = (exponentBits - 0x38000000) >>> 13;
  if ((significand & 0x3fff) !== 0x1000) significand += 0x1000;
  const magnitude = halfExponent + (significand >>> 13);
  // Rounding up from just below 65520 carries into the Inf exponent: clamp instead.
  return sign | (magnitude >= HALF_INF_BITS ? HALF_MAX_BITS : magnitude);
}

let halfTable: Float32Array | undefined;

/** All 65536 half values as float32 (256 KiB, built once): decoding becomes one lookup. */
export function float16Table(): Float32Array {
  if (!halfTable) {
    const table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exponent = (h >>> 10) & 0x1f;
      const mantissa = h & 0x3ff;
      let value: number;
      if (exponent === 0) value = mantissa * 2 ** -24;
      else if (exponent === 31) value = mantissa === 0 ? Infinity : NaN;
      else value = (1 + mantissa / 1024) * 2 ** (exponent - 15);
      table[h] = sign * value;
    }
    halfTable = table;
  }
  return halfTable;
}

export function float16BitsToFloat32(h: number): number {
  return float16Table()[h & 0xffff];
}

/** Rounds through half and back: what a receiver sees for a float16-encoded value. */
export function roundToFloat16(x: number): number {
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0];
  return float16BitsToFloat32(float32BitsToFloat16Bits(bits));
}

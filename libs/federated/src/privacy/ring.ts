import { InputError, PhccError } from '../../../common/src';

/**
 * Arithmetic in the ring Z_{2^bits} in which secure aggregation adds masked vectors.
 *
 * Elements are held in a Float64Array as exact integers in [0, 2^bits): doubles carry integers
 * up to 2^53 exactly, so a sum of two elements (< 2^53 for bits ≤ 52) is exact and one compare
 * reduces it. A power-of-two modulus lets a uniform mask be drawn by keeping the low `bits` of
 * uniform bytes, and turns the fixed-point two's complement encoding into plain reduction.
 */
export const MIN_RING_BITS = 8;
export const MAX_RING_BITS = 52;
/** 32 bits: ~24 fractional bits at 100 sites (float32-level resolution) and 4 bytes per value. */
export const DEFAULT_RING_BITS = 32;

export function checkRingBits(bits: number): number {
  if (!Number.isInteger(bits) || bits < MIN_RING_BITS || bits > MAX_RING_BITS) {
    throw new InputError(`ringBits must be an integer in [${MIN_RING_BITS}, ${MAX_RING_BITS}] (got ${bits})`);
  }
  return 2 ** bits;
}

/** acc ← acc + x (mod 2^bits), in place. */
export function ringAddInto(acc: Float64Array, x: Float64Array, bits: number): Float64Array {
  const modulus = 2 ** bits;
  sameLength(acc, x);
  for (let i = 0; i < acc.length; i++) {
    const s = acc[i] + x[i];
    acc[i] = s >= modulus ? s - modulus : s;
  }
  return acc;
}

/** acc ← acc − x (mod 2^bits), in place. */
export function ringSubInto(acc: Float64Array, x: Float64Array, bits: number): Float64Array {
  const modulus = 2 ** bits;
  sameLength(acc, x);
  for (let i = 0; i < acc.length; i++) {
    const s = acc[i] - x[i];
    acc[i] = s < 0 ? s + modulus : s;
  }
  return acc;
}

function sameLength(a: Float64Array, b: Float64Array): void {
  if (a.length !== b.length) {
    throw new PhccError(`ring vectors differ in length (${a.length} vs ${b.length})`, 'SECAGG_LENGTH');
  }
}

/** Bytes per element on the wire: the smallest whole number of bytes that holds `bits`. */
export function ringElementBytes(bits: number): number {
  checkRingBits(bits);
  return Math.ceil(bits / 8);
}

/** Little-endian packing, `ringElementBytes(bits)` bytes per element. */
export function packRing(values: Float64Array, bits: number): Uint8Array {
  const width = ringElementBytes(bits);
  const out = new Uint8Array(values.length * width);
  for (let i = 0; i < values.length; i++) {
    let v = values[i];
    for (let b = 0; b < width; b++) {
      out[i * width + b] = v % 256;
      v = Math.floor(v / 256);
    }
  }
  return out;
}

/**
 * The inverse of `packRing`, with the server's range check on what arrives: every element must
 * be below 2^bits (an element above it could only come from a site outside the protocol, and
 * would wrap the sum). Throws naming the first bad index.
 */
export function unpackRing(bytes: Uint8Array, bits: number, expectedLength: number): Float64Array {
  const width = ringElementBytes(bits);
  if (bytes.length !== expectedLength * width) {
    throw new PhccError(
      `masked vector has ${bytes.length} bytes; expected ${expectedLength} elements × ${width} bytes`,
      'SECAGG_LENGTH',
    );
  }
  const modulus = 2 ** bits;
  const out = new Float64Array(expectedLength);
  for (let i = 0; i < expectedLength; i++) {
    let v = 0;
    for (let b = width - 1; b >= 0; b--) v = v * 256 + bytes[i * width + b];
    if (v >= modulus) throw new PhccError(`masked element ${i} is ${v}, outside Z_2^${bits}`, 'SECAGG_RANGE');
    out[i] = v;
  }
  return out;
}

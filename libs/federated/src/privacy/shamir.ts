import { randomBytes } from 'node:crypto';
import { PhccError } from '../../../common/src';

/**
 * Shamir t-of-n secret sharing over the prime field GF(p), p = 2^521 − 1 (a Mersenne prime), for
 * the 32-byte secrets of secure aggregation (a site's mask-agreement secret key and its
 * self-mask seed).
 *
 * Written here rather than taken from npm: the maintained, audited package
 * (`shamir-secret-sharing`) works byte-wise over GF(2^8), which caps a secret at 255 shares and
 * is not the prime-field construction SecAgg's analysis uses; the other packages are
 * unmaintained. The prime field is larger than any 256-bit secret, so one polynomial carries a
 * whole key, any n < p works, and the arithmetic is plain BigInt.
 *
 * A share is (x, y) with x ≥ 1 the holder's index; any `threshold` shares give the secret back by
 * Lagrange interpolation at 0, and fewer reveal nothing about it (information-theoretically).
 */
export const FIELD_PRIME = (1n << 521n) - 1n;
export const SHARE_Y_BYTES = 66;
const SECRET_BYTES = 32;

export interface Share {
  x: number;
  y: bigint;
}

export class ShamirError extends PhccError {
  constructor(message: string) {
    super(`secret sharing: ${message}`, 'SHAMIR');
  }
}

/** Uniform field element by rejection sampling (a reduced 528-bit draw would be biased). */
function randomFieldElement(): bigint {
  for (;;) {
    const bytes = randomBytes(SHARE_Y_BYTES);
    bytes[0] &= 0x01; // keep 521 bits (big-endian: the top byte holds 1 bit)
    const v = bytesToBigint(bytes);
    if (v < FIELD_PRIME) return v;
  }
}

/** Splits a 32-byte secret into one share per x in `xs` (distinct, 1 ≤ x), any `threshold` of which recover it. */
export function shamirSplit(secret: Uint8Array, xs: readonly number[], threshold: number): Share[] {
  if (secret.length !== SECRET_BYTES)
    throw new ShamirError(`a secret has ${SECRET_BYTES} bytes (got ${secret.length})`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new ShamirError(
      `threshold ${threshold} must be an integer in [1, ${xs.length}] (the number of holders)`,
    );
  }
  checkXs(xs);
  const coefficients = [bytesToBigint(secret)];
  for (let k = 1; k < threshold; k++) coefficients.push(randomFieldElement());
  return xs.map((x) => {
    // Horner: y = Σ c_k x^k mod p.
    const bx = BigInt(x);
    let y = 0n;
    for (let k = coefficients.length - 1; k >= 0; k--) y = (y * bx + coefficients[k]) % FIELD_PRIME;
    return { x, y };
  });
}

/**
 * Recovers the secret from at least `threshold` shares (the first `threshold` by x are used).
 * Fewer shares fail with a message saying how many were held and needed.
 */
export function shamirCombine(shares: readonly Share[], threshold: number): Uint8Array {
  if (shares.length < threshold) {
    throw new ShamirError(`${shares.length} shares held but ${threshold} are needed to recover the secret`);
  }
  const used = [...shares].sort((a, b) => a.x - b.x).slice(0, threshold);
  checkXs(used.map((s) => s.x));
  let secret = 0n;
  for (let j = 0; j < used.length; j++) {
    // Lagrange basis at 0: Π_{m≠j} x_m / (x_m − x_j).
    let num = 1n;
    let den = 1n;
    const xj = BigInt(used[j].x);
    for (let m = 0; m < used.length; m++) {
      if (m === j) continue;
      const xm = BigInt(used[m].x);
      num = (num * xm) % FIELD_PRIME;
      den = (den * mod(xm - xj)) % FIELD_PRIME;
    }
    if (used[j].y < 0n || used[j].y >= FIELD_PRIME)
      throw new ShamirError(`share ${used[j].x} is not a field element`);
    secret = (secret + used[j].y * num * invert(den)) % FIELD_PRIME;
  }
  if (secret >= 1n << 256n) {
    throw new ShamirError(
      'the shares do not interpolate to a 32-byte secret (a share is corrupt or from another secret)',
    );
  }
  return bigintToBytes(secret, SECRET_BYTES);
}

function checkXs(xs: readonly number[]): void {
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isSafeInteger(x) || x < 1) throw new ShamirError(`share index ${x} must be an integer ≥ 1`);
    if (seen.has(x)) throw new ShamirError(`share index ${x} appears twice`);
    seen.add(x);
  }
}

function mod(a: bigint): bigint {
  const r = a % FIELD_PRIME;
  return r < 0n ? r + FIELD_PRIME : r;
}

/** Modular inverse by the extended Euclidean algorithm (much faster than a^(p−2) in BigInt). */
function invert(a: bigint): bigint {
  let [oldR, r] = [mod(a), FIELD_PRIME];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new ShamirError('division by zero in the field');
  return mod(oldS);
}

export function bytesToBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export function bigintToBytes(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new ShamirError(`value does not fit in ${length} bytes`);
  return out;
}

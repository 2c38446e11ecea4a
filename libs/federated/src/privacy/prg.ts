import { createCipheriv, createHash } from 'node:crypto';
import { PhccError } from '../../../common/src';
import { checkRingBits } from './ring';

/**
 * The pseudo-random generator that expands a 32-byte seed (an agreed pairwise key or a site's
 * self-mask seed) into a mask vector in Z_{2^bits}.
 *
 * ChaCha20 (RFC 8439) as node:crypto (OpenSSL) implements it, keystream = encryption of zeros
 * under the seed with a zero nonce and counter 0. Why this one: it is a specified, analysed
 * stream cipher (a PRG under standard assumptions), both sides of every pair must produce
 * bit-identical masks on any platform (RFC test vectors pin it down), and OpenSSL's is
 * maintained and needs no new dependency. Reusing one key with the zero nonce is safe because
 * every seed is used for exactly one vector: seeds are derived per round and per purpose
 * (`deriveSeed`). Each element takes 4 keystream bytes (8 above 32 bits) and keeps the low
 * `bits`: the modulus is a power of two, so the mask is exactly uniform.
 */
export const SEED_BYTES = 32;
const CHUNK_ELEMENTS = 1 << 16;
const ZEROS = new Uint8Array(CHUNK_ELEMENTS * 8);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Domain-separated seed: SHA-256("phcc-fed/secagg/v1/" + purpose + "\n" + round + "\n" + material). */
export function deriveSeed(purpose: 'pairwise' | 'self', roundId: string, material: Uint8Array): Uint8Array {
  const hash = createHash('sha256');
  hash.update(`phcc-fed/secagg/v1/${purpose}\n${roundId}\n`);
  hash.update(material);
  return new Uint8Array(hash.digest());
}

/**
 * acc ← acc + sign·PRG(seed) (mod 2^bits), in place, streaming the keystream in chunks so a
 * 1M-element mask never exists as a second full vector.
 */
export function addMaskInto(acc: Float64Array, seed: Uint8Array, bits: number, sign: 1 | -1): void {
  const modulus = checkRingBits(bits);
  if (seed.length !== SEED_BYTES)
    throw new PhccError(`a mask seed has ${SEED_BYTES} bytes (got ${seed.length})`, 'SECAGG_SEED');
  const cipher = createCipheriv('chacha20', seed, new Uint8Array(16));
  const wide = bits > 32;
  const bytesPer = wide ? 8 : 4;
  const highMod = wide ? 2 ** (bits - 32) : 0;
  for (let start = 0; start < acc.length; start += CHUNK_ELEMENTS) {
    const n = Math.min(CHUNK_ELEMENTS, acc.length - start);
    const ks = cipher.update(ZEROS.subarray(0, n * bytesPer));
    // Little-endian 32-bit words: a typed-array view where the platform and alignment allow it
    // (the common case, several times faster), byte by byte otherwise; the same mask either way.
    const words =
      LITTLE_ENDIAN && ks.byteOffset % 4 === 0
        ? new Uint32Array(ks.buffer, ks.byteOffset, ks.length / 4)
        : Uint32Array.from(
            { length: ks.length / 4 },
            (_, w) =>
              (ks[4 * w] | (ks[4 * w + 1] << 8) | (ks[4 * w + 2] << 16) | (ks[4 * w + 3] << 24)) >>> 0,
          );
    for (let i = 0; i < n; i++) {
      const m = wide ? words[2 * i] + (words[2 * i + 1] % highMod) * 4294967296 : words[i] % modulus;
      const s = sign === 1 ? acc[start + i] + m : acc[start + i] - m;
      acc[start + i] = s >= modulus ? s - modulus : s < 0 ? s + modulus : s;
    }
  }
}

/** PRG(seed) as a fresh vector (tests, and the server's one-off recomputations). */
export function expandMask(seed: Uint8Array, length: number, bits: number): Float64Array {
  const out = new Float64Array(length);
  addMaskInto(out, seed, bits, 1);
  return out;
}

import { createHash } from 'node:crypto';

/**
 * SHA-512 (hex) of the whole encoded buffer: what a site signs and what the coordinator names a
 * model by. `encodeWeights` is deterministic (sorted names, fixed layout, zero padding), so the
 * same weights and encoding give the same digest on every site. The digest does not validate
 * the buffer: decode it (or read its header) as well.
 */
export function weightsDigest(buffer: Uint8Array): string {
  return createHash('sha512').update(buffer).digest('hex');
}

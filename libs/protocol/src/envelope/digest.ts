import { createHash, randomBytes } from 'node:crypto';

/**
 * SHA-512 of a binary payload in lowercase hex: the value an envelope's `digest` carries. The
 * same function as the weight codec's `weightsDigest`, kept here so the protocol does not depend
 * on the model library.
 */
export function payloadDigest(payload: Uint8Array): string {
  return createHash('sha512').update(payload).digest('hex');
}

/** A fresh 128-bit nonce in base64url (22 characters). */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

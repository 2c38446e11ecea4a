import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  KeyObject,
} from 'node:crypto';
import nacl from 'tweetnacl';
import { PhccError } from '../../../common/src';
import { deriveSeed } from './prg';

/**
 * X25519 key agreement for secure aggregation. Each site makes two fresh key pairs per round:
 * `c` encrypts the key shares it sends through the server to its neighbours, `s` agrees the
 * pairwise mask seeds. Keeping them apart is what lets the server be given a dropped site's `s`
 * secret key (to remove its masks) without learning how to read its share traffic.
 *
 * Keys are raw 32-byte X25519 keys, the format tweetnacl uses (`nacl.box.keyPair`), and the
 * shared point is exactly `nacl.scalarMult(secret, public)` (a test pins that). The
 * Diffie–Hellman itself runs in node:crypto (OpenSSL, RFC 7748): tweetnacl's pure-JS ladder
 * costs ~3.5 ms per agreement here (~50 ms under jest's sandbox) and a round needs 2k per site
 * and 2k per dropped site at the server; OpenSSL's takes ~0.05–1 ms. Shares are sealed with
 * tweetnacl's secretbox (XSalsa20-Poly1305) under a key hashed from the `c` agreement.
 */
export interface X25519KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export const X25519_KEY_BYTES = 32;
// DER wrappers of raw X25519 keys (RFC 8410): PKCS#8 private, SubjectPublicKeyInfo public.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function newKeyPair(): X25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { secretKey: rawSecret(privateKey), publicKey: rawPublic(publicKey) };
}

/** The key pair of a secret key (the server checks a recovered key against the advertised one). */
export function keyPairFromSecret(secretKey: Uint8Array): X25519KeyPair {
  checkKey(secretKey, 'secret key');
  return { secretKey, publicKey: rawPublic(createPublicKey(privateKeyObject(secretKey))) };
}

/** The raw X25519 shared point; refuses the all-zero point (a low-order public key). */
export function sharedPoint(mySecret: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  checkKey(mySecret, 'secret key');
  checkKey(theirPublic, 'public key');
  let shared: Buffer;
  try {
    shared = diffieHellman({
      privateKey: privateKeyObject(mySecret),
      publicKey: createPublicKey({
        key: Buffer.concat([SPKI_PREFIX, theirPublic]),
        format: 'der',
        type: 'spki',
      }),
    });
  } catch {
    throw new PhccError('X25519 agreement failed: a low-order or malformed public key', 'SECAGG_KEY');
  }
  if (shared.every((b) => b === 0))
    throw new PhccError('X25519 gave the zero point: a low-order public key', 'SECAGG_KEY');
  return new Uint8Array(shared);
}

/** The pairwise mask seed of two sites, identical from either side. */
export function pairwiseSeed(mySecret: Uint8Array, theirPublic: Uint8Array, roundId: string): Uint8Array {
  return deriveSeed('pairwise', roundId, sharedPoint(mySecret, theirPublic));
}

function sealKey(mySecret: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  const hash = createHash('sha256')
    .update('phcc-fed/secagg/v1/seal\n')
    .update(sharedPoint(mySecret, theirPublic));
  return new Uint8Array(hash.digest());
}

/** Authenticated encryption of a share for one neighbour: nonce ‖ secretbox(plaintext). */
export function sealFor(plaintext: Uint8Array, mySecret: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
  const box = nacl.secretbox(plaintext, nonce, sealKey(mySecret, theirPublic));
  const out = new Uint8Array(nonce.length + box.length);
  out.set(nonce);
  out.set(box, nonce.length);
  return out;
}

/** Opens `sealFor`'s output; throws when it was not made for us by the holder of `theirPublic`. */
export function openFrom(sealed: Uint8Array, mySecret: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  const n = nacl.secretbox.nonceLength;
  const plain =
    sealed.length > n
      ? nacl.secretbox.open(sealed.subarray(n), sealed.subarray(0, n), sealKey(mySecret, theirPublic))
      : null;
  if (!plain) throw new PhccError('an encrypted key share failed authentication', 'SECAGG_SHARE_AUTH');
  return plain;
}

export function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== X25519_KEY_BYTES) {
    throw new PhccError(`an X25519 ${what} has ${X25519_KEY_BYTES} bytes`, 'SECAGG_KEY');
  }
}

function privateKeyObject(secret: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
}

function rawSecret(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length));
}

function rawPublic(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
}

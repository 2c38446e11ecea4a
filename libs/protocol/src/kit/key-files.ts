import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { InputError, PRIVATE_FILE_MODE } from '../../../common/src';
import {
  fingerprint,
  fromBase64,
  keyPairFromSeed,
  PUBLIC_KEY_BYTES,
  SEED_BYTES,
  SigningKeyPair,
  toBase64,
} from '../envelope/keys';

/**
 * Key files are small JSON documents so that a human (or another language) can read them; the
 * secret one holds only the 32-byte seed and is created with mode 0600, never overwritten.
 */
export const SECRET_KEY_FORMAT = 'phcc-fed-ed25519-secret-v1';
export const PUBLIC_KEY_FORMAT = 'phcc-fed-ed25519-public-v1';

export interface SecretKeyFile {
  format: typeof SECRET_KEY_FORMAT;
  id: string;
  seed: string;
  publicKey: string;
}

export interface PublicKeyFile {
  format: typeof PUBLIC_KEY_FORMAT;
  id: string;
  publicKey: string;
  fingerprint: string;
}

export function writeSecretKeyFile(path: string, id: string, keys: SigningKeyPair): void {
  const doc: SecretKeyFile = {
    format: SECRET_KEY_FORMAT,
    id,
    seed: toBase64(keys.secretKey.subarray(0, SEED_BYTES)),
    publicKey: toBase64(keys.publicKey),
  };
  // 'wx': fail rather than replace an existing key; mode applies at creation, before any byte is written.
  writeFileSync(path, JSON.stringify(doc, null, 2) + '\n', { mode: PRIVATE_FILE_MODE, flag: 'wx' });
}

export function publicKeyDocument(id: string, publicKey: Uint8Array): PublicKeyFile {
  return {
    format: PUBLIC_KEY_FORMAT,
    id,
    publicKey: toBase64(publicKey),
    fingerprint: fingerprint(publicKey),
  };
}

export function writePublicKeyFile(path: string, id: string, publicKey: Uint8Array): void {
  writeJsonAtomic(path, publicKeyDocument(id, publicKey));
}

export function readSecretKeyFile(path: string): { id: string; keys: SigningKeyPair } {
  const doc = readJsonFile(path) as Partial<SecretKeyFile>;
  if (doc.format !== SECRET_KEY_FORMAT || typeof doc.id !== 'string') {
    throw new InputError(`${path}: not a phcc-fed secret key file (format ${SECRET_KEY_FORMAT})`);
  }
  const seed = fromBase64(doc.seed, SEED_BYTES);
  if (!seed) throw new InputError(`${path}: "seed" must be 32 bytes in base64`);
  const keys = keyPairFromSeed(seed);
  if (doc.publicKey !== toBase64(keys.publicKey)) {
    throw new InputError(`${path}: "publicKey" does not belong to the seed (damaged key file?)`);
  }
  return { id: doc.id, keys };
}

export function readPublicKeyFile(path: string): { id: string; publicKey: Uint8Array } {
  const doc = readJsonFile(path) as Partial<PublicKeyFile>;
  const publicKey = fromBase64(doc.publicKey, PUBLIC_KEY_BYTES);
  if (doc.format !== PUBLIC_KEY_FORMAT || typeof doc.id !== 'string' || !publicKey) {
    throw new InputError(`${path}: not a phcc-fed public key file (format ${PUBLIC_KEY_FORMAT})`);
  }
  return { id: doc.id, publicKey };
}

export function readJsonFile(path: string): unknown {
  if (!existsSync(path)) throw new InputError(`${path}: file not found`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    throw new InputError(`${path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Write-then-rename, so a crash never leaves a half-written registry or kit file. */
export function writeJsonAtomic(path: string, value: unknown, mode = PRIVATE_FILE_MODE): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode });
  renameSync(tmp, path);
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { generateAdminToken, tokenFingerprint } from './admin-token';

/**
 * Who a token speaks for. `admin` may do everything; `observer` may read (runs, results, sites,
 * audit, live events) and is refused every write — the consortium's clinicians and auditors.
 */
export const ACCESS_ROLES = ['admin', 'observer'] as const;
export type AccessRole = (typeof ACCESS_ROLES)[number];

/** The id of the token that `--admin-token` / PHCC_ADMIN_TOKEN (or the first start) sets. */
export const PRIMARY_ADMIN_TOKEN_ID = 'admin';

/** One issued token as stored: never the token itself, only a salted hash of it. */
export interface StoredAccessToken {
  id: string;
  role: AccessRole;
  label: string;
  /** Random per token (hex). Empty only for a hash carried over from before salts (plain SHA-256). */
  salt: string;
  /** SHA-256 of salt ‖ token, hex. */
  hash: string;
  createdAt: string;
  rotatedAt?: string;
}

/** What the API shows about a token: enough to recognise and rotate it, nothing to forge it. */
export interface AccessTokenView {
  id: string;
  role: AccessRole;
  label: string;
  /** First 8 hex of the hash: how the audit log names whoever used the token. */
  fingerprint: string;
  createdAt: string;
  rotatedAt?: string;
}

/**
 * SHA-256 over a per-token random salt and the token. A fast hash (not scrypt) is enough: every
 * token carries ≥ 16 characters and generated ones 256 random bits, so there is no dictionary to
 * run, while each request stays cheap. The salt makes equal tokens hash differently and a leaked
 * table useless against any other coordinator.
 */
export function saltedTokenHash(token: string, salt: string): string {
  return createHash('sha256').update(Buffer.from(salt, 'hex')).update(token, 'utf8').digest('hex');
}

/** A new stored token for `token` (a fresh salt each call, so rotation changes the hash too). */
export function storeToken(
  token: string,
  fields: Pick<StoredAccessToken, 'id' | 'role' | 'label' | 'createdAt' | 'rotatedAt'>,
): StoredAccessToken {
  const salt = randomBytes(16).toString('hex');
  return { ...fields, salt, hash: saltedTokenHash(token, salt) };
}

/** A new random token and its stored form; the plain token is returned to be shown once. */
export function issueToken(
  fields: Pick<StoredAccessToken, 'id' | 'role' | 'label' | 'createdAt' | 'rotatedAt'>,
): { token: string; stored: StoredAccessToken } {
  const token = generateAdminToken();
  return { token, stored: storeToken(token, fields) };
}

/** Whether `presented` is the token behind `stored` (constant time in the hash comparison). */
export function tokenMatchesStored(presented: string, stored: StoredAccessToken): boolean {
  const expected = Buffer.from(stored.hash, 'hex');
  const actual = Buffer.from(
    stored.salt ? saltedTokenHash(presented, stored.salt) : legacyTokenHash(presented),
    'hex',
  );
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The stored token `presented` belongs to, checking every one (no early exit that times tokens). */
export function findToken(
  presented: string,
  tokens: readonly StoredAccessToken[],
): StoredAccessToken | undefined {
  let found: StoredAccessToken | undefined;
  for (const stored of tokens) if (tokenMatchesStored(presented, stored) && !found) found = stored;
  return found;
}

/** The unsalted SHA-256 earlier versions stored under `admin_token_sha256`. */
export function legacyTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function tokenView(stored: StoredAccessToken): AccessTokenView {
  const { id, role, label, createdAt, rotatedAt } = stored;
  return {
    id,
    role,
    label,
    fingerprint: tokenFingerprint(stored.hash),
    createdAt,
    ...(rotatedAt ? { rotatedAt } : {}),
  };
}

/** The audit name of whoever holds `stored`: `admin:1a2b3c4d` or `observer:5e6f7a8b`. */
export function actorName(stored: StoredAccessToken): string {
  return `${stored.role}:${tokenFingerprint(stored.hash)}`;
}

import { randomBytes } from 'node:crypto';
import { InputError } from '../../../../libs/common/src';

/** Shorter tokens are refused: the token is the only thing between the network and the admin API. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

export function generateAdminToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Short public name of a token (first 8 hex of its hash): what the audit log calls its holder. */
export function tokenFingerprint(hash: string): string {
  return hash.slice(0, 8);
}

export function checkAdminToken(token: string): string {
  if (token.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new InputError(
      `the admin token (--admin-token / PHCC_ADMIN_TOKEN) must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters without spaces`,
    );
  }
  return token;
}

/** The token from an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

import { createHash } from 'node:crypto';
import {
  bearerToken,
  checkAdminToken,
  generateAdminToken,
  hashAdminToken,
  tokenFingerprint,
  tokenMatches,
} from './admin-token';

describe('admin token', () => {
  it('stores SHA-256 hex of the token and matches only the same token', () => {
    const token = 'correct-horse-battery-staple';
    const hash = hashAdminToken(token);
    expect(hash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(tokenMatches(token, hash)).toBe(true);
    expect(tokenMatches(token + 'x', hash)).toBe(false);
    expect(tokenMatches(token, 'abcd')).toBe(false);
    expect(tokenFingerprint(hash)).toBe(hash.slice(0, 8));
  });

  it('generates 256-bit url-safe tokens that differ every time', () => {
    const a = generateAdminToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateAdminToken()).not.toBe(a);
    expect(checkAdminToken(a)).toBe(a);
  });

  it('refuses short tokens and tokens with spaces', () => {
    expect(() => checkAdminToken('short')).toThrow(/at least 16 characters/);
    expect(() => checkAdminToken('has a space in the middle')).toThrow(/without spaces/);
  });

  it('reads only well-formed bearer headers', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

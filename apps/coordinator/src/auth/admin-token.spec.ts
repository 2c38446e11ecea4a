import { createHash } from 'node:crypto';
import { bearerToken, checkAdminToken, generateAdminToken } from './admin-token';
import {
  actorName,
  findToken,
  issueToken,
  legacyTokenHash,
  saltedTokenHash,
  storeToken,
  tokenMatchesStored,
  tokenView,
} from './access-tokens';

const fields = {
  id: 'admin',
  role: 'admin' as const,
  label: 'primary',
  createdAt: '2026-01-01T00:00:00.000Z',
};

describe('access tokens', () => {
  it('stores a salted SHA-256, different for the same token each time, and matches only that token', () => {
    const token = 'correct-horse-battery-staple';
    const a = storeToken(token, fields);
    const b = storeToken(token, fields);
    expect(a.salt).toMatch(/^[0-9a-f]{32}$/);
    expect(a.hash).toBe(createHash('sha256').update(Buffer.from(a.salt, 'hex')).update(token).digest('hex'));
    expect(a.hash).not.toBe(b.hash);
    expect(saltedTokenHash(token, a.salt)).toBe(a.hash);
    expect(JSON.stringify(a)).not.toContain(token);
    expect(tokenMatchesStored(token, a)).toBe(true);
    expect(tokenMatchesStored(token + 'x', a)).toBe(false);
    expect(tokenMatchesStored(token, { ...a, hash: 'abcd' })).toBe(false);
  });

  it('still admits a token whose unsalted hash an earlier version stored', () => {
    const legacy = { ...fields, salt: '', hash: legacyTokenHash('old-admin-token-0123') };
    expect(tokenMatchesStored('old-admin-token-0123', legacy)).toBe(true);
    expect(tokenMatchesStored('old-admin-token-0124', legacy)).toBe(false);
  });

  it('finds the holder among several tokens and names it by role and fingerprint', () => {
    const admin = issueToken(fields);
    const observer = issueToken({ ...fields, id: 'o-1', role: 'observer', label: 'clinician' });
    const tokens = [admin.stored, observer.stored];
    expect(findToken(observer.token, tokens)).toBe(observer.stored);
    expect(findToken(admin.token, tokens)).toBe(admin.stored);
    expect(findToken('nobody-has-this-token', tokens)).toBeUndefined();
    expect(actorName(observer.stored)).toBe(`observer:${observer.stored.hash.slice(0, 8)}`);
    const view = tokenView(observer.stored);
    expect(view).toEqual({
      id: 'o-1',
      role: 'observer',
      label: 'clinician',
      fingerprint: observer.stored.hash.slice(0, 8),
      createdAt: fields.createdAt,
    });
    expect(JSON.stringify(view)).not.toMatch(/salt|hash/);
  });
});

describe('admin token', () => {
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

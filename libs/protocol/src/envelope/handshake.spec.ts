import { TEST_NOW, testKeyPair, testKeyring } from '../test-support/fixtures';
import { COORDINATOR_ID } from '../version';
import { canonicalJson } from './canonical';
import {
  checkWelcome,
  handshakeSigningBytes,
  signHandshake,
  signWelcome,
  verifyHandshake,
} from './handshake';
import { toBase64 } from './keys';
import { NonceCache } from './nonce-cache';
import { EnvelopeVerifier } from './verifier';

const SITE = 'hospital-a';
const coordinator = testKeyPair(COORDINATOR_ID);

function options(overrides: Partial<Parameters<typeof verifyHandshake>[1]> = {}) {
  return {
    keyring: testKeyring(SITE),
    coordinatorPublicKey: coordinator.publicKey,
    nonceCache: new NonceCache(300_000),
    now: () => TEST_NOW,
    ...overrides,
  };
}
const codeOf = (r: ReturnType<typeof verifyHandshake>) => (r.ok ? 'OK' : r.error.code);
const auth = (site = SITE, extra: Parameters<typeof signHandshake>[3] = {}) =>
  signHandshake(site, testKeyPair(site).secretKey, coordinator.publicKey, { now: TEST_NOW, ...extra });

describe('connection handshake', () => {
  it('signs exactly the documented bytes', () => {
    const a = auth(SITE, { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
    const expected =
      'phcc-fed/handshake/v1\n' +
      canonicalJson({
        audience: toBase64(coordinator.publicKey),
        namespace: '/sites',
        nonce: a.nonce,
        siteId: SITE,
        timestamp: TEST_NOW,
        v: 1,
      });
    expect(Buffer.from(handshakeSigningBytes(a, coordinator.publicKey)).toString('utf8')).toBe(expected);
  });

  it('accepts a fresh handshake once, then refuses its replay', () => {
    const o = options();
    const a = auth();
    expect(codeOf(verifyHandshake(a, o))).toBe('OK');
    expect(codeOf(verifyHandshake(a, o))).toBe('REPLAY');
  });

  it('refuses unknown, revoked, forged, stale, cross-server and wrong-version handshakes', () => {
    expect(codeOf(verifyHandshake(auth('hospital-z'), options()))).toBe('UNKNOWN_SIGNER');
    expect(codeOf(verifyHandshake(auth(), options({ keyring: testKeyring(SITE).revoke(SITE) })))).toBe(
      'REVOKED_SIGNER',
    );
    expect(codeOf(verifyHandshake({ ...auth(), siteId: 'coordinator' }, options()))).toBe('UNKNOWN_SIGNER');
    const forged = signHandshake(SITE, testKeyPair('hospital-b').secretKey, coordinator.publicKey, {
      now: TEST_NOW,
    });
    expect(codeOf(verifyHandshake(forged, options()))).toBe('BAD_SIGNATURE');
    const otherServer = signHandshake(
      SITE,
      testKeyPair(SITE).secretKey,
      testKeyPair('other-coordinator').publicKey,
      { now: TEST_NOW },
    );
    expect(codeOf(verifyHandshake(otherServer, options()))).toBe('BAD_SIGNATURE');
    expect(codeOf(verifyHandshake(auth(SITE, { now: TEST_NOW - 600_000 }), options()))).toBe(
      'STALE_TIMESTAMP',
    );
    expect(codeOf(verifyHandshake({ ...auth(), v: 9 }, options()))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(verifyHandshake(undefined, options()))).toBe('MALFORMED');
  });

  it('the welcome proves the coordinator key and answers this handshake only', () => {
    const a = auth();
    const siteVerifier = () =>
      new EnvelopeVerifier({ keyring: testKeyring(), maxPayloadBytes: 0, now: () => TEST_NOW });
    expect(checkWelcome(signWelcome(a, coordinator.secretKey, TEST_NOW), a, siteVerifier())).toEqual({
      ok: true,
      value: true,
    });
    const other = auth();
    expect(
      checkWelcome(signWelcome(other, coordinator.secretKey, TEST_NOW), a, siteVerifier()),
    ).toMatchObject({ error: { code: 'REPLAY' } });
    const impostor = signWelcome(a, testKeyPair('impostor').secretKey, TEST_NOW);
    expect(checkWelcome(impostor, a, siteVerifier())).toMatchObject({ error: { code: 'BAD_SIGNATURE' } });
  });
});

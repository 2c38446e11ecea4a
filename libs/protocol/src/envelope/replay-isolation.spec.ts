import { sampleEnvelope, TEST_NOW, testKeyring } from '../test-support/fixtures';
import { MAX_FUTURE_MS, NONCES_PER_SIGNER, NonceCache } from './nonce-cache';
import { EnvelopeVerifier } from './verifier';

/**
 * Issue #18 row 12: one enrolled site sending 100,000 valid messages dated 295 s ahead filled the
 * shared replay cache, and every other site was refused REPLAY for minutes. Now messages more
 * than MAX_FUTURE_MS ahead are refused outright, and replay state is per signer, so a flood of
 * acceptable messages costs only the flooding site.
 */
const SKEW = 5 * 60_000;

describe('replay state per site (issue #18 row 12)', () => {
  it('refuses messages dated more than 30 s ahead; accepts 25 s ahead', () => {
    const verifier = new EnvelopeVerifier({
      keyring: testKeyring('hospital-a'),
      maxPayloadBytes: 0,
      now: () => TEST_NOW,
    });
    const ahead = (ms: number) =>
      verifier.verify(sampleEnvelope('status', 'hospital-a', { timestamp: TEST_NOW + ms }));
    const far = ahead(295_000);
    expect(far.ok ? 'ACCEPTED' : far.error).toMatchObject({
      code: 'STALE_TIMESTAMP',
      reason: expect.stringMatching(/295 s in the future/),
    });
    expect(ahead(MAX_FUTURE_MS - 5000).ok).toBe(true);
  });

  it('a 100,000-message flood from one site leaves every other site fresh, in bounded memory', () => {
    const cache = new NonceCache(SKEW);
    const now = TEST_NOW;
    for (let i = 0; i < 100_000; i++) cache.record('hospital-a', `a${i}`, now + MAX_FUTURE_MS, now);
    // The flooder's own share is capped…
    expect(cache.size).toBe(NONCES_PER_SIGNER);
    // …its oldest messages are now "too old" for it alone (fail closed for the flooder)…
    expect(cache.check('hospital-a', 'new', now + MAX_FUTURE_MS, now)).toBe('too-old');
    // …and another site's fresh messages and replays are judged exactly as before.
    expect(cache.check('hospital-b', 'b1', now, now)).toBe('fresh');
    cache.record('hospital-b', 'b1', now, now);
    expect(cache.check('hospital-b', 'b1', now, now + 1000)).toBe('seen');
    expect(cache.check('hospital-b', 'b2', now + 1000, now + 1000)).toBe('fresh');
  });
});

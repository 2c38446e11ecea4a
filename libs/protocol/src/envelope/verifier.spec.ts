import { createHash } from 'node:crypto';
import { sampleEnvelope, TEST_NOW, testKeyPair, testKeyring, testNonce } from '../test-support/fixtures';
import { UpdateBody } from '../dto/messages';
import { COORDINATOR_ID } from '../version';
import { Envelope, envelopeSigningBytes, signEnvelope, UnsignedEnvelope } from './envelope';
import { signBytes, toBase64 } from './keys';
import { NonceCache } from './nonce-cache';
import { EnvelopeVerifier, EnvelopeVerifierOptions } from './verifier';

const SITE = 'hospital-a';
const payload = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);

function verifier(overrides: Partial<EnvelopeVerifierOptions> = {}): EnvelopeVerifier {
  return new EnvelopeVerifier({
    keyring: testKeyring(SITE, 'hospital-b'),
    maxPayloadBytes: 1 << 20,
    expected: { runId: 'run-1', round: 3, taskId: 'task-3-hospital-a', stage: 'finetune' },
    now: () => TEST_NOW,
    ...overrides,
  });
}

/** Re-signs an envelope after a change, so only the changed property can be what is rejected. */
function resign<T extends Envelope>(envelope: T, signer = envelope.signer): T {
  const { signature: _old, ...unsigned } = envelope;
  const signature = toBase64(
    signBytes(envelopeSigningBytes(unsigned as UnsignedEnvelope), testKeyPair(signer).secretKey),
  );
  return { ...envelope, signature };
}

function codeOf(result: ReturnType<EnvelopeVerifier['verify']>): string {
  return result.ok ? 'ACCEPTED' : result.error.code;
}

describe('EnvelopeVerifier', () => {
  it('accepts a well-formed update with its payload and returns the validated body', () => {
    const env = sampleEnvelope('update', SITE, { payload });
    const result = verifier().verify(env, { payload });
    expect(codeOf(result)).toBe('ACCEPTED');
    if (result.ok) {
      expect((result.value.body as UpdateBody).nSamples).toBe(80);
      expect(result.value.envelope.digest).toBe(createHash('sha512').update(payload).digest('hex'));
    }
  });

  it('accepts every message type from the right signer', () => {
    const v = verifier({ expected: undefined });
    for (const type of ['task-ack', 'update', 'eval-result', 'status', 'error'] as const) {
      expect(codeOf(v.verify(sampleEnvelope(type, SITE)))).toBe('ACCEPTED');
    }
    for (const type of ['task', 'welcome'] as const) {
      expect(codeOf(v.verify(sampleEnvelope(type, COORDINATOR_ID)))).toBe('ACCEPTED');
    }
  });

  it('UNKNOWN_SIGNER: a signer that is not enrolled', () => {
    expect(codeOf(verifier().verify(sampleEnvelope('update', 'hospital-x')))).toBe('UNKNOWN_SIGNER');
  });

  it('REVOKED_SIGNER: a revoked site, even with a valid signature', () => {
    const v = verifier({ keyring: testKeyring(SITE).revoke(SITE) });
    expect(codeOf(v.verify(sampleEnvelope('update', SITE)))).toBe('REVOKED_SIGNER');
  });

  it('BAD_SIGNATURE: a changed field, a signature by another key, a claimed other signer', () => {
    const env = sampleEnvelope('update', SITE);
    expect(codeOf(verifier().verify({ ...env, body: { ...env.body, nSamples: 8000 } }))).toBe(
      'BAD_SIGNATURE',
    );
    const byOther = resign({ ...env }, 'hospital-b');
    expect(codeOf(verifier().verify(byOther))).toBe('BAD_SIGNATURE');
    expect(codeOf(verifier().verify({ ...env, signer: 'hospital-b' }))).toBe('BAD_SIGNATURE');
    const zeroSig = { ...env, signature: toBase64(new Uint8Array(64)) };
    expect(codeOf(verifier().verify(zeroSig))).toBe('BAD_SIGNATURE');
  });

  it('SENDER_MISMATCH: a site signing a body that claims another sender', () => {
    const env = resign({
      ...sampleEnvelope('update', SITE),
      body: { ...sampleEnvelope('update', 'hospital-b').body },
    });
    expect(codeOf(verifier().verify(env))).toBe('SENDER_MISMATCH');
  });

  it('DIGEST_MISMATCH: payload altered, truncated, or not matching the task digest', () => {
    const env = sampleEnvelope('update', SITE, { payload });
    const altered = new Uint8Array(payload);
    altered[100] ^= 1;
    expect(codeOf(verifier().verify(env, { payload: altered }))).toBe('DIGEST_MISMATCH');
    expect(codeOf(verifier().verify(env, { payload: payload.subarray(1) }))).toBe('DIGEST_MISMATCH');
    const task = sampleEnvelope('task', COORDINATOR_ID, { payload });
    expect(codeOf(verifier().verify(task, { payload }))).toBe('DIGEST_MISMATCH'); // body names TEST_DIGEST
  });

  it.each([
    ['WRONG_RUN', { runId: 'run-2' }],
    ['WRONG_ROUND', { round: 2 }],
    ['WRONG_TASK', { taskId: 'task-3-hospital-b' }],
    ['WRONG_STAGE', { stage: 'ssl' }],
  ] as const)('%s: a correctly signed update for another place', (code, change) => {
    const env = sampleEnvelope('update', SITE, { body: change });
    expect(codeOf(verifier().verify(env))).toBe(code);
  });

  it('STALE_TIMESTAMP: outside the window on either side, inside is fine', () => {
    const v = verifier({ clockSkewMs: 60_000 });
    expect(codeOf(v.verify(sampleEnvelope('update', SITE, { timestamp: TEST_NOW - 61_000 })))).toBe(
      'STALE_TIMESTAMP',
    );
    expect(codeOf(v.verify(sampleEnvelope('update', SITE, { timestamp: TEST_NOW + 61_000 })))).toBe(
      'STALE_TIMESTAMP',
    );
    expect(codeOf(v.verify(sampleEnvelope('update', SITE, { timestamp: TEST_NOW - 59_000 })))).toBe(
      'ACCEPTED',
    );
  });

  it('REPLAY: the same envelope twice; a header check alone does not use the nonce up', () => {
    const v = verifier();
    const env = sampleEnvelope('update', SITE, { payload });
    expect(codeOf(v.verify(env, { consumeNonce: false }))).toBe('ACCEPTED');
    expect(codeOf(v.verify(env, { payload }))).toBe('ACCEPTED');
    expect(codeOf(v.verify(env, { payload }))).toBe('REPLAY');
    // A rejected message does not burn its nonce either.
    const late = sampleEnvelope('update', SITE, { timestamp: TEST_NOW - 10 * 60_000 });
    expect(codeOf(v.verify(late))).toBe('STALE_TIMESTAMP');
  });

  it('REPLAY: a nonce the bounded cache had to forget is refused, not let through', () => {
    const cache = new NonceCache(5 * 60_000, 2);
    const v = verifier({ nonceCache: cache });
    const first = sampleEnvelope('update', SITE, { timestamp: TEST_NOW - 3 });
    expect(codeOf(v.verify(first))).toBe('ACCEPTED');
    expect(codeOf(v.verify(sampleEnvelope('update', SITE, { timestamp: TEST_NOW - 2 })))).toBe('ACCEPTED');
    expect(codeOf(v.verify(sampleEnvelope('update', SITE, { timestamp: TEST_NOW - 1 })))).toBe('ACCEPTED');
    expect(cache.size).toBe(2);
    expect(codeOf(v.verify(first))).toBe('REPLAY');
  });

  it('PAYLOAD_TOO_LARGE: from the declared size before any byte arrives, and from the payload', () => {
    const big = new Uint8Array(2048);
    const env = sampleEnvelope('update', SITE, { payload: big });
    expect(codeOf(verifier({ maxPayloadBytes: 1024 }).verify(env))).toBe('PAYLOAD_TOO_LARGE');
    expect(codeOf(verifier({ maxPayloadBytes: 1024 }).verify(env, { payload: big }))).toBe(
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('UNSUPPORTED_VERSION, MALFORMED and UNEXPECTED_MESSAGE', () => {
    const env = sampleEnvelope('update', SITE);
    expect(codeOf(verifier().verify({ ...env, v: 2 }))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(verifier().verify(resign({ ...env, body: { ...env.body, extra: 1 } })))).toBe('MALFORMED');
    expect(codeOf(verifier().verify(resign({ ...env, body: { ...env.body, nSamples: -1 } })))).toBe(
      'MALFORMED',
    );
    expect(codeOf(verifier().verify({ ...env, digest: null, payloadBytes: 5 }))).toBe('MALFORMED');
    expect(codeOf(verifier().verify('{"v":1}'))).toBe('MALFORMED');
    expect(codeOf(verifier().verify(null))).toBe('MALFORMED');
    const coordinatorOnly = verifier({ acceptedTypes: ['task', 'welcome'] });
    expect(codeOf(coordinatorOnly.verify(env))).toBe('UNEXPECTED_MESSAGE');
  });

  it('signs over the payload digest: swapping payload descriptors breaks the signature', () => {
    const a = sampleEnvelope('update', SITE, { payload });
    const other = signEnvelope({
      type: 'update',
      body: { ...a.body, nonce: testNonce() },
      signer: SITE,
      secretKey: testKeyPair(SITE).secretKey,
      payload: new Uint8Array(10),
    });
    expect(codeOf(verifier().verify({ ...a, digest: other.digest, payloadBytes: 10 }))).toBe('BAD_SIGNATURE');
  });
});

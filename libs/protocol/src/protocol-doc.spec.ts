import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../common/src';
import { Envelope, envelopeSigningBytes, UnsignedEnvelope } from './envelope/envelope';
import { handshakeSigningBytes, HandshakeAuth, verifyHandshake } from './envelope/handshake';
import { fingerprint, keyPairFromSeed, signBytes, toBase64 } from './envelope/keys';
import { Keyring } from './envelope/keyring';
import { NonceCache } from './envelope/nonce-cache';
import { EnvelopeVerifier } from './envelope/verifier';

/**
 * docs/PROTOCOL.md promises a worked example a reader can recompute. This recomputes it from the
 * document itself, so the document cannot drift from the code.
 */
const doc = readFileSync(join(packageRoot(), 'docs', 'PROTOCOL.md'), 'utf8');

function block(name: string): string {
  const match = new RegExp(`<!-- example:${name} -->\\s*\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  if (!match) throw new Error(`docs/PROTOCOL.md has no example:${name} block`);
  return match[1];
}

describe('docs/PROTOCOL.md worked example', () => {
  const keys = JSON.parse(block('keys')) as Record<string, string>;
  const site = keyPairFromSeed(Buffer.from(keys.siteSeedHex, 'hex'));
  const coordinator = keyPairFromSeed(Buffer.from(keys.coordinatorSeedHex, 'hex'));
  const envelope = JSON.parse(block('envelope')) as Envelope<'update'>;
  const payload = Buffer.from('phcc-fed example payload\n', 'ascii');

  it('keys and fingerprints follow from the seeds', () => {
    expect(toBase64(site.publicKey)).toBe(keys.sitePublicKey);
    expect(fingerprint(site.publicKey)).toBe(keys.siteFingerprint);
    expect(toBase64(coordinator.publicKey)).toBe(keys.coordinatorPublicKey);
    expect(fingerprint(coordinator.publicKey)).toBe(keys.coordinatorFingerprint);
  });

  it('the envelope: digests, signed bytes and signature are exactly as printed', () => {
    expect(envelope.digest).toBe(createHash('sha512').update(payload).digest('hex'));
    expect(envelope.body.baseDigest).toBe(
      createHash('sha512').update('global weights round 3').digest('hex'),
    );
    const { signature, ...unsigned } = envelope;
    expect(Buffer.from(envelopeSigningBytes(unsigned as UnsignedEnvelope)).toString('utf8')).toBe(
      block('envelope-signing-bytes'),
    );
    const verifier = new EnvelopeVerifier({
      keyring: new Keyring([['hospital-a', site.publicKey]]),
      maxPayloadBytes: 1024,
      now: () => envelope.body.timestamp,
    });
    expect(verifier.verify(envelope, { payload })).toMatchObject({ ok: true });
    // Ed25519 is deterministic: signing the same bytes with the seed gives the printed signature.
    expect(toBase64(signBytes(envelopeSigningBytes(unsigned as UnsignedEnvelope), site.secretKey))).toBe(
      signature,
    );
  });

  it('the handshake: signed bytes and signature are exactly as printed', () => {
    const auth = JSON.parse(block('handshake')) as HandshakeAuth;
    expect(Buffer.from(handshakeSigningBytes(auth, coordinator.publicKey)).toString('utf8')).toBe(
      block('handshake-signing-bytes'),
    );
    const result = verifyHandshake(auth, {
      keyring: new Keyring([['hospital-a', site.publicKey]]),
      coordinatorPublicKey: coordinator.publicKey,
      nonceCache: new NonceCache(60_000),
      now: () => auth.timestamp,
    });
    expect(result.ok).toBe(true);
  });
});

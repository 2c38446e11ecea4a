import { Rng } from '../../common/src';
import { parseMessage } from './dto/parse';
import { HandshakeAuthDto } from './dto/messages';
import { canonicalJson } from './envelope/canonical';
import { BODY_TYPES, Envelope, MESSAGE_TYPES } from './envelope/envelope';
import { signHandshake, verifyHandshake } from './envelope/handshake';
import { NonceCache } from './envelope/nonce-cache';
import { EnvelopeVerifier } from './envelope/verifier';
import { sampleEnvelope, TEST_NOW, testKeyPair, testKeyring } from './test-support/fixtures';
import { TransferReceiver } from './transfer/receiver';
import { COORDINATOR_ID } from './version';

/**
 * Property test: ≥ 10,000 random and mutated messages thrown at every validator, the envelope
 * verifier, the handshake verifier and the transfer receiver. Properties: nothing throws, nothing
 * pollutes a prototype, and the verifier accepts only envelopes whose canonical form is exactly
 * one that was really signed.
 */
const rng = new Rng(20260115);
const WEIRD_STRINGS = [
  '',
  '__proto__',
  'constructor',
  'prototype',
  'coordinator',
  'hospital-a',
  '\u0000',
  '𝔘',
  'x'.repeat(5000),
];
const WEIRD_NUMBERS = [
  0,
  -0,
  -1,
  1.5,
  2 ** 53,
  -(2 ** 53),
  1e308,
  Number.MIN_VALUE,
  NaN,
  Infinity,
  -Infinity,
  TEST_NOW,
];

function randomValue(depth: number): unknown {
  switch (rng.int(depth > 4 ? 6 : 11)) {
    case 0:
      return null;
    case 1:
      return rng.bernoulli(0.5);
    case 2:
      return WEIRD_NUMBERS[rng.int(WEIRD_NUMBERS.length)];
    case 3:
      return rng.normal() * 10 ** rng.int(12);
    case 4:
      return WEIRD_STRINGS[rng.int(WEIRD_STRINGS.length)];
    case 5:
      return Buffer.from(Array.from({ length: rng.int(8) }, () => rng.int(256))).toString(
        rng.bernoulli(0.5) ? 'hex' : 'base64',
      );
    case 6:
      return Array.from({ length: rng.int(5) }, () => randomValue(depth + 1));
    case 7: {
      const keys = [
        'sender',
        'nonce',
        'timestamp',
        'runId',
        'v',
        'type',
        'body',
        'signature',
        '__proto__',
        'x',
      ];
      return Object.fromEntries(
        Array.from({ length: rng.int(6) }, () => [keys[rng.int(keys.length)], randomValue(depth + 1)]),
      );
    }
    case 8:
      return [undefined, 10n, () => 1, Symbol('s'), new Date(0), new Map(), new Uint8Array(3)][rng.int(7)];
    case 9: {
      let nested: unknown = 1;
      for (let i = rng.int(60); i > 0; i--) nested = rng.bernoulli(0.5) ? [nested] : { a: nested };
      return nested;
    }
    default:
      return JSON.parse(
        `{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}`,
      );
  }
}

function pathsOf(value: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !(value instanceof Map)) {
    for (const key of Object.keys(value)) {
      out.push([...prefix, key]);
      pathsOf((value as Record<string, unknown>)[key], [...prefix, key], out);
    }
  }
  return out;
}

/** Replaces one character by another of the same class, so the result usually stays well-formed. */
function mutateString(s: string): string {
  if (!s.length) return 'a';
  const i = rng.int(s.length);
  const c = s[i];
  const pool = /[0-9]/.test(c)
    ? '0123456789'
    : /[a-f]/.test(c)
      ? 'abcdef'
      : /[a-z]/.test(c)
        ? 'ghijklmnopqrstuvwxyz'
        : /[A-Z]/.test(c)
          ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
          : '_-+/=.';
  return s.slice(0, i) + pool[rng.int(pool.length)] + s.slice(i + 1);
}

/** One to three random edits of a deep copy: delete, replace, add, or nudge a leaf. */
function mutate(original: unknown): unknown {
  const copy = structuredClone(original) as Record<string, unknown>;
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const paths = pathsOf(copy);
    if (!paths.length) break;
    const path = paths[rng.int(paths.length)];
    let parent: Record<string, unknown> = copy;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
    const key = path[path.length - 1];
    const leaf = parent[key];
    switch (rng.int(8)) {
      case 0:
        delete parent[key];
        break;
      case 1:
        parent[key] = randomValue(2);
        break;
      case 2:
        parent[['extra', '__proto__', 'constructor', key + '_'][rng.int(4)]] = randomValue(3);
        break;
      default:
        if (typeof leaf === 'string') parent[key] = mutateString(leaf);
        else if (typeof leaf === 'number') parent[key] = rng.bernoulli(0.5) ? leaf + 1 : -leaf;
        else if (typeof leaf === 'boolean') parent[key] = !leaf;
        else parent[key] = randomValue(2);
    }
  }
  return copy;
}

describe('fuzz: validators, envelope verifier, handshake, transfer receiver', () => {
  it('survive ≥ 10,000 random and mutated messages without throwing or accepting anything unsigned', async () => {
    const sites = ['hospital-a', 'hospital-b'];
    const keyring = testKeyring(...sites);
    const verifier = new EnvelopeVerifier({ keyring, maxPayloadBytes: 1 << 20, now: () => TEST_NOW });
    const payload = new Uint8Array(1000).fill(9);
    const originals: Envelope[] = [];
    for (const type of MESSAGE_TYPES) {
      const signer = type === 'task' || type === 'welcome' ? COORDINATOR_ID : sites[rng.int(2)];
      originals.push(sampleEnvelope(type, signer));
      if (type === 'update') originals.push(sampleEnvelope(type, signer, { payload }));
    }
    const signedForms = new Set(originals.map((e) => canonicalJson(e)));
    const coordinatorKey = testKeyPair(COORDINATOR_ID).publicKey;
    const handshake = signHandshake('hospital-a', testKeyPair('hospital-a').secretKey, coordinatorKey, {
      now: TEST_NOW,
    });
    const receiver = new TransferReceiver({
      admit: (env) => {
        const r = verifier.verify(env, { consumeNonce: false });
        return r.ok
          ? {
              ok: true,
              value: { payloadBytes: r.value.envelope.payloadBytes, digest: r.value.envelope.digest ?? '' },
            }
          : r;
      },
      deliver: () => ({ ok: true }),
      maxPayloadBytes: 1 << 20,
    });
    const dtoClasses = [...Object.values(BODY_TYPES), HandshakeAuthDto] as (new () => object)[];

    let thrown = 0;
    let acceptedUnsigned = 0;
    let accepted = 0;
    const codes = new Map<string, number>();
    const total = 12_000;
    for (let i = 0; i < total; i++) {
      const fromOriginal = i % 3 !== 0;
      const base = fromOriginal ? originals[rng.int(originals.length)] : undefined;
      const signers = [...sites, COORDINATOR_ID, 'hospital-x'];
      const message = !base
        ? randomValue(0)
        : rng.bernoulli(0.1)
          ? { ...base, signer: signers[rng.int(signers.length)] }
          : rng.bernoulli(0.4)
            ? { ...base, body: mutate(base.body) }
            : mutate(base);
      try {
        const result = verifier.verify(message, { consumeNonce: false });
        if (result.ok) {
          accepted++;
          if (!signedForms.has(canonicalJson(message))) acceptedUnsigned++;
        } else {
          codes.set(result.error.code, (codes.get(result.error.code) ?? 0) + 1);
        }
        parseMessage(
          dtoClasses[i % dtoClasses.length],
          base && rng.bernoulli(0.5) ? mutate(base.body) : message,
        );
        verifyHandshake(i % 2 ? mutate(handshake) : message, {
          keyring,
          coordinatorPublicKey: coordinatorKey,
          nonceCache: new NonceCache(1000),
          now: () => TEST_NOW,
        });
        receiver.begin(
          rng.bernoulli(0.5)
            ? { transferId: 'fuzz-transfer-00000001', envelope: message, chunkBytes: 1000, chunkCount: 1 }
            : message,
        );
        receiver.chunk(
          rng.bernoulli(0.5)
            ? mutate({ transferId: 'fuzz-transfer-00000001', index: 0, data: 'AAAA' })
            : message,
        );
        await receiver.end(message);
      } catch (err) {
        thrown++;
        if (thrown < 3) console.error(err);
      }
    }
    receiver.close();
    expect({ thrown, acceptedUnsigned }).toEqual({ thrown: 0, acceptedUnsigned: 0 });
    // Some mutations are no-ops in canonical form (e.g. a nudge that rounds back); the originals must pass.
    for (const original of originals)
      expect(verifier.verify(original, { consumeNonce: false }).ok).toBe(true);
    expect(accepted).toBeLessThan(total / 10);
    // The mutants reach every layer: shape, signer, signature and the checks after it.
    for (const code of ['MALFORMED', 'UNKNOWN_SIGNER', 'BAD_SIGNATURE', 'UNSUPPORTED_VERSION']) {
      expect([code, (codes.get(code) ?? 0) > 20]).toEqual([code, true]);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
  }, 60_000);
});

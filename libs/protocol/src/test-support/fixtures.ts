import { createHash } from 'node:crypto';
import { Envelope, MessageType, PlainBody, signEnvelope } from '../envelope/envelope';
import { keyPairFromSeed, SigningKeyPair } from '../envelope/keys';
import { Keyring } from '../envelope/keyring';
import { COORDINATOR_ID } from '../version';

/**
 * Deterministic keys and well-formed bodies for tests (here and in other libraries' tests that
 * need a valid message to start from). Seeds are SHA-256 of a label, so anyone can recompute them.
 */
export function testKeyPair(label: string): SigningKeyPair {
  let keys = testKeys.get(label);
  if (!keys) {
    keys = keyPairFromSeed(createHash('sha256').update(label).digest());
    testKeys.set(label, keys);
  }
  return keys;
}
const testKeys = new Map<string, SigningKeyPair>();

export const TEST_NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
export const TEST_DIGEST = createHash('sha512').update('global weights').digest('hex');

export function testKeyring(...sites: string[]): Keyring {
  const ring = new Keyring([[COORDINATOR_ID, testKeyPair(COORDINATOR_ID).publicKey]]);
  for (const site of sites) ring.add(site, testKeyPair(site).publicKey);
  return ring;
}

let nonceCounter = 0;
/** A unique, valid nonce (deterministic within a test file). */
export function testNonce(): string {
  return `test-nonce-${String(++nonceCounter).padStart(10, '0')}`;
}

const scope = { runId: 'run-1', round: 3, taskId: 'task-3-hospital-a', stage: 'finetune' as const };
const secure = { ...scope, sessionId: 'sa-0123456789abcdef' };
/** Two well-formed 32-byte public keys in base64 (any 32 bytes are a valid X25519 public key). */
const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');

export function sampleBody<T extends MessageType>(
  type: T,
  sender: string,
  timestamp = TEST_NOW,
): PlainBody<T> {
  const meta = { sender, nonce: testNonce(), timestamp };
  const bodies: { [K in MessageType]: PlainBody<K> } = {
    task: {
      ...meta,
      ...scope,
      globalWeightsDigest: TEST_DIGEST,
      config: {
        localEpochs: 2,
        learningRate: 0.001,
        batchSize: 16,
        proximalMu: 0.01,
        seed: 7,
        updateEncoding: 'float16',
        updateKind: 'delta',
        maxUpdateBytes: 64 * 1024 * 1024,
      },
      deadline: timestamp + 3_600_000,
    },
    'task-ack': { ...meta, ...scope, accepted: true },
    update: {
      ...meta,
      ...scope,
      nSamples: 80,
      metrics: { loss: 0.42, 'train.auc': 0.81 },
      encoding: 'float16',
      kind: 'delta',
      baseDigest: TEST_DIGEST,
    },
    'eval-result': {
      ...meta,
      ...scope,
      stage: 'evaluate',
      modelDigest: TEST_DIGEST,
      nPositive: 3,
      nNegative: 2,
      auc: 0.83,
      histogram: { bins: 4, positive: [0, 1, 0, 2], negative: [1, 1, 0, 0] },
    },
    status: { ...meta, state: 'training', runId: 'run-1', round: 3, progress: 0.5 },
    error: { ...meta, code: 'WRONG_ROUND', reason: 'round 2 is closed', ref: 'task-2-hospital-a' },
    welcome: { ...meta, siteId: 'hospital-a', handshakeNonce: 'handshake-nonce-000001' },
    'secagg-keys': { ...meta, ...secure, encryptionKey: KEY_A, maskingKey: KEY_B, metrics: { loss: 0.42 } },
    'secagg-directory': {
      ...meta,
      ...secure,
      sites: [
        { siteId: 'hospital-a', encryptionKey: KEY_A, maskingKey: KEY_B },
        { siteId: 'hospital-b', encryptionKey: KEY_B, maskingKey: KEY_A },
      ],
    },
    'secagg-shares': { ...meta, ...secure, shares: [{ to: 'hospital-b', ciphertext: 'AAECAwQFBgc=' }] },
    'secagg-inbox': { ...meta, ...secure, shares: [{ from: 'hospital-b', ciphertext: 'AAECAwQFBgc=' }] },
    'secagg-masked': { ...meta, ...secure, ringBits: 48, vectorLength: 4 },
    'secagg-unmask-request': { ...meta, ...secure, survivors: ['hospital-a', 'hospital-b'], dropped: [] },
    'secagg-unmask': {
      ...meta,
      ...secure,
      selfSeedShares: [{ of: 'hospital-b', x: 2, y: 'ab'.repeat(66) }],
      maskingKeyShares: [],
    },
  };
  return bodies[type];
}

/** A correctly signed envelope of `type` from `signer` (keys from `testKeyPair(signer)`). */
export function sampleEnvelope<T extends MessageType>(
  type: T,
  signer: string,
  options: { payload?: Uint8Array; body?: Partial<PlainBody<T>>; timestamp?: number } = {},
): Envelope<T> {
  const body = { ...sampleBody(type, signer, options.timestamp), ...(options.body ?? {}) } as PlainBody<T>;
  return signEnvelope({
    type,
    body,
    signer,
    secretKey: testKeyPair(signer).secretKey,
    payload: options.payload,
  });
}

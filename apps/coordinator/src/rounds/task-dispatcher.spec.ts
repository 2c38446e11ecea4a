import { silentLog } from '../../../../libs/common/src';
import type { TaskToSend } from '../../../../libs/federated/src';
import {
  attachTransferReceiver,
  decodeModelBundle,
  EnvelopeVerifier,
  NonceCache,
  TaskBody,
  TransferReceiver,
  PROTOCOL_MINOR_VERSION,
} from '../../../../libs/protocol/src';
import { testKeyPair, testKeyring } from '../../../../libs/protocol/src/test-support/fixtures';
import { encodeWeights } from '../../../../libs/weights/src';
import { BlobStore } from '../models/blob-store';
import { loopbackPair } from '../testing/loopback-socket';
import { GlobalModels } from './global-models';
import { TaskDispatcher } from './task-dispatcher';

const MODEL = encodeWeights(
  [{ name: 'encoder/w', shape: [3], values: Float32Array.from([1, 2, 3]) }],
  'float32',
);
const DIGEST = BlobStore.digestOf(MODEL);

const task: TaskToSend = {
  runId: 'run-1',
  stage: 'ssl',
  round: 0,
  taskId: 'ssl-0-1-abc',
  globalWeightsDigest: DIGEST,
  config: {
    localEpochs: 1,
    learningRate: 0.01,
    batchSize: 2,
    seed: 1,
    updateEncoding: 'float32',
    updateKind: 'delta',
    maxUpdateBytes: 1024 * 1024,
  },
  deadline: Date.now() + 60_000,
  instruction: {
    parts: ['encoder', 'decoder'],
    updateKind: 'delta',
    optimiser: { name: 'adamw', weightDecay: 0.05 },
  },
};

describe('TaskDispatcher', () => {
  const blobs = { get: async () => MODEL } as unknown as BlobStore;

  it('signs the task as the coordinator and sends it with its model; the site verifies both', async () => {
    const [server, site] = loopbackPair();
    const received: { body: TaskBody; payload: Buffer }[] = [];
    const verifier = new EnvelopeVerifier({
      keyring: testKeyring(),
      maxPayloadBytes: 1024 * 1024,
      clockSkewMs: 60_000,
      nonceCache: new NonceCache(60_000),
      acceptedTypes: ['task'],
    });
    const receiver = new TransferReceiver({
      maxPayloadBytes: 1024 * 1024,
      admit: (envelope) => {
        const result = verifier.verify(envelope, { consumeNonce: false });
        return result.ok
          ? {
              ok: true,
              value: {
                payloadBytes: result.value.envelope.payloadBytes,
                digest: result.value.envelope.digest!,
              },
            }
          : result;
      },
      deliver: (envelope, payload, digest) => {
        const result = verifier.verify(envelope, { payload, payloadDigest: digest });
        if (!result.ok) return { ok: false, error: result.error };
        received.push({ body: result.value.body as TaskBody, payload });
        return { ok: true };
      },
    });
    attachTransferReceiver(site.socket, receiver);
    const dispatcher = new TaskDispatcher(
      (id) =>
        id === 'site-a' ? { socket: server.socket, protocolMinor: PROTOCOL_MINOR_VERSION } : undefined,
      () => testKeyPair('coordinator').secretKey,
      new GlobalModels(blobs),
      silentLog,
    );
    expect(await dispatcher.send('site-a', task)).toEqual({
      type: 'task-delivered',
      siteId: 'site-a',
      taskId: task.taskId,
    });
    expect(received).toHaveLength(1);
    expect(received[0].body).toMatchObject({
      taskId: task.taskId,
      globalWeightsDigest: DIGEST,
      config: task.config,
    });
    expect(Buffer.compare(received[0].payload, Buffer.from(MODEL))).toBe(0);
  });

  it('answers task-failed when the site is not connected or stops acknowledging', async () => {
    const [server] = loopbackPair();
    const dispatcher = new TaskDispatcher(
      (id) =>
        id === 'site-a' ? { socket: server.socket, protocolMinor: PROTOCOL_MINOR_VERSION } : undefined,
      () => testKeyPair('coordinator').secretKey,
      new GlobalModels(blobs),
      silentLog,
      200,
    );
    expect(await dispatcher.send('site-b', task)).toMatchObject({
      type: 'task-failed',
      reason: 'not connected',
    });
    // Nobody listens on the site's end: the transfer stalls.
    expect(await dispatcher.send('site-a', task)).toMatchObject({ type: 'task-failed', siteId: 'site-a' });
  });
});

describe('TaskDispatcher and older agents', () => {
  it('answers task-failed, sending nothing, when a 1.0 agent cannot carry the task (token centring)', async () => {
    const [server] = loopbackPair();
    const sent: unknown[] = [];
    server.socket.on('transfer', (frame: unknown) => sent.push(frame));
    const dispatcher = new TaskDispatcher(
      (id) => (id === 'site-a' ? { socket: server.socket, protocolMinor: 0 } : undefined),
      () => testKeyPair('coordinator').secretKey,
      new GlobalModels({ get: async () => MODEL } as unknown as BlobStore),
      silentLog,
      200,
    );
    const centring = { ...task, config: { ...task.config, tokenCentring: true } };
    expect(await dispatcher.send('site-a', centring)).toMatchObject({
      type: 'task-failed',
      siteId: 'site-a',
      reason: expect.stringContaining('protocol 1.0'),
    });
    expect(sent).toEqual([]);
  });

  it('refuses a secure-aggregation task to a 1.1 agent with UNSUPPORTED_VERSION, never sending it', async () => {
    const [server, site] = loopbackPair();
    const transfers: unknown[] = [];
    const errors: { body: { code: string; ref?: string } }[] = [];
    site.socket.on('transfer:begin', (frame: unknown) => transfers.push(frame));
    site.socket.on('error', (envelope: unknown) => errors.push(envelope as (typeof errors)[number]));
    const dispatcher = new TaskDispatcher(
      (id) => (id === 'site-a' ? { socket: server.socket, protocolMinor: 1 } : undefined),
      () => testKeyPair('coordinator').secretKey,
      new GlobalModels({ get: async () => MODEL } as unknown as BlobStore),
      silentLog,
      200,
    );
    const settings = {
      sessionId: 'sa-1',
      threshold: 2,
      ringBits: 48,
      fractionBits: 36,
      maxAbs: 256,
      weightCap: 4096,
    };
    const secure = { ...task, config: { ...task.config, secureAggregation: settings } };
    expect(await dispatcher.send('site-a', secure)).toMatchObject({
      type: 'task-failed',
      reason: expect.stringMatching(/^UNSUPPORTED_VERSION: .*secure aggregation.*1\.2.*1\.1/),
    });
    expect(transfers).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors.map((e) => [e.body.code, e.body.ref])).toEqual([['UNSUPPORTED_VERSION', task.taskId]]);
  });

  it('refuses a paired evaluation to a 1.2 agent with UNSUPPORTED_VERSION, never sending it', async () => {
    const [server, site] = loopbackPair();
    const transfers: unknown[] = [];
    const errors: { body: { code: string; ref?: string } }[] = [];
    site.socket.on('transfer:begin', (frame: unknown) => transfers.push(frame));
    site.socket.on('error', (envelope: unknown) => errors.push(envelope as (typeof errors)[number]));
    const dispatcher = new TaskDispatcher(
      (id) => (id === 'site-a' ? { socket: server.socket, protocolMinor: 2 } : undefined),
      () => testKeyPair('coordinator').secretKey,
      new GlobalModels({ get: async () => MODEL } as unknown as BlobStore),
      silentLog,
      200,
    );
    const paired = { ...task, stage: 'evaluate' as const, config: { ...task.config, compareWith: [DIGEST] } };
    expect(await dispatcher.send('site-a', paired)).toMatchObject({
      type: 'task-failed',
      reason: expect.stringMatching(/^UNSUPPORTED_VERSION: .*paired evaluation.*1\.3.*1\.2/),
    });
    expect(transfers).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors.map((e) => [e.body.code, e.body.ref])).toEqual([['UNSUPPORTED_VERSION', task.taskId]]);
  });

  it('refuses a local-only task with its own SSL stage to a 1.3 agent with UNSUPPORTED_VERSION, never sending it', async () => {
    const [server, site] = loopbackPair();
    const transfers: unknown[] = [];
    const errors: { body: { code: string; ref?: string } }[] = [];
    site.socket.on('transfer:begin', (frame: unknown) => transfers.push(frame));
    site.socket.on('error', (envelope: unknown) => errors.push(envelope as (typeof errors)[number]));
    const dispatcher = new TaskDispatcher(
      (id) => (id === 'site-a' ? { socket: server.socket, protocolMinor: 3 } : undefined),
      () => testKeyPair('coordinator').secretKey,
      new GlobalModels({ get: async () => MODEL } as unknown as BlobStore),
      silentLog,
      200,
    );
    const localSsl = {
      epochs: 2,
      learningRate: 0.001,
      batchSize: 4,
      maskRatio: 0.6,
      optimiser: 'adam' as const,
      weightDecay: 0.05,
      warmupEpochs: 0,
    };
    const localOnly = {
      ...task,
      stage: 'finetune' as const,
      config: { ...task.config, localOnly: true, localOnlySsl: localSsl },
    };
    expect(await dispatcher.send('site-a', localOnly)).toMatchObject({
      type: 'task-failed',
      reason: expect.stringMatching(/^UNSUPPORTED_VERSION: .*local-only model with its own SSL.*1\.4.*1\.3/),
    });
    expect(transfers).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors.map((e) => [e.body.code, e.body.ref])).toEqual([['UNSUPPORTED_VERSION', task.taskId]]);
  });
});

describe('TaskDispatcher: paired evaluation (1.3)', () => {
  it('attaches a model bundle of the task model and the compared ones; the site verifies the envelope and each model', async () => {
    const OTHER = encodeWeights(
      [{ name: 'encoder/w', shape: [3], values: Float32Array.from([4, 5, 6]) }],
      'float32',
    );
    const OTHER_DIGEST = BlobStore.digestOf(OTHER);
    const byDigest = new Map([
      [DIGEST, MODEL],
      [OTHER_DIGEST, OTHER],
    ]);
    const [server, site] = loopbackPair();
    const received: { body: TaskBody; payload: Buffer }[] = [];
    const verifier = new EnvelopeVerifier({
      keyring: testKeyring(),
      maxPayloadBytes: 1024 * 1024,
      clockSkewMs: 60_000,
      nonceCache: new NonceCache(60_000),
      acceptedTypes: ['task'],
    });
    attachTransferReceiver(
      site.socket,
      new TransferReceiver({
        maxPayloadBytes: 1024 * 1024,
        admit: (envelope) => {
          const result = verifier.verify(envelope, { consumeNonce: false });
          return result.ok
            ? {
                ok: true,
                value: {
                  payloadBytes: result.value.envelope.payloadBytes,
                  digest: result.value.envelope.digest!,
                },
              }
            : result;
        },
        deliver: (envelope, payload, digest) => {
          const result = verifier.verify(envelope, { payload, payloadDigest: digest });
          if (!result.ok) return { ok: false, error: result.error };
          received.push({ body: result.value.body as TaskBody, payload });
          return { ok: true };
        },
      }),
    );
    const dispatcher = new TaskDispatcher(
      (id) =>
        id === 'site-a' ? { socket: server.socket, protocolMinor: PROTOCOL_MINOR_VERSION } : undefined,
      () => testKeyPair('coordinator').secretKey,
      new GlobalModels({ get: async (d: string) => byDigest.get(d)! } as unknown as BlobStore),
      silentLog,
    );
    const paired = {
      ...task,
      stage: 'evaluate' as const,
      config: { ...task.config, compareWith: [OTHER_DIGEST] },
    };
    expect(await dispatcher.send('site-a', paired)).toMatchObject({ type: 'task-delivered' });
    expect(received[0].body).toMatchObject({
      globalWeightsDigest: DIGEST,
      config: { compareWith: [OTHER_DIGEST] },
    });
    const [own, other] = decodeModelBundle(received[0].payload, [DIGEST, OTHER_DIGEST]);
    expect(own.equals(Buffer.from(MODEL))).toBe(true);
    expect(other.equals(Buffer.from(OTHER))).toBe(true);
  });
});

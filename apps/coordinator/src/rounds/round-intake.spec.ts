import { silentLog } from '../../../../libs/common/src';
import { createStrategy, EngineEvent, OpenTask, Refusal } from '../../../../libs/federated/src';
import {
  AckReply,
  Envelope,
  MessageType,
  PlainBody,
  sendTransfer,
  signEnvelope,
  socketIoTransport,
} from '../../../../libs/protocol/src';
import { testKeyPair, testKeyring, testNonce } from '../../../../libs/protocol/src/test-support/fixtures';
import { encodeWeights, NamedArray } from '../../../../libs/weights/src';
import { BlobStore } from '../models/blob-store';
import { loopbackPair, LoopbackSocket } from '../testing/loopback-socket';
import { GlobalModels } from './global-models';
import { RoundIntake } from './round-intake';

const GLOBAL: NamedArray[] = [
  { name: 'decoder/w', shape: [2], values: Float32Array.from([0.5, -0.5]) },
  { name: 'encoder/w', shape: [3], values: Float32Array.from([1, 2, 3]) },
  { name: 'head/w', shape: [2], values: Float32Array.from([0.1, 0.2]) },
];
const GLOBAL_BYTES = encodeWeights(GLOBAL, 'float32');
const GLOBAL_DIGEST = BlobStore.digestOf(GLOBAL_BYTES);

/** The intake on a loopback socket, with the run (engine) and the audit log replaced by recorders. */
function setup(options: { open?: boolean; refusal?: Refusal } = {}) {
  const task: OpenTask = {
    runId: 'run-1',
    stage: 'ssl',
    round: 0,
    taskId: 'ssl-0-1-abc',
    modelDigest: GLOBAL_DIGEST,
    maxUpdateBytes: 1024 * 1024,
    collecting: true,
    attemptKey: 'run-1/ssl/0/1',
  };
  const events: EngineEvent[] = [];
  const refusals: { code: unknown; reason: unknown }[] = [];
  const strategy = createStrategy({ name: 'fedavg' });
  const blobs = { get: async () => GLOBAL_BYTES } as unknown as BlobStore;
  const intake = new RoundIntake(
    testKeyring('site-a', 'site-b'),
    {
      openTask: (siteId) => (options.open === false || siteId !== 'site-a' ? undefined : { task, strategy }),
      feed: async (_runId, event) => {
        events.push(event);
        return options.refusal ? { refusal: options.refusal } : {};
      },
    },
    new GlobalModels(blobs),
    { recordRefusal: async (entry) => (refusals.push(entry.detail as never), undefined) },
    silentLog,
  );
  const [server, site] = loopbackPair();
  intake.attach('site-a', server.socket);
  return { intake, site, events, refusals, task };
}

function sign<T extends MessageType>(
  type: T,
  signer: string,
  body: Partial<PlainBody<T>>,
  payload?: Uint8Array,
) {
  return signEnvelope({
    type,
    signer,
    secretKey: testKeyPair(signer).secretKey,
    payload,
    body: {
      sender: signer,
      nonce: testNonce(),
      timestamp: Date.now(),
      runId: 'run-1',
      round: 0,
      taskId: 'ssl-0-1-abc',
      stage: 'ssl',
      ...body,
    } as PlainBody<T>,
  }) as Envelope;
}

async function upload(
  site: LoopbackSocket,
  arrays: NamedArray[],
  body: Partial<PlainBody<'update'>> = {},
  signer = 'site-a',
): Promise<AckReply> {
  const payload = encodeWeights(arrays, 'float32');
  const envelope = sign(
    'update',
    signer,
    { nSamples: 4, metrics: {}, encoding: 'float32', kind: 'delta', baseDigest: GLOBAL_DIGEST, ...body },
    payload,
  );
  try {
    await sendTransfer(socketIoTransport(site.socket), envelope, payload, { stallTimeoutMs: 2000 });
    return { ok: true };
  } catch (err) {
    return { ok: false, error: { code: 'MALFORMED', reason: (err as Error).message } };
  }
}

const sslUpdate = (value: number): NamedArray[] =>
  GLOBAL.filter((a) => !a.name.startsWith('head/')).map((a) => ({ ...a, values: a.values.map(() => value) }));

describe('RoundIntake', () => {
  it('turns a verified update into one engine event: decoded and gated once, with the verified digest', async () => {
    const { site, events } = setup();
    expect(await upload(site, sslUpdate(0.01))).toEqual({ ok: true });
    expect(events).toHaveLength(1);
    const event = events[0] as Extract<EngineEvent, { type: 'update-received' }>;
    expect(event).toMatchObject({ type: 'update-received', siteId: 'site-a', taskId: 'ssl-0-1-abc' });
    expect(event.entry).toMatchObject({ siteId: 'site-a', kind: 'delta', numSamples: 4 });
    expect(event.update.digest).toBe(BlobStore.digestOf(encodeWeights(sslUpdate(0.01), 'float32')));
    expect(event.update.payload).toBeInstanceOf(Uint8Array);
  });

  it('hands the engine an authentic update the gate refuses (NaN), and acks the refusal with the check', async () => {
    const { site, events, refusals } = setup({
      refusal: { code: 'MALFORMED', reason: 'NON_FINITE: x', checkCode: 'NON_FINITE' },
    });
    const ack = await upload(site, sslUpdate(NaN));
    expect(ack.ok).toBe(false);
    expect(events[0]).toMatchObject({ type: 'update-refused', code: 'NON_FINITE' });
    expect(refusals).toEqual([{ code: 'NON_FINITE', reason: 'NON_FINITE: x' }]);
  });

  it('refuses, before the engine hears of it, an update with the wrong layout base or signer', async () => {
    const { site, events, refusals } = setup();
    await upload(site, sslUpdate(0.01), { baseDigest: 'f'.repeat(128) });
    await upload(site, sslUpdate(0.01), {}, 'site-b');
    expect(refusals.map((r) => r.code)).toEqual(['WRONG_ROUND', 'SENDER_MISMATCH']);
    expect(events).toEqual([]);
  });

  it('passes task acks and evaluation results on, and refuses them when no task is open', async () => {
    const { site, events } = setup();
    const ack = (await site
      .timeout(1000)
      .emitWithAck(
        'task-ack',
        sign('task-ack', 'site-a', { accepted: false, reason: 'no data' }),
      )) as AckReply;
    expect(ack).toEqual({ ok: true });
    expect(events).toEqual([
      { type: 'task-acked', siteId: 'site-a', taskId: 'ssl-0-1-abc', accepted: false, reason: 'no data' },
    ]);

    const closed = setup({ open: false });
    const refused = (await closed.site
      .timeout(1000)
      .emitWithAck('task-ack', sign('task-ack', 'site-a', { accepted: true }))) as AckReply;
    expect(refused).toMatchObject({ ok: false, error: { code: 'WRONG_TASK' } });
    expect(closed.refusals[0]).toMatchObject({ code: 'WRONG_TASK' });
    expect(closed.events).toEqual([]);
  });

  it('acks an answer the engine refused (late, duplicate) with the engine’s code, and audits it', async () => {
    const { site, refusals } = setup({
      refusal: { code: 'WRONG_TASK', reason: 'site-a already answered or was dropped' },
    });
    const reply = (await site.timeout(1000).emitWithAck(
      'eval-result',
      sign('eval-result', 'site-a', {
        modelDigest: GLOBAL_DIGEST,
        nPositive: 1,
        nNegative: 1,
        histogram: { bins: 2, positive: [0, 1], negative: [1, 0] },
      }),
    )) as AckReply;
    expect(reply).toEqual({
      ok: false,
      error: { code: 'WRONG_TASK', reason: 'site-a already answered or was dropped' },
    });
    expect(refusals).toHaveLength(1);
  });
});

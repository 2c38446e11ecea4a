import { EnvelopeVerifier } from '../envelope/verifier';
import { ProtocolError } from '../errors';
import { sampleEnvelope, TEST_NOW, testKeyring } from '../test-support/fixtures';
import { AckReply, AckTransport } from './ack';
import { TransferReceiver, TransferReceiverOptions } from './receiver';
import { sendTransfer } from './sender';
import { verifierTransferHooks } from './verified-hooks';

const SITE = 'hospital-a';

function payloadOf(bytes: number): Uint8Array {
  const p = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) p[i] = (i * 2654435761) >>> 24;
  return p;
}

interface Delivered {
  type: string;
  payload: Buffer;
}

function setup(options: Partial<TransferReceiverOptions> = {}) {
  const verifier = new EnvelopeVerifier({
    keyring: testKeyring(SITE),
    maxPayloadBytes: 1 << 20,
    now: () => TEST_NOW,
  });
  const delivered: Delivered[] = [];
  const receiver = new TransferReceiver({
    ...verifierTransferHooks(verifier, (message, payload) => {
      delivered.push({ type: message.envelope.type, payload });
      return { ok: true, accepted: message.envelope.type };
    }),
    maxPayloadBytes: 1 << 20,
    ...options,
  });
  /** An in-memory transport; `intercept` may drop (return 'drop') or rewrite a message. */
  let intercept: (event: string, message: Record<string, unknown>) => 'drop' | Record<string, unknown> = (
    _e,
    m,
  ) => m;
  const handlers: Record<string, (m: unknown) => AckReply | Promise<AckReply>> = {
    'transfer:begin': (m) => receiver.begin(m),
    'transfer:chunk': (m) => receiver.chunk(m),
    'transfer:end': (m) => receiver.end(m),
  };
  const transport: AckTransport = {
    async request(event, message, timeoutMs) {
      const m = intercept(event, message as Record<string, unknown>);
      if (m === 'drop') {
        await new Promise((r) => setTimeout(r, timeoutMs));
        throw new Error('operation has timed out');
      }
      return handlers[event](m);
    },
  };
  return { receiver, delivered, transport, setIntercept: (f: typeof intercept) => (intercept = f) };
}

describe('chunked transfer (in memory)', () => {
  it('delivers a payload split over many chunks, once, verified', async () => {
    const { delivered, transport } = setup();
    const payload = payloadOf(100_000);
    const env = sampleEnvelope('update', SITE, { payload });
    const reply = await sendTransfer(transport, env, payload, { chunkBytes: 4096, window: 3 });
    expect(reply).toEqual({ ok: true, accepted: 'update' });
    expect(delivered).toHaveLength(1);
    expect(Buffer.compare(delivered[0].payload, Buffer.from(payload))).toBe(0);
    // Sending the same signed update again is a replay.
    await expect(sendTransfer(transport, env, payload, { chunkBytes: 4096 })).rejects.toMatchObject({
      protocolCode: 'REPLAY',
    });
  });

  it('resends a chunk whose ack stalled, and still delivers', async () => {
    const { delivered, transport, setIntercept } = setup();
    const payload = payloadOf(20_000);
    let dropped = 0;
    setIntercept((event, m) => (event === 'transfer:chunk' && m.index === 2 && dropped++ < 2 ? 'drop' : m));
    await sendTransfer(transport, sampleEnvelope('update', SITE, { payload }), payload, {
      chunkBytes: 4096,
      stallTimeoutMs: 20,
    });
    expect(dropped).toBe(3);
    expect(delivered).toHaveLength(1);
  });

  it('starts over with a fresh transfer when the receiver discarded a stalled one', async () => {
    const { delivered, transport, setIntercept } = setup({ stallTimeoutMs: 30 });
    const payload = payloadOf(20_000);
    let firstTransfer: unknown;
    setIntercept((event, m) => {
      firstTransfer ??= m.transferId;
      // The first attempt pauses long enough after chunk 1 for the receiver to drop it.
      if (event === 'transfer:chunk' && m.transferId === firstTransfer && m.index === 2) return 'drop';
      return m;
    });
    await sendTransfer(transport, sampleEnvelope('update', SITE, { payload }), payload, {
      chunkBytes: 4096,
      window: 1,
      stallTimeoutMs: 50,
      maxRetries: 0,
    });
    expect(delivered).toHaveLength(1);
  });

  it('gives up with TRANSFER_TIMEOUT when the peer never answers', async () => {
    const { transport, setIntercept } = setup();
    setIntercept(() => 'drop');
    const payload = payloadOf(1000);
    await expect(
      sendTransfer(transport, sampleEnvelope('update', SITE, { payload }), payload, {
        stallTimeoutMs: 10,
        maxRetries: 1,
      }),
    ).rejects.toMatchObject({ protocolCode: 'TRANSFER_TIMEOUT' });
  });

  it('discards a reassembled payload whose digest is wrong (one corrupted chunk)', async () => {
    const { receiver, delivered, transport, setIntercept } = setup();
    const payload = payloadOf(50_000);
    setIntercept((event, m) => {
      if (event !== 'transfer:chunk' || m.index !== 5) return m;
      const data = Buffer.from(m.data as Uint8Array);
      data[7] ^= 0xff;
      return { ...m, data };
    });
    const error = await sendTransfer(transport, sampleEnvelope('update', SITE, { payload }), payload, {
      chunkBytes: 4096,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).protocolCode).toBe('DIGEST_MISMATCH');
    expect(delivered).toHaveLength(0);
    expect(receiver.activeTransfers).toBe(0);
  });

  it('refuses before allocating: bad signature, size over the limit, too many transfers, bad chunks', () => {
    const { receiver } = setup({ maxPayloadBytes: 10_000, maxConcurrent: 1 });
    const payload = payloadOf(20_000);
    const big = sampleEnvelope('update', SITE, { payload });
    const begin = (
      envelope: unknown,
      chunkBytes = 4096,
      chunkCount = 5,
      transferId = 'transfer-000000000001',
    ) => receiver.begin({ transferId, envelope, chunkBytes, chunkCount });
    expect(begin(big)).toEqual({ ok: false, error: expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }) });
    expect(begin({ ...big, signature: big.signature.replace(/^./, 'A') })).toMatchObject({
      error: { code: 'BAD_SIGNATURE' },
    });
    const small = payloadOf(8000);
    const env = sampleEnvelope('update', SITE, { payload: small });
    expect(begin(env, 4096, 3)).toMatchObject({ error: { code: 'MALFORMED' } });
    expect(begin(env, 4096, 2)).toEqual({ ok: true });
    expect(begin(env, 4096, 2)).toEqual({ ok: true }); // a resent begin is idempotent
    expect(
      begin(sampleEnvelope('update', SITE, { payload: small }), 4096, 2, 'transfer-000000000002'),
    ).toMatchObject({
      error: { code: 'TRANSFER_BUSY' },
    });
    const chunk = (index: number, data: Uint8Array) =>
      receiver.chunk({ transferId: 'transfer-000000000001', index, data });
    expect(chunk(2, small.subarray(0, 10))).toMatchObject({ error: { code: 'MALFORMED' } });
    expect(chunk(1, small.subarray(0, 10))).toMatchObject({ error: { code: 'MALFORMED' } });
    expect(chunk(0, small.subarray(0, 4096))).toEqual({ ok: true });
    expect(
      receiver.chunk({ transferId: 'transfer-000000000009', index: 0, data: small.subarray(0, 1) }),
    ).toMatchObject({
      error: { code: 'UNKNOWN_TRANSFER' },
    });
    receiver.close();
    expect(receiver.activeTransfers).toBe(0);
  });

  it('reassembles chunks that arrive out of order, keeping the first copy of a resent chunk', async () => {
    const { receiver, delivered } = setup();
    const payload = payloadOf(10_000);
    const env = sampleEnvelope('update', SITE, { payload });
    const id = 'transfer-000000000003';
    expect(receiver.begin({ transferId: id, envelope: env, chunkBytes: 4096, chunkCount: 3 })).toEqual({
      ok: true,
    });
    for (const index of [2, 0, 1]) {
      const data = payload.subarray(index * 4096, Math.min((index + 1) * 4096, payload.length));
      expect(receiver.chunk({ transferId: id, index, data })).toEqual({ ok: true });
    }
    const tampered = new Uint8Array(4096).fill(0xee);
    expect(receiver.chunk({ transferId: id, index: 1, data: tampered })).toEqual({ ok: true });
    expect(await receiver.end({ transferId: id })).toEqual({ ok: true, accepted: 'update' });
    expect(Buffer.compare(delivered[0].payload, Buffer.from(payload))).toBe(0);
    // A resent end (its ack was lost) gets the same verdict, without delivering twice.
    expect(await receiver.end({ transferId: id })).toEqual({ ok: true, accepted: 'update' });
    expect(delivered).toHaveLength(1);
  });

  it('refuses an end before every chunk arrived', async () => {
    const { receiver } = setup();
    const payload = payloadOf(8000);
    const env = sampleEnvelope('update', SITE, { payload });
    receiver.begin({ transferId: 'transfer-000000000001', envelope: env, chunkBytes: 4096, chunkCount: 2 });
    receiver.chunk({ transferId: 'transfer-000000000001', index: 0, data: payload.subarray(0, 4096) });
    expect(await receiver.end({ transferId: 'transfer-000000000001' })).toMatchObject({
      error: { code: 'MALFORMED' },
    });
    receiver.close();
  });
});

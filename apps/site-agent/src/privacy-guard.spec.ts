import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWeights, NamedArray } from '../../../libs/weights/src';
import { AckTransport, Envelope, payloadDigest, signEnvelope } from '../../../libs/protocol/src';
import { sampleBody, testKeyPair } from '../../../libs/protocol/src/test-support/fixtures';
import { MessageLog } from './message-log';
import { OutgoingChannel, PrivacyGuardError } from './privacy-guard';

/** The privacy guard with an in-memory transport that records every frame that would hit the wire. */
const SITE = 'hospital-a';
const keys = testKeyPair(SITE);

const weights: NamedArray[] = [
  { name: 'encoder/stem/kernel', shape: [2, 2], values: Float32Array.from([1, 2, 3, 4]) },
  { name: 'decoder/out/bias', shape: [2], values: Float32Array.from([5, 6]) },
];
const shapes = Object.fromEntries(weights.map((w) => [w.name, w.shape]));

function update(payload: Uint8Array, signer = SITE): Envelope<'update'> {
  const body = { ...sampleBody('update', signer), stage: 'ssl' as const, encoding: 'float32' as const };
  return signEnvelope({ type: 'update', body, signer, secretKey: testKeyPair(signer).secretKey, payload });
}

describe('OutgoingChannel (privacy guard)', () => {
  let dir: string;
  let log: MessageLog;
  let wire: { event: string; message: unknown }[];
  let channel: OutgoingChannel;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'guard-'));
    log = new MessageLog(join(dir, 'messages.jsonl'));
    wire = [];
    const transport: AckTransport = {
      request: async (event, message) => {
        wire.push({ event, message });
        return { ok: true };
      },
    };
    channel = new OutgoingChannel(transport, log, SITE, 1_000);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sends a checked update as a transfer and logs every frame with digest and size only', async () => {
    const payload = encodeWeights(weights, 'float32');
    const ack = await channel.sendUpdate(
      update(payload),
      payload,
      { shapes, maxBytes: 1e6 },
      { chunkBytes: 32 },
    );
    expect(ack.ok).toBe(true);
    const events = wire.map((f) => f.event);
    expect(events[0]).toBe('transfer:begin');
    expect(events.at(-1)).toBe('transfer:end');
    const sent = log.read().filter((e) => !e.ack);
    expect(sent.map((e) => e.event)).toEqual(events);
    expect(sent[0]).toMatchObject({
      type: 'update',
      digest: payloadDigest(payload),
      payloadBytes: payload.length,
    });
    expect(JSON.stringify(log.read())).not.toMatch(/"data"/);
    expect(
      log
        .read()
        .filter((e) => e.ack)
        .every((e) => e.ack!.ok),
    ).toBe(true);
  });

  it('refuses non-protocol events, foreign signers, unknown body fields and unapproved transfers', async () => {
    await expect(channel.send('patient-scores', [0.2, 0.7])).rejects.toBeInstanceOf(PrivacyGuardError);
    const status = signEnvelope({
      type: 'status',
      body: { ...sampleBody('status', 'hospital-b') },
      signer: 'hospital-b',
      secretKey: testKeyPair('hospital-b').secretKey,
    });
    await expect(channel.emitEnvelope(status)).rejects.toThrow(/not by this site/);
    const leaky = signEnvelope({
      type: 'eval-result',
      body: { ...sampleBody('eval-result', SITE), scores: [0.1, 0.9] } as never,
      signer: SITE,
      secretKey: keys.secretKey,
    });
    await expect(channel.emitEnvelope(leaky)).rejects.toThrow(/body refused/);
    const payload = encodeWeights(weights, 'float32');
    await expect(
      channel.send('transfer:begin', { transferId: 'a'.repeat(16), envelope: update(payload) }),
    ).rejects.toThrow(/not checked/);
    await expect(
      channel.send('transfer:chunk', { transferId: 'b'.repeat(16), index: 0, data: payload }),
    ).rejects.toThrow(/never approved/);
    expect(wire).toEqual([]);
  });

  it('refuses an oversized payload, a foreign layout, and an envelope that does not describe its payload', async () => {
    const payload = encodeWeights(weights, 'float32');
    await expect(channel.sendUpdate(update(payload), payload, { shapes, maxBytes: 100 })).rejects.toThrow(
      /exceeds the limit/,
    );
    const extra = encodeWeights([...weights, { name: 'voxels', shape: [3], values: new Float32Array(3) }]);
    await expect(channel.sendUpdate(update(extra), extra, { shapes, maxBytes: 1e6 })).rejects.toThrow(
      /layout/,
    );
    const other = encodeWeights(weights.map((w) => ({ ...w, values: w.values.map((v) => v + 1) })));
    await expect(channel.sendUpdate(update(payload), other, { shapes, maxBytes: 1e6 })).rejects.toThrow(
      /does not describe its payload/,
    );
    expect(wire).toEqual([]);
    expect(log.read()).toEqual([]);
  });
});

import { PhccError } from '../../../libs/common/src';
import { decodeWeights } from '../../../libs/weights/src';
import {
  AckReply,
  AckTransport,
  BODY_TYPES,
  BodyOf,
  Envelope,
  MessageType,
  parseMessage,
  payloadDigest,
  readAck,
  sendTransfer,
  SendTransferOptions,
  TRANSFER_EVENTS,
} from '../../../libs/protocol/src';
import { unpackRing } from '../../../libs/federated/src';
import { MessageLog } from './message-log';

/** Envelope events a site may emit directly (docs/PROTOCOL.md §4); `update` only travels as a transfer. */
export const SITE_ENVELOPE_EVENTS: readonly MessageType[] = [
  'task-ack',
  'eval-result',
  'status',
  'error',
  // Secure aggregation (protocol 1.2): public keys, sealed shares, revealed shares; never a value.
  'secagg-keys',
  'secagg-shares',
  'secagg-unmask',
];
const TRANSFER_EVENT_NAMES: readonly string[] = Object.values(TRANSFER_EVENTS);

/** Thrown when something tries to send what a site must never send. Nothing has left when it is. */
export class PrivacyGuardError extends PhccError {
  constructor(message: string) {
    super(`privacy guard: ${message}`, 'PRIVACY_GUARD', 1);
  }
}

/** What an update's payload must decode to: exactly the stage's upload layout, and at most so many bytes. */
export interface PayloadExpectation {
  shapes: Readonly<Record<string, readonly number[]>>;
  maxBytes: number;
}

interface ApprovedTransfer {
  payloadBytes: number;
  sentBytes: number;
}

/**
 * The single choke point through which every frame leaves the agent. It admits only protocol
 * events, only envelopes signed by this site whose body passes its strict schema (no unknown
 * fields, so nothing per-patient can ride along), and, as binary payload, only a weight buffer
 * whose decoded layout is exactly the stage's model layout. Every frame is written to the
 * message log before it is handed to the socket.
 */
export class OutgoingChannel {
  /** Payload digests `sendUpdate` checked; a transfer:begin for anything else is refused. */
  private readonly approvedDigests = new Set<string>();
  private readonly transfers = new Map<string, ApprovedTransfer>();

  constructor(
    private readonly transport: AckTransport,
    private readonly messageLog: MessageLog,
    private readonly siteId: string,
    private readonly ackTimeoutMs = 15_000,
  ) {}

  /** Emits a payload-less envelope (`task-ack`, `eval-result`, `status`, `error`) and returns the ack. */
  async emitEnvelope(envelope: Envelope): Promise<AckReply> {
    return readAck(await this.send(envelope.type, envelope));
  }

  /**
   * Sends a signed `update` and its weights as a chunked transfer, after checking that the payload
   * decodes to exactly `expect.shapes` and matches the signed digest and size.
   */
  async sendUpdate(
    envelope: Envelope<'update'>,
    payload: Uint8Array,
    expect: PayloadExpectation,
    options: SendTransferOptions = {},
  ): Promise<AckReply> {
    this.checkEnvelope(envelope, 'update');
    if (payload.byteLength > expect.maxBytes) {
      throw new PrivacyGuardError(
        `update payload of ${payload.byteLength} bytes exceeds the limit of ${expect.maxBytes}`,
      );
    }
    try {
      decodeWeights(payload, { shapes: expect.shapes, maxBytes: expect.maxBytes });
    } catch (err) {
      throw new PrivacyGuardError(
        `update payload is not exactly the stage's weight layout: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return this.sendChecked(envelope, payload, 'update', options);
  }

  /**
   * Sends the signed masked input of a secure-aggregation round as a transfer, after checking that
   * the payload is exactly `vectorLength` ring elements each below 2^ringBits (the range check that
   * replaces the coordinator's gate, which cannot look at a masked value) and matches the digest.
   */
  async sendMasked(
    envelope: Envelope<'secagg-masked'>,
    payload: Uint8Array,
    options: SendTransferOptions = {},
  ): Promise<AckReply> {
    this.checkEnvelope(envelope, 'secagg-masked');
    const { ringBits, vectorLength } = envelope.body;
    try {
      unpackRing(payload, ringBits, vectorLength);
    } catch (err) {
      throw new PrivacyGuardError(
        `masked input refused: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return this.sendChecked(envelope, payload, 'masked-input', options);
  }

  /** A payload whose content was checked: its envelope must describe it, then it may be transferred. */
  private async sendChecked(
    envelope: Envelope,
    payload: Uint8Array,
    what: string,
    options: SendTransferOptions,
  ): Promise<AckReply> {
    const digest = payloadDigest(payload);
    if (envelope.digest !== digest || envelope.payloadBytes !== payload.byteLength) {
      throw new PrivacyGuardError(`${what} envelope does not describe its payload (digest or size differ)`);
    }
    this.approvedDigests.add(digest);
    try {
      return await sendTransfer(
        { request: (event, message) => this.send(event, message) },
        envelope,
        payload,
        {
          stallTimeoutMs: this.ackTimeoutMs,
          ...options,
        },
      );
    } finally {
      this.approvedDigests.delete(digest);
    }
  }

  /**
   * The choke point itself. Public so that tests (and nothing else) can prove it refuses what
   * does not belong on the wire; everything the agent sends goes through here.
   */
  async send(event: string, message: unknown): Promise<unknown> {
    const entry = this.admit(event, message);
    this.messageLog.append(entry);
    let raw: unknown;
    try {
      raw = await this.transport.request(event, message, this.ackTimeoutMs);
    } catch (err) {
      this.messageLog.append({
        event,
        ack: { ok: false, reason: err instanceof Error ? err.message : String(err) },
      });
      throw err;
    }
    const ack = readAck(raw);
    this.messageLog.append({
      event,
      ...(entry.transferId ? { transferId: entry.transferId } : {}),
      ...(entry.chunkIndex !== undefined ? { chunkIndex: entry.chunkIndex } : {}),
      ack: ack.ok ? { ok: true } : { ok: false, code: ack.error.code, reason: ack.error.reason },
    });
    if (event === TRANSFER_EVENTS.end) this.transfers.delete(String(entry.transferId));
    return raw;
  }

  /** Checks one frame and returns its log entry; throws PrivacyGuardError if it must not leave. */
  private admit(event: string, message: unknown): Parameters<MessageLog['append']>[0] {
    if ((SITE_ENVELOPE_EVENTS as readonly string[]).includes(event)) {
      const envelope = message as Envelope;
      this.checkEnvelope(envelope, event as MessageType);
      if (envelope.payloadBytes !== 0 || envelope.digest !== null) {
        throw new PrivacyGuardError(`a ${event} envelope must not describe a payload`);
      }
      return envelopeEntry(event, envelope);
    }
    if (!TRANSFER_EVENT_NAMES.includes(event)) {
      throw new PrivacyGuardError(`"${event}" is not a protocol event a site may send`);
    }
    const frame = (message ?? {}) as Record<string, unknown>;
    const transferId = String(frame.transferId);
    if (event === TRANSFER_EVENTS.begin) {
      const envelope = frame.envelope as Envelope;
      this.checkEnvelope(envelope, envelope?.type === 'secagg-masked' ? 'secagg-masked' : 'update');
      if (envelope.digest === null || !this.approvedDigests.has(envelope.digest)) {
        throw new PrivacyGuardError('transfer of a payload that was not checked by sendUpdate');
      }
      this.transfers.set(transferId, { payloadBytes: envelope.payloadBytes, sentBytes: 0 });
      return { ...envelopeEntry(event, envelope), transferId };
    }
    const transfer = this.transfers.get(transferId);
    if (!transfer) throw new PrivacyGuardError(`transfer ${transferId} was never approved`);
    if (event === TRANSFER_EVENTS.chunk) {
      const data = frame.data;
      if (!(data instanceof Uint8Array)) throw new PrivacyGuardError('a transfer chunk must be binary');
      transfer.sentBytes += data.byteLength;
      if (transfer.sentBytes > transfer.payloadBytes * 2) {
        // Resends are allowed (lost acks) but never more than the payload over again.
        throw new PrivacyGuardError(`transfer ${transferId} sends more bytes than its signed payload`);
      }
      return { event, transferId, chunkIndex: Number(frame.index), chunkBytes: data.byteLength };
    }
    return { event, transferId };
  }

  private checkEnvelope(envelope: Envelope, type: MessageType): void {
    if (typeof envelope !== 'object' || envelope === null || envelope.type !== type) {
      throw new PrivacyGuardError(`expected a ${type} envelope`);
    }
    if (envelope.signer !== this.siteId) {
      throw new PrivacyGuardError(`envelope signed by ${envelope.signer}, not by this site (${this.siteId})`);
    }
    const parsed = parseMessage<BodyOf<MessageType>>(
      BODY_TYPES[type] as new () => BodyOf<MessageType>,
      envelope.body,
      { maxNodes: 50_000 },
    );
    if (!parsed.ok) throw new PrivacyGuardError(`${type} body refused: ${parsed.error.reason}`);
  }
}

function envelopeEntry(event: string, envelope: Envelope): Parameters<MessageLog['append']>[0] {
  return {
    event,
    type: envelope.type,
    signer: envelope.signer,
    body: envelope.body,
    digest: envelope.digest,
    payloadBytes: envelope.payloadBytes,
  };
}

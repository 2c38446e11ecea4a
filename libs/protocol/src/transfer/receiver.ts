import { createHash, Hash } from 'node:crypto';
import { Log, silentLog } from '../../../common/src';
import { parseMessage } from '../dto/parse';
import { fail, ok, ProtocolErrorInfo, ProtocolResult } from '../errors';
import { MAX_CHUNK_BYTES } from '../version';
import { ackError, AckReply } from './ack';
import { TransferBeginDto, TransferChunkDto, TransferEndDto } from './messages';

/** What the receiver learns from a header it admits: how many bytes to expect and their digest. */
export interface AdmittedPayload {
  payloadBytes: number;
  digest: string;
}

export interface TransferReceiverOptions {
  /**
   * Checks the envelope of a `transfer:begin` before any payload moves (signature, scope, declared
   * size ≤ the plan's limit) without using up its nonce. See `verifierTransferHooks`.
   */
  admit(envelope: Record<string, unknown>): ProtocolResult<AdmittedPayload>;
  /** Called once per complete payload whose SHA-512 matched; its reply is the `transfer:end` ack. */
  deliver(envelope: Record<string, unknown>, payload: Buffer, digest: string): Promise<AckReply> | AckReply;
  /** Hard bound on one payload, whatever `admit` says: nothing larger is ever allocated. */
  maxPayloadBytes: number;
  /** A transfer with no chunk for this long is discarded; default 30 s. */
  stallTimeoutMs?: number;
  /** Transfers in progress at once (memory: this × maxPayloadBytes); default 2. */
  maxConcurrent?: number;
  /**
   * Told of a whole payload that does not match its signed digest (altered after signing, or
   * corrupted) before it is discarded: `deliver` never sees it, so this is where a host audits it.
   */
  onDigestMismatch?(envelope: Record<string, unknown>, error: ProtocolErrorInfo): void;
  log?: Log;
}

interface PendingTransfer {
  envelope: Record<string, unknown>;
  signature: unknown;
  admitted: AdmittedPayload;
  chunkBytes: number;
  chunkCount: number;
  buffer: Buffer;
  received: Uint8Array;
  receivedCount: number;
  /** SHA-512 of chunks [0, hashedChunks), fed as soon as they are contiguous: the digest is ready at `end`. */
  hash: Hash;
  hashedChunks: number;
  timer: NodeJS.Timeout;
}

const FINISHED_MEMORY = 64;

/**
 * The receiving half of a chunked transfer, one per connection. Transport-agnostic: a gateway
 * feeds it the three events' messages and sends back what it returns. Never throws; every
 * refusal is an ack with a code. A payload is only handed on whole and with the signed digest.
 */
export class TransferReceiver {
  private readonly pending = new Map<string, PendingTransfer>();
  /** Final replies of recent transfers, so a resent `transfer:end` whose ack was lost gets the same answer. */
  private readonly finished = new Map<string, AckReply>();
  private readonly log: Log;
  private closed = false;

  constructor(private readonly options: TransferReceiverOptions) {
    this.log = options.log ?? silentLog;
  }

  get activeTransfers(): number {
    return this.pending.size;
  }

  begin(raw: unknown): AckReply {
    const parsed = parseMessage(TransferBeginDto, raw, { maxNodes: 50_000 });
    if (!parsed.ok) return ackError(parsed.error);
    const { transferId, envelope, chunkBytes, chunkCount } = parsed.value;
    const existing = this.pending.get(transferId);
    if (existing) {
      // A resent begin (its ack was lost) is fine; a different envelope under the same id is not.
      return existing.signature === envelope.signature
        ? { ok: true }
        : ackError({ code: 'MALFORMED', reason: 'transfer id already in use' });
    }
    if (this.closed) return ackError({ code: 'TRANSFER_BUSY', reason: 'receiver is closed' });
    if (this.pending.size >= (this.options.maxConcurrent ?? 2)) {
      return ackError({ code: 'TRANSFER_BUSY', reason: 'too many transfers in progress' });
    }
    const admitted = this.admit(envelope);
    if (!admitted.ok) return ackError(admitted.error);
    const { payloadBytes } = admitted.value;
    if (payloadBytes > this.options.maxPayloadBytes) {
      return ackError({
        code: 'PAYLOAD_TOO_LARGE',
        reason: `payload of ${payloadBytes} bytes exceeds the limit`,
      });
    }
    if (chunkBytes > MAX_CHUNK_BYTES || chunkCount !== Math.ceil(payloadBytes / chunkBytes)) {
      return ackError({
        code: 'MALFORMED',
        reason: `chunkCount must be ceil(${payloadBytes} / ${chunkBytes})`,
      });
    }
    this.pending.set(transferId, {
      envelope,
      signature: envelope.signature,
      admitted: admitted.value,
      chunkBytes,
      chunkCount,
      buffer: Buffer.allocUnsafe(payloadBytes),
      received: new Uint8Array(chunkCount),
      receivedCount: 0,
      hash: createHash('sha512'),
      hashedChunks: 0,
      timer: this.stallTimer(transferId),
    });
    return { ok: true };
  }

  chunk(raw: unknown): AckReply {
    const parsed = parseMessage(TransferChunkDto, raw, { maxBinaryBytes: MAX_CHUNK_BYTES });
    if (!parsed.ok) return ackError(parsed.error);
    const { transferId, index, data } = parsed.value;
    const transfer = this.pending.get(transferId);
    if (!transfer)
      return ackError({ code: 'UNKNOWN_TRANSFER', reason: `no transfer ${transferId} in progress` });
    if (index >= transfer.chunkCount) {
      return ackError({
        code: 'MALFORMED',
        reason: `chunk index ${index} ≥ chunkCount ${transfer.chunkCount}`,
      });
    }
    const start = index * transfer.chunkBytes;
    const expected = Math.min(transfer.chunkBytes, transfer.admitted.payloadBytes - start);
    if (data.byteLength !== expected) {
      return ackError({
        code: 'MALFORMED',
        reason: `chunk ${index} has ${data.byteLength} bytes, expected ${expected}`,
      });
    }
    transfer.timer.refresh();
    // A resent chunk (its ack was lost) is already here: keep the first copy, which may be hashed.
    if (transfer.received[index]) return { ok: true };
    transfer.buffer.set(data, start);
    transfer.received[index] = 1;
    transfer.receivedCount++;
    while (transfer.hashedChunks < transfer.chunkCount && transfer.received[transfer.hashedChunks]) {
      const from = transfer.hashedChunks * transfer.chunkBytes;
      transfer.hash.update(
        transfer.buffer.subarray(from, Math.min(from + transfer.chunkBytes, transfer.buffer.length)),
      );
      transfer.hashedChunks++;
    }
    return { ok: true };
  }

  async end(raw: unknown): Promise<AckReply> {
    const parsed = parseMessage(TransferEndDto, raw);
    if (!parsed.ok) return ackError(parsed.error);
    const { transferId } = parsed.value;
    const done = this.finished.get(transferId);
    if (done) return done;
    const transfer = this.pending.get(transferId);
    if (!transfer)
      return ackError({ code: 'UNKNOWN_TRANSFER', reason: `no transfer ${transferId} in progress` });
    if (transfer.receivedCount !== transfer.chunkCount) {
      return ackError({
        code: 'MALFORMED',
        reason: `end before all chunks: ${transfer.receivedCount} of ${transfer.chunkCount} received`,
      });
    }
    this.discard(transferId);
    const digest = transfer.hash.digest('hex');
    let reply: AckReply;
    if (digest !== transfer.admitted.digest) {
      this.log.warn({ transferId }, 'reassembled payload does not match the signed digest: discarded');
      const mismatch: ProtocolErrorInfo = {
        code: 'DIGEST_MISMATCH',
        reason: 'reassembled payload SHA-512 differs from the signed digest',
      };
      reply = ackError(mismatch);
      this.options.onDigestMismatch?.(transfer.envelope, mismatch);
    } else {
      reply = await this.deliver(transfer.envelope, transfer.buffer, digest);
    }
    this.remember(transferId, reply);
    return reply;
  }

  /** Drops every transfer in progress (call on disconnect). */
  close(): void {
    this.closed = true;
    for (const id of [...this.pending.keys()]) this.discard(id);
  }

  private admit(envelope: Record<string, unknown>): ProtocolResult<AdmittedPayload> {
    try {
      const result = this.options.admit(envelope);
      if (result.ok && !(result.value.payloadBytes > 0))
        return fail('MALFORMED', 'a transfer needs a payload');
      return result.ok ? ok(result.value) : result;
    } catch (err) {
      return fail('INTERNAL', `admission failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async deliver(
    envelope: Record<string, unknown>,
    payload: Buffer,
    digest: string,
  ): Promise<AckReply> {
    try {
      return await this.options.deliver(envelope, payload, digest);
    } catch (err) {
      const info: ProtocolErrorInfo = {
        code: 'INTERNAL',
        reason: err instanceof Error ? err.message : String(err),
      };
      this.log.error({ err: info.reason }, 'delivering a transfer failed');
      return ackError(info);
    }
  }

  private stallTimer(transferId: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.log.warn({ transferId }, 'transfer stalled: partial payload discarded');
      this.discard(transferId);
    }, this.options.stallTimeoutMs ?? 30_000);
    timer.unref();
    return timer;
  }

  private discard(transferId: string): void {
    const transfer = this.pending.get(transferId);
    if (!transfer) return;
    clearTimeout(transfer.timer);
    this.pending.delete(transferId);
  }

  private remember(transferId: string, reply: AckReply): void {
    this.finished.set(transferId, reply);
    if (this.finished.size > FINISHED_MEMORY)
      this.finished.delete(this.finished.keys().next().value as string);
  }
}

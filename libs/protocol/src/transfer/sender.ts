import { randomBytes } from 'node:crypto';
import { Log, silentLog } from '../../../common/src';
import { Envelope } from '../envelope/envelope';
import { ProtocolError } from '../errors';
import { DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES } from '../version';
import { AckReply, AckTransport, readAck } from './ack';
import { TRANSFER_EVENTS } from './messages';

export interface SendTransferOptions {
  /** Bytes per chunk; default 512 KiB, at most 720 KiB (socket.io drops messages over 1 MB, and long-polling sends base64). */
  chunkBytes?: number;
  /** Chunks in flight at once (each awaits its own ack); default 4. */
  window?: number;
  /** How long to wait for any one ack before calling it a stall; default 15 s. */
  stallTimeoutMs?: number;
  /** Resends of one chunk after a stall before the attempt is given up; default 3. */
  maxRetries?: number;
  /** Whole-transfer attempts (a fresh transfer id each) when the receiver lost the transfer; default 2. */
  maxAttempts?: number;
  log?: Log;
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

/** Codes after which starting the transfer again can help (the receiver dropped its state). */
const RESTARTABLE = new Set(['UNKNOWN_TRANSFER', 'TRANSFER_TIMEOUT']);

class AttemptFailed extends Error {}

/**
 * Sends a signed envelope and its binary payload as `transfer:begin`, acknowledged chunks and
 * `transfer:end`, and resolves with the receiver's final ack. Throws ProtocolError with the
 * receiver's code when it refuses (bad signature, digest mismatch…) or when every attempt stalled.
 */
export async function sendTransfer(
  transport: AckTransport,
  envelope: Envelope,
  payload: Uint8Array,
  options: SendTransferOptions = {},
): Promise<AckReply & { ok: true }> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) {
    throw new RangeError(`chunkBytes must be an integer in 1..${MAX_CHUNK_BYTES}`);
  }
  if (payload.byteLength === 0 || payload.byteLength !== envelope.payloadBytes) {
    throw new RangeError('payload length must equal the envelope payloadBytes (and be > 0)');
  }
  const maxAttempts = options.maxAttempts ?? 2;
  const log = options.log ?? silentLog;
  let lastFailure = '';
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    try {
      return await sendOnce(transport, envelope, payload, chunkBytes, options);
    } catch (err) {
      if (!(err instanceof AttemptFailed)) throw err;
      lastFailure = err.message;
      log.warn({ attempt, maxAttempts, reason: err.message }, 'transfer attempt failed');
    }
  }
  throw new ProtocolError(
    'TRANSFER_TIMEOUT',
    `transfer failed after ${maxAttempts} attempts: ${lastFailure}`,
  );
}

async function sendOnce(
  transport: AckTransport,
  envelope: Envelope,
  payload: Uint8Array,
  chunkBytes: number,
  options: SendTransferOptions,
): Promise<AckReply & { ok: true }> {
  const stallTimeoutMs = options.stallTimeoutMs ?? 15_000;
  const maxRetries = options.maxRetries ?? 3;
  const transferId = randomBytes(16).toString('base64url');
  const chunkCount = Math.ceil(payload.byteLength / chunkBytes);

  const request = async (event: string, message: unknown): Promise<AckReply & { ok: true }> => {
    let lastError = '';
    for (let tryNo = 0; tryNo <= maxRetries; tryNo++) {
      let raw: unknown;
      try {
        raw = await transport.request(event, message, stallTimeoutMs);
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
        continue; // no ack in time: resend (chunks and begin/end are idempotent)
      }
      const reply = readAck(raw);
      if (reply.ok) return reply;
      if (RESTARTABLE.has(reply.error.code))
        throw new AttemptFailed(`${reply.error.code}: ${reply.error.reason}`);
      throw new ProtocolError(reply.error.code, reply.error.reason);
    }
    throw new AttemptFailed(`${event} unacknowledged after ${maxRetries + 1} tries (${lastError})`);
  };

  await request(TRANSFER_EVENTS.begin, { transferId, envelope, chunkBytes, chunkCount });

  let nextIndex = 0;
  let sentBytes = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && nextIndex < chunkCount) {
      const index = nextIndex++;
      const start = index * chunkBytes;
      const data = payload.subarray(start, Math.min(start + chunkBytes, payload.byteLength));
      try {
        await request(TRANSFER_EVENTS.chunk, { transferId, index, data });
      } catch (err) {
        failed ??= err;
        return;
      }
      sentBytes += data.byteLength;
      options.onProgress?.(sentBytes, payload.byteLength);
    }
  };
  const window = Math.max(1, Math.min(options.window ?? 4, 64));
  await Promise.all(Array.from({ length: Math.min(window, chunkCount) }, worker));
  if (failed !== undefined) throw failed;

  return request(TRANSFER_EVENTS.end, { transferId });
}

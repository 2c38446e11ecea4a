import { isProtocolErrorCode, ProtocolErrorInfo, ProtocolResult } from '../errors';

/**
 * Every acknowledged event is answered with one of these: `{ ok: true, …details }` or
 * `{ ok: false, error: { code, reason } }`. Unsigned: it only tells the sender what happened to
 * its own message; anything the receiver wants believed goes in a signed envelope instead.
 */
export type AckReply = { ok: true; [detail: string]: unknown } | { ok: false; error: ProtocolErrorInfo };

export function ackOf<T>(result: ProtocolResult<T>, details: Record<string, unknown> = {}): AckReply {
  return result.ok ? { ...details, ok: true } : { ok: false, error: result.error };
}

export function ackError(info: ProtocolErrorInfo): AckReply {
  return { ok: false, error: info };
}

/** Reads a peer's reply defensively: anything that is not a well-formed AckReply is MALFORMED. */
export function readAck(raw: unknown): AckReply {
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const reply = raw as { ok?: unknown; error?: { code?: unknown; reason?: unknown } };
    if (reply.ok === true) return raw as AckReply;
    if (reply.ok === false && isProtocolErrorCode(reply.error?.code)) {
      const reason = typeof reply.error?.reason === 'string' ? reply.error.reason.slice(0, 1000) : '';
      return { ok: false, error: { code: reply.error.code, reason } };
    }
  }
  return {
    ok: false,
    error: { code: 'MALFORMED', reason: 'the peer answered with something that is not an ack' },
  };
}

/**
 * The one capability the chunked transfer needs from a transport: emit an event and await the
 * peer's acknowledgement, failing after a timeout. socket.io's `timeout().emitWithAck()` is one.
 */
export interface AckTransport {
  request(event: string, message: unknown, timeoutMs: number): Promise<unknown>;
}

import { PhccError } from '../../common/src';

/**
 * Every reason the protocol refuses something. Each is answered to the peer as
 * `{ code, reason }` and logged; codes are stable (documented in docs/PROTOCOL.md), reasons are
 * for humans.
 */
export const PROTOCOL_ERROR_CODES = [
  'MALFORMED',
  'UNSUPPORTED_VERSION',
  'UNKNOWN_SIGNER',
  'REVOKED_SIGNER',
  'BAD_SIGNATURE',
  'SENDER_MISMATCH',
  'DIGEST_MISMATCH',
  'WRONG_RUN',
  'WRONG_ROUND',
  'WRONG_TASK',
  'WRONG_STAGE',
  'STALE_TIMESTAMP',
  'REPLAY',
  'PAYLOAD_TOO_LARGE',
  'UNKNOWN_TRANSFER',
  'TRANSFER_TIMEOUT',
  'TRANSFER_BUSY',
  'UNEXPECTED_MESSAGE',
  'RATE_LIMITED',
  'PHASE_MISMATCH',
  'INTERNAL',
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export interface ProtocolErrorInfo {
  code: ProtocolErrorCode;
  reason: string;
}

/** Results instead of exceptions: code on the wire path must never throw past the gateway. */
export type ProtocolResult<T> = { ok: true; value: T } | { ok: false; error: ProtocolErrorInfo };

export function ok<T>(value: T): ProtocolResult<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: ProtocolErrorCode, reason: string): ProtocolResult<T> {
  return { ok: false, error: { code, reason } };
}

/** Thrown by the few APIs that are awaited by our own code (e.g. sending a transfer). */
export class ProtocolError extends PhccError {
  constructor(
    readonly protocolCode: ProtocolErrorCode,
    readonly reason: string,
  ) {
    super(`${protocolCode}: ${reason}`, protocolCode, 1);
  }

  get info(): ProtocolErrorInfo {
    return { code: this.protocolCode, reason: this.reason };
  }
}

export function isProtocolErrorCode(value: unknown): value is ProtocolErrorCode {
  return typeof value === 'string' && (PROTOCOL_ERROR_CODES as readonly string[]).includes(value);
}

import { appendFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * One line of the agent's outgoing-message log. It records exactly what left the hospital: the
 * signed body as sent, and for a binary payload only its size and SHA-512 (never the bytes), so a
 * data-protection officer can audit the traffic without the log itself becoming sensitive.
 */
export interface MessageLogEntry {
  /** ISO-8601 time the frame was handed to the socket. */
  time: string;
  /** socket.io event name (a protocol event, §4 of docs/PROTOCOL.md). */
  event: string;
  /** Envelope type, when the frame carries an envelope. */
  type?: string;
  signer?: string;
  /** The signed body, exactly as sent. */
  body?: unknown;
  /** SHA-512 hex and length of the payload the envelope describes (null / 0 when none). */
  digest?: string | null;
  payloadBytes?: number;
  /** Chunked-transfer bookkeeping (no payload bytes are logged). */
  transferId?: string;
  chunkIndex?: number;
  chunkBytes?: number;
  /** What the peer answered, appended as a separate `ack` line once known. */
  ack?: { ok: boolean; code?: string; reason?: string };
}

/**
 * Append-only JSONL log (one object per line). Writes are synchronous so that a frame is on disk
 * before it is on the wire: a crash can never leave something sent but unlogged.
 */
export class MessageLog {
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  append(entry: Omit<MessageLogEntry, 'time'> & { time?: string }): void {
    const line = JSON.stringify({ time: entry.time ?? new Date().toISOString(), ...entry });
    appendFileSync(this.file, line + '\n', { encoding: 'utf8', mode: 0o600 });
  }

  /** Reads the whole log back (for audits and tests). */
  read(): MessageLogEntry[] {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as MessageLogEntry);
  }
}

import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** One WebSocket frame a peer sent, unmasked: opcode 1 = text, 2 = binary. */
export interface CapturedFrame {
  opcode: number;
  payload: Buffer;
}

/**
 * Captures every WebSocket frame the coordinator *receives*, from the raw TCP bytes of its HTTP
 * server (below socket.io and engine.io, so nothing the application does can hide a frame): the
 * upgrade request is skipped, then each client frame is parsed (RFC 6455 §5.2) and unmasked.
 * Plain HTTP connections (the admin API) are ignored. Assumes no per-message compression, which
 * socket.io leaves off by default.
 */
export class FrameCapture {
  readonly frames: CapturedFrame[] = [];

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => {
      let buffer: Buffer = Buffer.alloc(0);
      let state: 'request' | 'websocket' | 'http' = 'request';
      socket.on('data', (chunk: Buffer) => {
        if (state === 'http') return;
        buffer = Buffer.concat([buffer, chunk]);
        if (state === 'request') {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffer.subarray(0, end).toString('latin1');
          state = /^upgrade:\s*websocket/im.test(head) ? 'websocket' : 'http';
          buffer = buffer.subarray(end + 4);
          if (state === 'http') return;
        }
        buffer = this.parse(buffer);
      });
    });
  }

  /** Parses every complete frame at the start of `buffer`; returns the incomplete rest. */
  private parse(input: Buffer): Buffer {
    let buffer = input;
    for (;;) {
      if (buffer.length < 2) return buffer;
      const opcode = buffer[0] & 0x0f;
      const masked = (buffer[1] & 0x80) !== 0;
      let length = buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return buffer;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return buffer;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const maskAt = offset;
      if (masked) offset += 4;
      if (buffer.length < offset + length) return buffer;
      const payload = Buffer.from(buffer.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= buffer[maskAt + (i % 4)];
      this.frames.push({ opcode, payload });
      buffer = buffer.subarray(offset + length);
    }
  }

  /** socket.io event names of the text frames (`42/sites,["name",…]`, binary events `45n-/sites,…`). */
  events(): string[] {
    return this.frames
      .filter((f) => f.opcode === 1)
      .map((f) => /^4[25]\d*-?\/sites,\d*\["([^"]+)"/.exec(f.payload.toString('utf8'))?.[1])
      .filter((name): name is string => name !== undefined);
  }

  /** Every received byte of every frame, concatenated (a value split across frames is found too). */
  allBytes(): Buffer {
    return Buffer.concat(this.frames.map((f) => f.payload));
  }
}

import type { Socket as ServerSocket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import { Log, silentLog } from '../../../common/src';
import { MessageType } from '../envelope/envelope';
import { HandshakeAuth, HandshakeVerifierOptions, verifyHandshake } from '../envelope/handshake';
import { EnvelopeVerifier, VerifiedMessage } from '../envelope/verifier';
import { ackError, AckReply, AckTransport } from './ack';
import { TRANSFER_EVENTS } from './messages';
import { TransferReceiver } from './receiver';

/** Either end of a socket.io connection; both offer the same ack API. */
export type AnySocket = ServerSocket | ClientSocket;

interface AckEmitter {
  readonly connected: boolean;
  /** socket.io-client only: true while it reconnects by itself (and buffers what is emitted meanwhile). */
  readonly active?: boolean;
  timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> };
  once(event: 'disconnect', listener: () => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
}
interface AckListener {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * The transfer sender's transport over a socket.io server socket or socket.io-client socket. On a
 * connection closed for good (a server socket whose peer went away, a client that will not
 * reconnect) no ack can ever come, so a request fails at once rather than after `timeoutMs`: a
 * round's dispatch to a site that crashed mid-transfer must not hold the round for its stall
 * timeouts. A client that is reconnecting keeps socket.io's buffering.
 */
export function socketIoTransport(socket: AnySocket): AckTransport {
  const emitter = socket as unknown as AckEmitter;
  const closedForGood = () => !emitter.connected && !emitter.active;
  return {
    request: (event, message, timeoutMs) => {
      if (closedForGood()) return Promise.reject(new Error('the connection is closed'));
      return new Promise((resolve, reject) => {
        const onDisconnect = () => {
          if (closedForGood()) reject(new Error('the connection closed before the ack'));
        };
        emitter.once('disconnect', onDisconnect);
        emitter
          .timeout(timeoutMs)
          .emitWithAck(event, message)
          .then(resolve, reject)
          .finally(() => emitter.off('disconnect', onDisconnect));
      });
    },
  };
}

/**
 * Registers an acknowledged event handler that can never throw past the socket: a handler's
 * exception becomes an INTERNAL error ack, and a message sent without an ack callback is ignored
 * (every protocol event expects one).
 */
export function onAck(
  socket: AnySocket,
  event: string,
  handler: (message: unknown) => AckReply | Promise<AckReply>,
  log: Log = silentLog,
): void {
  (socket as unknown as AckListener).on(event, (...args: unknown[]) => {
    const ack = args[args.length - 1];
    if (typeof ack !== 'function' || args.length !== 2) {
      log.warn({ event }, 'message without exactly one argument and an ack callback: ignored');
      return;
    }
    const reply = (r: AckReply): void => {
      try {
        (ack as (r: AckReply) => void)(r);
      } catch (err) {
        log.warn({ event, err: String(err) }, 'could not send ack');
      }
    };
    Promise.resolve()
      .then(() => handler(args[0]))
      .then(reply, (err: unknown) => {
        log.error({ event, err: err instanceof Error ? err.message : String(err) }, 'handler failed');
        reply(ackError({ code: 'INTERNAL', reason: 'the receiver failed to handle the message' }));
      });
  });
}

/**
 * Registers the handler of a payload-less signed message (`status`, `eval-result`, …): the
 * envelope is verified first, must be of the event's type and, when `signer` is given (the site
 * authenticated on this connection), signed by it. Refusals are answered as error acks.
 */
export function onEnvelope(
  socket: AnySocket,
  type: MessageType,
  verifier: EnvelopeVerifier,
  handler: (message: VerifiedMessage) => AckReply | Promise<AckReply>,
  options: { signer?: string; log?: Log } = {},
): void {
  onAck(
    socket,
    type,
    (raw) => {
      const result = verifier.verify(raw);
      if (!result.ok) {
        options.log?.warn({ event: type, ...result.error }, 'message refused');
        return ackError(result.error);
      }
      const { envelope } = result.value;
      if (envelope.type !== type) {
        return ackError({
          code: 'UNEXPECTED_MESSAGE',
          reason: `a ${envelope.type} envelope on the ${type} event`,
        });
      }
      if (options.signer !== undefined && envelope.signer !== options.signer) {
        return ackError({
          code: 'SENDER_MISMATCH',
          reason: `signed by ${envelope.signer}, not by ${options.signer}`,
        });
      }
      return handler(result.value);
    },
    options.log,
  );
}

/** Feeds a socket's `transfer:*` events into a receiver; drops its partial transfers on disconnect. */
export function attachTransferReceiver(
  socket: AnySocket,
  receiver: TransferReceiver,
  log: Log = silentLog,
): void {
  onAck(socket, TRANSFER_EVENTS.begin, (m) => receiver.begin(m), log);
  onAck(socket, TRANSFER_EVENTS.chunk, (m) => receiver.chunk(m), log);
  onAck(socket, TRANSFER_EVENTS.end, (m) => receiver.end(m), log);
  (socket as unknown as AckListener).on('disconnect', () => receiver.close());
}

/** Error passed to socket.io's `next()`: the client sees `message` and `data` in `connect_error`. */
export class HandshakeRefused extends Error {
  constructor(readonly data: { code: string; reason: string }) {
    super(`${data.code}: ${data.reason}`);
  }
}

/**
 * socket.io middleware for the `/sites` namespace: lets a connection in only with a valid signed
 * handshake (see `signHandshake`), and stores the authenticated site in `socket.data.siteId`.
 */
export function handshakeMiddleware(
  options: HandshakeVerifierOptions & { log?: Log },
): (socket: ServerSocket, next: (err?: Error) => void) => void {
  return (socket, next) => {
    const result = verifyHandshake(socket.handshake.auth, options);
    if (!result.ok) {
      options.log?.warn({ code: result.error.code, reason: result.error.reason }, 'handshake refused');
      next(new HandshakeRefused(result.error));
      return;
    }
    const data = socket.data as { siteId?: string; handshake?: HandshakeAuth };
    data.siteId = result.value.siteId;
    data.handshake = result.value;
    next();
  };
}

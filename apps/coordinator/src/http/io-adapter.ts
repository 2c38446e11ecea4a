import { IoAdapter } from '@nestjs/platform-socket.io';
import type { IncomingMessage } from 'node:http';
import type { Server, ServerOptions } from 'socket.io';

/** Open engine.io connections in all (authenticated or not yet). */
export const MAX_SOCKET_CONNECTIONS = 1000;
/** Open engine.io connections from one address: a hospital needs one, a NAT a few. */
export const MAX_SOCKET_CONNECTIONS_PER_ADDRESS = 20;
/** A connection that has not joined a namespace (i.e. not handshaken) within this is closed. */
export const SOCKET_CONNECT_TIMEOUT_MS = 10_000;

/**
 * socket.io with bounds: a connection cap (in all and per address) checked before the engine.io
 * handshake, a short deadline for joining a namespace, and a root namespace that admits nobody —
 * sites speak only on `/sites`, whose middleware verifies the signed handshake.
 */
export class BoundedIoAdapter extends IoAdapter {
  override createIOServer(port: number, options?: ServerOptions): Server {
    const perAddress = new Map<string, number>();
    const addressOf = (req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown';
    const bounded: Partial<ServerOptions> = {
      ...options,
      connectTimeout: SOCKET_CONNECT_TIMEOUT_MS,
      allowRequest: (req, callback) => {
        const open = server.engine.clientsCount;
        const mine = perAddress.get(addressOf(req)) ?? 0;
        callback(null, open < MAX_SOCKET_CONNECTIONS && mine < MAX_SOCKET_CONNECTIONS_PER_ADDRESS);
      },
    };
    const server = super.createIOServer(port, bounded) as Server;
    server.engine.on(
      'connection',
      (socket: { request: IncomingMessage; once(e: string, f: () => void): void }) => {
        const address = addressOf(socket.request);
        perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
        socket.once('close', () => {
          const left = (perAddress.get(address) ?? 1) - 1;
          if (left > 0) perAddress.set(address, left);
          else perAddress.delete(address);
        });
      },
    );
    server
      .of('/')
      .use((_socket, next) => next(new Error('no service on "/": site agents connect to /sites')));
    return server;
  }
}

import type { AnySocket } from '../../../../libs/protocol/src';

type Listener = (...args: unknown[]) => void;

/**
 * One end of an in-memory socket pair with the part of socket.io's surface the protocol uses
 * (`on`/`once`/`off`, `emit`, `timeout().emitWithAck`, `disconnect`): what one end emits, the
 * other end's listeners receive, acks included. Lets unit tests drive the gateway, the intake and
 * the dispatcher as a site would, with no server and no network.
 */
export class LoopbackSocket {
  connected = true;
  readonly data: Record<string, unknown> = {};
  peer!: LoopbackSocket;
  private readonly listeners = new Map<string, Listener[]>();
  private readonly middlewares: ((packet: unknown[], next: (err?: Error) => void) => void)[] = [];

  constructor(readonly id: string) {}

  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  once(event: string, listener: Listener): this {
    const wrapped: Listener = (...args) => {
      this.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped);
  }

  off(event: string, listener: Listener): this {
    this.listeners.set(
      event,
      (this.listeners.get(event) ?? []).filter((l) => l !== listener),
    );
    return this;
  }

  emit(event: string, ...args: unknown[]): boolean {
    if (this.connected) this.peer.receive(event, args);
    return true;
  }

  timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> } {
    return {
      emitWithAck: (event, ...args) =>
        new Promise((resolve, reject) => {
          if (!this.connected) return reject(new Error('socket is disconnected'));
          const timer = setTimeout(() => reject(new Error('operation has timed out')), ms);
          this.peer.receive(event, [...args, (reply: unknown) => (clearTimeout(timer), resolve(reply))]);
        }),
    };
  }

  /** socket.io's per-socket middleware: runs on every incoming packet before any listener. */
  use(middleware: (packet: unknown[], next: (err?: Error) => void) => void): this {
    this.middlewares.push(middleware);
    return this;
  }

  disconnect(): this {
    if (!this.connected) return this;
    this.connected = false;
    this.peer.connected = false;
    this.receive('disconnect', []);
    this.peer.receive('disconnect', []);
    return this;
  }

  /** This end as the protocol's socket type. */
  get socket(): AnySocket {
    return this as unknown as AnySocket;
  }

  private receive(event: string, args: unknown[], from = 0): void {
    // Socket events (disconnect) skip the middlewares, as in socket.io.
    if (event !== 'disconnect' && from < this.middlewares.length) {
      this.middlewares[from]([event, ...args], (err) => {
        if (!err) this.receive(event, args, from + 1);
      });
      return;
    }
    for (const listener of this.listeners.get(event) ?? []) listener(...args);
  }
}

/** A connected pair: [coordinator end, site end]. */
export function loopbackPair(id = 'conn-1'): [LoopbackSocket, LoopbackSocket] {
  const server = new LoopbackSocket(id);
  const client = new LoopbackSocket(id);
  server.peer = client;
  client.peer = server;
  return [server, client];
}

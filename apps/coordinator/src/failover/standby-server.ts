import { createServer as createHttpServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';

/** Seconds a client is told to wait before asking a standby again (Retry-After). */
const RETRY_AFTER_S = 2;

/**
 * 1 on the coordinator that holds the active lock (and on one that runs on SQLite), 0 on a standby:
 * with both scraped, `sum(phcc_coordinator_active) < 1` means no coordinator is serving.
 */
export const ACTIVE_METRIC = {
  name: 'phcc_coordinator_active',
  help: '1 when this coordinator is the active one, 0 while it stands by',
} as const;

/** What a standby answers on /health/ready (503): load balancers keep it out, operators see why. */
export const STANDBY_READINESS = {
  ready: false,
  role: 'standby',
  reason: 'another coordinator holds the active lock on this database',
} as const;

/**
 * The port a standby coordinator holds while it waits for the active lock: /health/live answers
 * 200 (the process is well: do not restart it), /metrics says it stands by
 * (`phcc_coordinator_active 0`), /health/ready and everything else 503 with
 * Retry-After, and WebSocket upgrades are refused the same way. A site agent given both
 * coordinators' URLs gets an error here and tries the next URL; a load balancer in front of both
 * sends traffic only to the ready one. Nothing of the coordinator (store, keys, runs) is opened
 * until the lock is held, so a standby can never write.
 */
export class StandbyServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async listen(
    host: string,
    port: number,
    tls?: { cert: string; key: string },
  ): Promise<StandbyServer> {
    const server = tls ? createHttpsServer(tls, answer) : createHttpServer(answer);
    server.on('upgrade', refuseUpgrade);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return new StandbyServer(server, `${tls ? 'https' : 'http'}://${shown}:${address.port}`);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Frees the port for the active coordinator; open keep-alive connections are cut. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function answer(request: IncomingMessage, response: ServerResponse): void {
  const path = (request.url ?? '/').split('?')[0];
  const reply = (status: number, body: object) => {
    response.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...(status === 503 ? { 'retry-after': String(RETRY_AFTER_S) } : {}),
    });
    response.end(JSON.stringify(body));
  };
  // The request body (if any) is not read: drain it so the connection can be reused.
  request.resume();
  if (path === '/health/live') reply(200, { live: true, role: 'standby' });
  else if (path === '/metrics') {
    // Scraped like the active one, so a standby is `up` and says that it stands by.
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    response.end(
      `# HELP ${ACTIVE_METRIC.name} ${ACTIVE_METRIC.help}\n# TYPE ${ACTIVE_METRIC.name} gauge\n${ACTIVE_METRIC.name} 0\n`,
    );
  } else if (path === '/health/ready') reply(503, STANDBY_READINESS);
  else reply(503, { statusCode: 503, message: `standby coordinator: ${STANDBY_READINESS.reason}` });
}

function refuseUpgrade(_request: IncomingMessage, socket: Duplex): void {
  socket.end(
    `HTTP/1.1 503 Service Unavailable\r\nretry-after: ${RETRY_AFTER_S}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
  );
}

import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'socket.io-client';
import { silentLog } from '../libs/common/src';
import { loadSiteKit, provision } from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { connectionOptions } from '../apps/site-agent/src/connection-options';
import { freePort } from './support/coordinator-process';
import { connectSite } from './support/simulated-site';

/**
 * A hospital's network, for real: a coordinator serving TLS with a certificate from a private CA
 * made here with openssl, reached through tinyproxy (HTTP CONNECT, named by HTTPS_PROXY) with the
 * agent's connection options (--ca), and through a reverse proxy that refuses WebSocket upgrades,
 * where the agent stays on long-polling. The site side is the agent's handshake and options
 * without tfjs (test/support/simulated-site.ts).
 */
jest.setTimeout(60_000);

describe('agent network: TLS with a private CA, HTTP CONNECT proxy, upgrades refused', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  let tinyproxy: ChildProcess;
  let proxyLog = '';
  let proxyPort: number;
  let stripper: Server;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-network-'));
    makeCertificates(dir);
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'https://127.0.0.1:1', siteIds: ['hospital-a'] });
    coordinator = await startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: 'network-e2e-token-0123456789',
      tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') },
      log: silentLog,
    });
    proxyPort = await freePort();
    const config = join(dir, 'tinyproxy.conf');
    writeFileSync(
      config,
      [
        `Port ${proxyPort}`,
        'Listen 127.0.0.1',
        'Timeout 60',
        'Allow 127.0.0.1',
        'LogLevel Connect',
        'MaxClients 20',
      ]
        .concat(process.getuid?.() === 0 ? ['User nobody', 'Group nogroup'] : [])
        .join('\n') + '\n',
    );
    tinyproxy = spawn(tinyproxyBinary(), ['-d', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    tinyproxy.stdout?.on('data', (d: Buffer) => (proxyLog += d.toString()));
    tinyproxy.stderr?.on('data', (d: Buffer) => (proxyLog += d.toString()));
    await waitForPort(proxyPort);
    stripper = await upgradeRefusingProxy(coordinator.url, join(dir, 'ca.pem'));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    // Let the closed sockets' transports finish before jest tears the module registry down.
    await new Promise((resolve) => setTimeout(resolve, 500));
    tinyproxy?.kill();
    stripper?.close();
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const kit = () => loadSiteKit(join(dir, 'kits', 'sites', 'hospital-a'));

  /** connectionOptions under a given environment (HTTPS_PROXY, NO_PROXY), restored afterwards. */
  function optionsWith(
    env: Record<string, string>,
    url: string,
    network: Parameters<typeof connectionOptions>[1],
  ) {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      return connectionOptions(url, network);
    } finally {
      for (const key of Object.keys(env)) if (saved[key] === undefined) delete process.env[key];
      Object.assign(process.env, saved);
    }
  }

  it('serves TLS that only the private CA vouches for', async () => {
    expect(coordinator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const direct = connectionOptions(coordinator.url, {});
    await expect(connectSite(coordinator.url, kit(), 'hospital-a', direct.options)).rejects.toBeDefined();
  });

  it('connects through tinyproxy with HTTP CONNECT, TLS end to end, and upgrades to WebSocket', async () => {
    const route = optionsWith(
      { HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: 'example.org' },
      coordinator.url,
      {
        caFile: join(dir, 'ca.pem'),
      },
    );
    expect(route.proxy).toBe(`http://127.0.0.1:${proxyPort}/`);
    const socket = await connectSite(coordinator.url, kit(), 'hospital-a', route.options);
    sockets.push(socket);
    await waitFor(() => socket.io.engine.transport.name === 'websocket');
    const port = new URL(coordinator.url).port;
    expect(proxyLog).toMatch(new RegExp(`CONNECT 127\\.0\\.0\\.1:${port}`));
    socket.close();
  });

  it('goes direct when NO_PROXY names the coordinator', () => {
    const route = optionsWith(
      { HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: '127.0.0.1' },
      coordinator.url,
      {},
    );
    expect(route.proxy).toBeUndefined();
  });

  it('keeps working on long-polling behind a proxy that refuses WebSocket upgrades', async () => {
    const front = `http://127.0.0.1:${(stripper.address() as { port: number }).port}`;
    await expect(
      connectSite(front, kit(), 'hospital-a', connectionOptions(front, { transport: 'websocket' }).options),
    ).rejects.toBeDefined();
    const socket = await connectSite(front, kit(), 'hospital-a', connectionOptions(front, {}).options);
    sockets.push(socket);
    // The upgrade is tried and refused; the connection stays up on polling and still talks.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(socket.connected).toBe(true);
    expect(socket.io.engine.transport.name).toBe('polling');
  });
});

/** A CA and a server certificate for 127.0.0.1 signed by it, as an operator would make them. */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=phcc-fed test CA',
  );
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
}

function tinyproxyBinary(): string {
  for (const candidate of ['/usr/bin/tinyproxy', '/usr/sbin/tinyproxy']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'pipe' });
      return candidate;
    } catch {
      // try the next place
    }
  }
  throw new Error('tinyproxy not found: install it with "apt-get install -y tinyproxy" (.ci/run does)');
}

/**
 * A plain-HTTP reverse proxy in front of the TLS coordinator that forwards requests and refuses
 * every Upgrade, like many hospital web filters.
 */
function upgradeRefusingProxy(target: string, caFile: string): Promise<Server> {
  const ca = readFileSync(caFile, 'utf8');
  const server = createServer((req, res) => {
    const upstream = httpsRequest(
      target + req.url,
      { method: req.method, headers: { ...req.headers, host: new URL(target).host }, ca },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n'));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'HEAD', path: '/' }, () => resolve(true));
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`tinyproxy did not listen on ${port}`);
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(check()).toBe(true);
}

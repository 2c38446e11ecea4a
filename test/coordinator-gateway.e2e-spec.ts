import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, Socket } from 'socket.io-client';
import { silentLog } from '../libs/common/src';
import {
  checkWelcome,
  COORDINATOR_ID,
  EnvelopeVerifier,
  HandshakeAuth,
  loadSiteKit,
  LoadedSiteKit,
  newNonce,
  provision,
  signEnvelope,
  signHandshake,
  SITES_NAMESPACE,
} from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { adminApi } from './support/admin-api';

/**
 * The `/sites` gateway of a real coordinator on 127.0.0.1, reached with the site kits that
 * `provision` writes: signed handshake in, signed welcome out, live registry, refusals audited,
 * and revocation that closes the live connection and keeps the site out.
 */
const TOKEN = 'e2e-gateway-token-0123456789';

describe('coordinator /sites gateway (127.0.0.1)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  const kits: Record<string, LoadedSiteKit> = {};
  const sockets: Socket[] = [];

  const admin = adminApi(() => coordinator.url, TOKEN);

  /** Connects with a handshake; resolves with the socket and the coordinator's welcome, or the refusal. */
  function connect(auth: HandshakeAuth) {
    const socket = io(coordinator.url + SITES_NAMESPACE, {
      auth: { ...auth },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    sockets.push(socket);
    return new Promise<{ socket: Socket; welcome: unknown } | { refused: { code: string } }>((resolve) => {
      socket.once('welcome', (welcome: unknown) => resolve({ socket, welcome }));
      socket.once('connect_error', (err: Error & { data?: { code: string } }) =>
        resolve({ refused: err.data ?? { code: err.message } }),
      );
    });
  }
  const handshake = (site: string, signer = site) =>
    signHandshake(site, kits[signer].keys.secretKey, kits[signer].coordinatorPublicKey);

  const status = (site: string, state: string) =>
    signEnvelope({
      type: 'status',
      body: { sender: site, nonce: newNonce(), timestamp: Date.now(), state, message: 'ready' },
      signer: site,
      secretKey: kits[site].keys.secretKey,
    } as Parameters<typeof signEnvelope>[0]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-gateway-e2e-'));
    const sites = ['hospital-a', 'hospital-b'];
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'http://127.0.0.1:8080', siteIds: sites });
    for (const id of sites) kits[id] = loadSiteKit(join(dir, 'kits', 'sites', id));
    coordinator = await startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: TOKEN,
      log: silentLog,
    });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets an enrolled site in, proves the coordinator with a signed welcome, and lists it as connected', async () => {
    const auth = handshake('hospital-a');
    const conn = await connect(auth);
    if (!('socket' in conn)) throw new Error(`refused: ${conn.refused.code}`);
    const siteVerifier = new EnvelopeVerifier({ keyring: kits['hospital-a'].keyring, maxPayloadBytes: 0 });
    expect(checkWelcome(conn.welcome, auth, siteVerifier)).toEqual({ ok: true, value: true });

    expect(await conn.socket.timeout(5000).emitWithAck('status', status('hospital-a', 'idle'))).toEqual({
      ok: true,
    });
    const sites = (await admin('GET', '/sites')) as unknown as {
      id: string;
      connected: boolean;
      lastStatus?: { state: string };
    }[];
    expect(sites.map((s) => [s.id, s.connected, s.lastStatus?.state])).toEqual([
      ['hospital-a', true, 'idle'],
      ['hospital-b', false, undefined],
    ]);
  });

  it('refuses replayed, forged and unknown handshakes, and audits each refusal', async () => {
    const auth = handshake('hospital-b');
    expect(await connect(auth)).toHaveProperty('socket');
    expect(await connect(auth)).toEqual({ refused: expect.objectContaining({ code: 'REPLAY' }) });
    expect(await connect(handshake('hospital-b', 'hospital-a'))).toEqual({
      refused: expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    });
    const stranger = signHandshake(
      'hospital-z',
      kits['hospital-a'].keys.secretKey,
      kits['hospital-a'].coordinatorPublicKey,
    );
    expect(await connect(stranger)).toEqual({ refused: expect.objectContaining({ code: 'UNKNOWN_SIGNER' }) });
    expect(await connect({ ...handshake('hospital-a'), siteId: COORDINATOR_ID })).toEqual({
      refused: expect.objectContaining({ code: 'UNKNOWN_SIGNER' }),
    });
    const audit = (await admin<{ entries: unknown }>('GET', '/audit?action=handshake.refused')).entries as {
      actor: string;
      detail: { code: string };
    }[];
    expect(audit.map((e) => e.detail.code).sort()).toEqual([
      'BAD_SIGNATURE',
      'REPLAY',
      'UNKNOWN_SIGNER',
      'UNKNOWN_SIGNER',
    ]);
    expect(audit.map((e) => e.actor)).toContain('site:hospital-z@127.0.0.1');
  });

  it('refuses (and audits) a message signed by another site and a message with no open task', async () => {
    const conn = await connect(handshake('hospital-a'));
    if (!('socket' in conn)) throw new Error('refused');
    expect(await conn.socket.timeout(5000).emitWithAck('status', status('hospital-b', 'idle'))).toMatchObject(
      {
        ok: false,
        error: { code: 'SENDER_MISMATCH' },
      },
    );
    expect(
      await conn.socket.timeout(5000).emitWithAck('task-ack', status('hospital-a', 'idle')),
    ).toMatchObject({
      ok: false,
      error: { code: 'UNEXPECTED_MESSAGE' },
    });
    const audit = (await admin<{ entries: unknown }>('GET', '/audit?action=message.rejected')).entries as {
      actor: string;
      target: string;
    }[];
    expect(audit.map((e) => [e.actor, e.target])).toEqual([
      ['site:hospital-a', 'task-ack'],
      ['site:hospital-a', 'status'],
    ]);
  });

  it('replaces an older connection of the same site with the newer one', async () => {
    const first = await connect(handshake('hospital-b'));
    if (!('socket' in first)) throw new Error('refused');
    const closed = new Promise<void>((resolve) => first.socket.once('disconnect', () => resolve()));
    const second = await connect(handshake('hospital-b'));
    expect(second).toHaveProperty('socket');
    await closed;
    const sites = (await admin('GET', '/sites')) as unknown as { id: string; connected: boolean }[];
    expect(sites.find((s) => s.id === 'hospital-b')?.connected).toBe(true);
  });

  it("closes a revoked site's connection at once and refuses its next handshake", async () => {
    const conn = await connect(handshake('hospital-a'));
    if (!('socket' in conn)) throw new Error('refused');
    const closed = new Promise<void>((resolve) => conn.socket.once('disconnect', () => resolve()));
    await admin('POST', '/sites/hospital-a/revoke', { reason: 'e2e' });
    await closed;
    expect(await connect(handshake('hospital-a'))).toEqual({
      refused: expect.objectContaining({ code: 'REVOKED_SIGNER' }),
    });
    const sites = (await admin('GET', '/sites')) as unknown as {
      id: string;
      connected: boolean;
      revoked: boolean;
    }[];
    expect(sites.find((s) => s.id === 'hospital-a')).toMatchObject({ connected: false, revoked: true });
  });
});

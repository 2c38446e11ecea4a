import { createServer, Server as HttpServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Server, Socket as ServerSocket } from 'socket.io';
import { io, Socket as ClientSocket } from 'socket.io-client';
import {
  AckTransport,
  attachTransferReceiver,
  checkWelcome,
  COORDINATOR_ID,
  EnvelopeVerifier,
  handshakeMiddleware,
  HandshakeAuth,
  MAX_CHUNK_BYTES,
  NonceCache,
  onEnvelope,
  ProtocolError,
  sendTransfer,
  signHandshake,
  signWelcome,
  SITES_NAMESPACE,
  socketIoTransport,
  TransferReceiver,
  verifierTransferHooks,
} from '../libs/protocol/src';
import { sampleEnvelope, testKeyPair, testKeyring } from '../libs/protocol/src/test-support/fixtures';

/**
 * The chunked transfer over a real socket.io connection on 127.0.0.1 with socket.io's default
 * 1 MB message limit: 50 MB arrives intact; one corrupted chunk gets the payload refused; the
 * handshake keeps out unknown, forged and revoked sites.
 */
const SITE = 'hospital-a';
const MB50 = 50 * 1024 * 1024;
const coordinatorKeys = testKeyPair(COORDINATOR_ID);

describe('protocol transfer over socket.io (127.0.0.1)', () => {
  let http: HttpServer;
  let server: Server;
  let url: string;
  const delivered: { siteId: string; type: string; bytes: Buffer }[] = [];
  const keyring = testKeyring(SITE, 'hospital-b', 'hospital-revoked').revoke('hospital-revoked');
  const clients: ClientSocket[] = [];

  beforeAll(async () => {
    http = createServer();
    server = new Server(http); // default maxHttpBufferSize: 1e6 bytes
    const sites = server.of(SITES_NAMESPACE);
    sites.use(
      handshakeMiddleware({
        keyring,
        coordinatorPublicKey: coordinatorKeys.publicKey,
        nonceCache: new NonceCache(300_000),
      }),
    );
    sites.on('connection', (socket: ServerSocket) => {
      const { siteId, handshake } = socket.data as { siteId: string; handshake: HandshakeAuth };
      const verifier = new EnvelopeVerifier({
        keyring,
        maxPayloadBytes: 64 * 1024 * 1024,
        acceptedTypes: ['update', 'status'],
      });
      const receiver = new TransferReceiver({
        ...verifierTransferHooks(verifier, (message, bytes) => {
          if (message.envelope.signer !== siteId) {
            return {
              ok: false,
              error: { code: 'SENDER_MISMATCH', reason: 'signed by another site than this connection' },
            };
          }
          delivered.push({ siteId, type: message.envelope.type, bytes });
          return { ok: true };
        }),
        maxPayloadBytes: 64 * 1024 * 1024,
        stallTimeoutMs: 5000,
      });
      attachTransferReceiver(socket, receiver);
      onEnvelope(socket, 'status', verifier, () => ({ ok: true }), { signer: siteId });
      socket.emit('welcome', signWelcome(handshake, coordinatorKeys.secretKey));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}${SITES_NAMESPACE}`;
  });

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await server.close();
    http.close();
  });

  /** Connects as `site` signing with `signingSite`'s key; resolves with the socket and its welcome, or the refusal. */
  function connect(
    site: string,
    signingSite = site,
    transports: ('websocket' | 'polling')[] = ['websocket'],
  ) {
    const auth = signHandshake(site, testKeyPair(signingSite).secretKey, coordinatorKeys.publicKey);
    const socket = io(url, {
      auth: { ...auth },
      transports,
      reconnection: false,
      forceNew: true,
    });
    clients.push(socket);
    return new Promise<
      { socket: ClientSocket; welcome: unknown; auth: HandshakeAuth } | { refused: { code: string } }
    >((resolve) => {
      socket.once('welcome', (welcome: unknown) => resolve({ socket, welcome, auth }));
      socket.once('connect_error', (err: Error & { data?: { code: string } }) =>
        resolve({ refused: err.data ?? { code: err.message } }),
      );
    });
  }

  it('authenticates both ways: the site by its handshake, the coordinator by its welcome', async () => {
    const conn = await connect(SITE);
    expect('socket' in conn).toBe(true);
    if (!('socket' in conn)) return;
    const siteVerifier = new EnvelopeVerifier({ keyring: testKeyring(), maxPayloadBytes: 0 });
    expect(checkWelcome(conn.welcome, conn.auth, siteVerifier)).toEqual({ ok: true, value: true });
    const status = sampleEnvelope('status', SITE, { timestamp: Date.now() });
    expect(await conn.socket.timeout(5000).emitWithAck('status', status)).toEqual({ ok: true });
    expect(await conn.socket.timeout(5000).emitWithAck('status', status)).toMatchObject({
      ok: false,
      error: { code: 'REPLAY' },
    });
    conn.socket.disconnect();
  });

  it('keeps out unknown, forged and revoked sites', async () => {
    expect(await connect('hospital-z')).toEqual({
      refused: expect.objectContaining({ code: 'UNKNOWN_SIGNER' }),
    });
    expect(await connect(SITE, 'hospital-b')).toEqual({
      refused: expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    });
    expect(await connect('hospital-revoked')).toEqual({
      refused: expect.objectContaining({ code: 'REVOKED_SIGNER' }),
    });
  });

  it('moves a 50 MB update intact in chunks below the 1 MB limit, and refuses it with one chunk corrupted', async () => {
    const conn = await connect(SITE);
    if (!('socket' in conn)) throw new Error('connection refused');
    const words = new Uint32Array(MB50 / 4);
    for (let i = 0; i < words.length; i++) words[i] = Math.imul(i, 2654435761) >>> 0;
    const payload = Buffer.from(words.buffer);

    const started = Date.now();
    const env = sampleEnvelope('update', SITE, { payload, timestamp: Date.now() });
    await sendTransfer(socketIoTransport(conn.socket), env, payload, { chunkBytes: 512 * 1024, window: 4 });
    const seconds = (Date.now() - started) / 1000;
    expect(delivered).toHaveLength(1);
    expect(delivered[0].siteId).toBe(SITE);
    expect(delivered[0].bytes.length).toBe(MB50);
    expect(delivered[0].bytes.equals(payload)).toBe(true);
    process.stdout.write(
      `50 MB over socket.io loopback: ${seconds.toFixed(2)} s (${(50 / seconds).toFixed(0)} MB/s)\n`,
    );

    // Flip one bit of chunk 37 on its way out: the receiver must discard the reassembled payload.
    const real = socketIoTransport(conn.socket);
    const corrupting: AckTransport = {
      request(event, message, timeoutMs) {
        const m = message as { index?: number; data?: Uint8Array };
        if (event === 'transfer:chunk' && m.index === 37 && m.data) {
          const data = Buffer.from(m.data);
          data[1000] ^= 0x01;
          return real.request(event, { ...m, data }, timeoutMs);
        }
        return real.request(event, message, timeoutMs);
      },
    };
    const env2 = sampleEnvelope('update', SITE, { payload, timestamp: Date.now() });
    const error = await sendTransfer(corrupting, env2, payload).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).protocolCode).toBe('DIGEST_MISMATCH');
    expect(delivered).toHaveLength(1);
    conn.socket.disconnect();
  }, 120_000); // generous: CI machines are shared; the transfer itself has stall timeouts

  it('moves maximum-size chunks over HTTP long-polling, where they travel base64-encoded (issue #18 row 14)', async () => {
    const conn = await connect(SITE, SITE, ['polling']);
    if (!('socket' in conn)) throw new Error('connection refused');
    expect(conn.socket.io.engine.transport.name).toBe('polling');
    const payload = Buffer.alloc(2 * MAX_CHUNK_BYTES + 1).map((_, i) => (i * 7) & 0xff);
    const before = delivered.length;
    const env = sampleEnvelope('update', SITE, { payload, timestamp: Date.now() });
    await sendTransfer(socketIoTransport(conn.socket), env, payload, {
      chunkBytes: MAX_CHUNK_BYTES,
      window: 2,
    });
    expect(delivered).toHaveLength(before + 1);
    expect(delivered[before].bytes.equals(payload)).toBe(true);
    conn.socket.disconnect();
  }, 60_000);

  it('works from the coordinator to the site too (task with global weights)', async () => {
    const conn = await connect('hospital-b');
    if (!('socket' in conn)) throw new Error('connection refused');
    const received: Buffer[] = [];
    const siteVerifier = new EnvelopeVerifier({
      keyring: testKeyring(),
      maxPayloadBytes: 8 << 20,
      acceptedTypes: ['task'],
    });
    const siteReceiver = new TransferReceiver({
      ...verifierTransferHooks(siteVerifier, (_m, bytes) => {
        received.push(bytes);
        return { ok: true };
      }),
      maxPayloadBytes: 8 << 20,
    });
    attachTransferReceiver(conn.socket, siteReceiver);
    const serverSocket = [...server.of(SITES_NAMESPACE).sockets.values()].find(
      (s) => s.data.siteId === 'hospital-b',
    )!;
    const weights = Buffer.alloc(3 * 1024 * 1024 + 17, 3);
    const { createHash } = await import('node:crypto');
    const digest = createHash('sha512').update(weights).digest('hex');
    const task = sampleEnvelope('task', COORDINATOR_ID, {
      payload: weights,
      timestamp: Date.now(),
      body: { globalWeightsDigest: digest },
    });
    await sendTransfer(socketIoTransport(serverSocket), task, weights);
    expect(received).toHaveLength(1);
    expect(received[0].equals(weights)).toBe(true);
    conn.socket.disconnect();
  });
});

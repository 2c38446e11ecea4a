import { createHash } from 'node:crypto';
import { createServer, Server as HttpServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Server, Socket as ServerSocket } from 'socket.io';
import { encodeWeights, NamedArray } from '../../../../libs/weights/src';
import {
  AckReply,
  attachTransferReceiver,
  COORDINATOR_ID,
  EnvelopeVerifier,
  handshakeMiddleware,
  HandshakeAuth,
  Keyring,
  LoadedSiteKit,
  MessageType,
  newNonce,
  NonceCache,
  onEnvelope,
  PlainBody,
  SigningKeyPair,
  sendTransfer,
  signEnvelope,
  encodeModelBundle,
  signWelcome,
  SITES_NAMESPACE,
  socketIoTransport,
  Stage,
  TransferReceiver,
  verifierTransferHooks,
  VerifiedMessage,
} from '../../../../libs/protocol/src';
import { testKeyPair } from '../../../../libs/protocol/src/test-support/fixtures';

/**
 * A minimal coordinator for tests: a plain socket.io server on 127.0.0.1 with the real handshake
 * middleware, a signed welcome, a TransferReceiver for updates and verifiers for every site
 * message. It records every frame a site sends (socket.io `onAny`), so tests can compare what
 * went over the wire with the agent's message log.
 */
export const TEST_SITE = 'hospital-a';

export interface ReceivedMessage {
  message: VerifiedMessage;
  payload?: Buffer;
}

export interface FakeCoordinatorOptions {
  /** Default: the deterministic test key of `coordinator`. */
  coordinatorKeys?: SigningKeyPair;
  /** The one enrolled site; default TEST_SITE with its deterministic test key. */
  siteId?: string;
  sitePublicKey?: Uint8Array;
}

export class FakeCoordinator {
  readonly keys: SigningKeyPair;
  readonly keyring: Keyring;
  readonly siteId: string;
  /** Every verified message from the site, in arrival order. */
  readonly received: ReceivedMessage[] = [];
  /** Every frame (event name + first argument) the site sent, verified or not. */
  readonly frames: { event: string; message: unknown }[] = [];
  readonly handshakes: HandshakeAuth[] = [];
  socket: ServerSocket | undefined;
  private http!: HttpServer;
  private server!: Server;
  port = 0;
  private readonly handshakeNonces = new NonceCache(300_000);

  constructor(options: FakeCoordinatorOptions = {}) {
    this.keys = options.coordinatorKeys ?? testKeyPair(COORDINATOR_ID);
    this.siteId = options.siteId ?? TEST_SITE;
    this.keyring = new Keyring([
      [COORDINATOR_ID, this.keys.publicKey],
      [this.siteId, options.sitePublicKey ?? testKeyPair(this.siteId).publicKey],
    ]);
  }

  async start(port = 0): Promise<void> {
    this.http = createServer();
    this.server = new Server(this.http);
    const sites = this.server.of(SITES_NAMESPACE);
    sites.use(
      handshakeMiddleware({
        keyring: this.keyring,
        coordinatorPublicKey: this.keys.publicKey,
        nonceCache: this.handshakeNonces,
      }),
    );
    sites.on('connection', (socket: ServerSocket) => this.onConnection(socket));
    await new Promise<void>((resolve) => this.http.listen(port, '127.0.0.1', resolve));
    this.port = (this.http.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    this.server.disconnectSockets(true);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.socket = undefined;
  }

  /** A site kit for TEST_SITE pointing at this server (what `loadSiteKit` would return). */
  siteKit(): LoadedSiteKit {
    return {
      siteId: TEST_SITE,
      coordinatorUrl: this.url,
      namespace: SITES_NAMESPACE,
      keys: testKeyPair(TEST_SITE),
      coordinatorPublicKey: this.keys.publicKey,
      keyring: new Keyring([[COORDINATOR_ID, this.keys.publicKey]]),
    };
  }

  /** Signs a task (by default with the coordinator key) and sends it with its global weights. */
  async sendTask(
    stage: Stage,
    global: NamedArray[],
    options: {
      taskId?: string;
      signWith?: Uint8Array;
      config?: Partial<PlainBody<'task'>['config']>;
      runId?: string;
      /** The run plan signed into the task, for the agent's consent check. */
      plan?: Record<string, unknown>;
      instruction?: PlainBody<'task'>['instruction'];
      /** A paired evaluation (1.3): these models travel in a bundle after `global`, named in `compareWith`. */
      compared?: NamedArray[][];
    } = {},
  ): Promise<AckReply> {
    const socket = this.socket;
    if (!socket) throw new Error('no site connected');
    const own = encodeWeights(global, 'float32');
    const others = (options.compared ?? []).map((m) => encodeWeights(m, 'float32'));
    const payload = others.length ? encodeModelBundle([own, ...others]) : own;
    const body = this.taskBody(stage, own, options);
    // A test may name other digests (`config.compareWith`) to check the site refuses the bundle.
    if (others.length)
      body.config.compareWith ??= others.map((m) => createHash('sha512').update(m).digest('hex'));
    const envelope = signEnvelope({
      type: 'task',
      body,
      signer: COORDINATOR_ID,
      secretKey: options.signWith ?? this.keys.secretKey,
      payload,
    });
    return sendTransfer(socketIoTransport(socket), envelope, payload, { stallTimeoutMs: 5_000 });
  }

  messagesOf<T extends MessageType>(type: T): VerifiedMessage<T>[] {
    return this.received
      .filter((r) => r.message.envelope.type === type)
      .map((r) => r.message as VerifiedMessage<T>);
  }

  private taskBody(
    stage: Stage,
    payload: Uint8Array,
    options: {
      taskId?: string;
      config?: Partial<PlainBody<'task'>['config']>;
      runId?: string;
      plan?: Record<string, unknown>;
      instruction?: PlainBody<'task'>['instruction'];
    },
  ): PlainBody<'task'> {
    const now = Date.now();
    return {
      sender: COORDINATOR_ID,
      nonce: newNonce(),
      timestamp: now,
      runId: options.runId ?? 'run-1',
      round: 0,
      taskId: options.taskId ?? `r0-${stage}-${this.siteId}`,
      stage,
      globalWeightsDigest: createHash('sha512').update(payload).digest('hex'),
      config: {
        localEpochs: 1,
        learningRate: 0.001,
        batchSize: 2,
        seed: 7,
        updateEncoding: 'float32',
        updateKind: 'delta',
        maxUpdateBytes: 1024 * 1024,
        ...options.config,
      },
      deadline: now + 600_000,
      ...(options.plan ? { plan: options.plan } : {}),
      ...(options.instruction ? { instruction: options.instruction } : {}),
    };
  }

  private onConnection(socket: ServerSocket): void {
    const { siteId, handshake } = socket.data as { siteId: string; handshake: HandshakeAuth };
    this.handshakes.push(handshake);
    this.socket = socket;
    socket.onAny((event: string, message: unknown) => this.frames.push({ event, message }));
    const verifier = new EnvelopeVerifier({
      keyring: this.keyring,
      maxPayloadBytes: 1024 * 1024,
      acceptedTypes: ['task-ack', 'update', 'eval-result', 'status', 'error'],
    });
    const record = (message: VerifiedMessage, payload?: Buffer): AckReply => {
      this.received.push({ message, ...(payload ? { payload } : {}) });
      return { ok: true };
    };
    attachTransferReceiver(
      socket,
      new TransferReceiver({
        ...verifierTransferHooks(verifier, record),
        maxPayloadBytes: 1024 * 1024,
      }),
    );
    for (const type of ['task-ack', 'eval-result', 'status', 'error'] as const) {
      onEnvelope(socket, type, verifier, (m) => record(m), { signer: siteId });
    }
    socket.emit('welcome', signWelcome(handshake, this.keys.secretKey));
  }
}

/** Tiny "model": a few tensors of each part, including a normalisation tensor FedBN keeps local. */
export function tinyGlobal(offset = 0): NamedArray[] {
  const arr = (name: string, shape: number[]): NamedArray => {
    const size = shape.reduce((a, b) => a * b, 1);
    return { name, shape, values: Float32Array.from({ length: size }, (_, i) => offset + i / 10) };
  };
  return [
    arr('encoder/stem/kernel', [2, 3]),
    arr('encoder/s1b0/ln/gamma', [3]),
    arr('decoder/out/kernel', [3, 2]),
    arr('head/fc/kernel', [3, 1]),
  ];
}

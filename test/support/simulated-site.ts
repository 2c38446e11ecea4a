import { io, ManagerOptions, Socket, SocketOptions } from 'socket.io-client';
import {
  agentQuery,
  PROTOCOL_MINOR_VERSION,
  attachTransferReceiver,
  Envelope,
  EnvelopeVerifier,
  LoadedSiteKit,
  newNonce,
  signEnvelope,
  signHandshake,
  SITES_NAMESPACE,
  TaskBody,
  TransferReceiver,
  verifierTransferHooks,
} from '../../libs/protocol/src';

/**
 * The protocol plumbing of a site agent without tfjs, shared by the coordinator e2e tests that
 * script sites by hand: connect with a signed handshake, sign envelopes, receive verified tasks.
 * What a site answers is each test's own business.
 */

/**
 * Connects to the coordinator's `/sites` namespace and resolves once it sent its welcome.
 * `network`: the agent's connection options (site-agent/src/connection-options.ts), if any.
 */
export function connectSite(
  url: string,
  kit: LoadedSiteKit,
  siteId: string,
  network: Partial<ManagerOptions & SocketOptions> = {},
): Promise<Socket> {
  const socket = io(url + SITES_NAMESPACE, {
    auth: { ...signHandshake(siteId, kit.keys.secretKey, kit.coordinatorPublicKey) },
    // These simulated sites read protocol 1.1 tasks (instruction, token centring): say so.
    query: agentQuery(PROTOCOL_MINOR_VERSION, {}),
    transports: ['websocket'],
    ...network,
    reconnection: false,
    forceNew: true,
  });
  return new Promise((resolve, reject) => {
    socket.once('welcome', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

export type SiteSigner = (type: string, body: Record<string, unknown>, payload?: Uint8Array) => Envelope;

/** Signs envelopes as `siteId`, adding sender, a fresh nonce and the timestamp to each body. */
export function siteSigner(kit: LoadedSiteKit, siteId: string): SiteSigner {
  return (type, body, payload) =>
    signEnvelope({
      type,
      body: { sender: siteId, nonce: newNonce(), timestamp: Date.now(), ...body },
      signer: siteId,
      secretKey: kit.keys.secretKey,
      payload,
    } as Parameters<typeof signEnvelope>[0]) as Envelope;
}

/**
 * Accepts the coordinator's task transfers on `socket`, verified against the kit's keyring, and
 * hands each task with its global weights to `answer` once the transfer has been acknowledged.
 */
export function onTasks(
  socket: Socket,
  kit: LoadedSiteKit,
  answer: (task: TaskBody, globalBytes: Buffer) => Promise<void>,
): void {
  const verifier = new EnvelopeVerifier({
    keyring: kit.keyring,
    maxPayloadBytes: 1 << 20,
    acceptedTypes: ['task'],
  });
  const receiver = new TransferReceiver({
    ...verifierTransferHooks(verifier, (message, payload) => {
      setImmediate(() => void answer(message.body as TaskBody, payload));
      return { ok: true };
    }),
    maxPayloadBytes: 1 << 20,
  });
  attachTransferReceiver(socket, receiver);
}

import { Inject } from '@nestjs/common';
import {
  OnGatewayConnection,
  OnGatewayDisconnect,
  OnGatewayInit,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { Log } from '../../../../libs/common/src';
import {
  ackError,
  AckReply,
  EnvelopeVerifier,
  fail,
  HandshakeAuth,
  HandshakeRefused,
  ID_PATTERN,
  NonceCache,
  onAck,
  ProtocolErrorInfo,
  ProtocolResult,
  signWelcome,
  SITES_NAMESPACE,
  StatusBody,
  verifyHandshake,
  minorVersionOf,
  agentFactsOf,
} from '../../../../libs/protocol/src';
import { AuditService } from '../audit/audit.service';
import { RefusalLimiter } from '../http/refusal-limiter';
import { RoundsService } from '../rounds/rounds.service';
import { COORDINATOR_LOG } from '../logging/nest-log-adapter';
import { ConnectedSites } from '../sites/connected-sites';
import { SiteMessageBudget } from './message-budget';
import { SitesService } from '../sites/sites.service';

/** Accepted |now − timestamp| for handshakes and messages (docs/PROTOCOL.md §5). */
const CLOCK_SKEW_MS = 5 * 60_000;

interface SiteSocketData {
  siteId?: string;
  handshake?: HandshakeAuth;
}

/**
 * The socket.io namespace `/sites` that site agents connect to. The door is the signed handshake
 * (libs/protocol) checked against the live keyring, so a revoked site is refused from the next
 * connection and its current one is closed; the coordinator then proves itself with a signed
 * `welcome`. Every refusal — handshake or message — is written to the audit log.
 */
@WebSocketGateway({ namespace: SITES_NAMESPACE })
export class SitesGateway
  implements OnGatewayInit<Namespace>, OnGatewayConnection<Socket>, OnGatewayDisconnect<Socket>
{
  /** Shared by every connection: a nonce used on one socket cannot be replayed on another. */
  private readonly handshakeNonces = new NonceCache(CLOCK_SKEW_MS);
  private readonly verifier: EnvelopeVerifier;
  /** Per-site message budgets: no site can crowd out another (RATE_LIMITED). */
  private readonly budget = new SiteMessageBudget();
  /**
   * Refused handshakes per source address (30 a minute, then RATE_LIMITED unchecked for the rest of
   * the window). Its own count, not the HTTP gate's: an admin's refused logins must not cut off a
   * site that shares the address, nor a site's refusals the admin.
   */
  private readonly handshakeRefusals = new RefusalLimiter();

  constructor(
    private readonly sites: SitesService,
    private readonly connected: ConnectedSites,
    private readonly audit: AuditService,
    private readonly rounds: RoundsService,
    @Inject(COORDINATOR_LOG) private readonly log: Log,
  ) {
    this.verifier = new EnvelopeVerifier({
      keyring: sites.keyring,
      maxPayloadBytes: 0,
      clockSkewMs: CLOCK_SKEW_MS,
      acceptedTypes: ['status', 'error'],
    });
  }

  afterInit(namespace: Namespace): void {
    namespace.use((socket, next) => {
      // A refused handshake is held to its address, never to the site it claims: the claim is the
      // caller's free choice, so keying the audit and log throttles by it bounded nothing (3,000
      // handshakes claiming 3,000 ids wrote 3,000 rows). An address refused too often is answered
      // RATE_LIMITED before any signature is checked (an Ed25519 verify is the costly step).
      const address = socket.handshake.address;
      const actor = `site:${claimedSite(socket.handshake.auth)}@${address}`;
      const wait = this.handshakeRefusals.blockedFor(address);
      const result: ProtocolResult<HandshakeAuth> =
        wait > 0
          ? fail('RATE_LIMITED', `too many refused handshakes from ${address}; try again in ${wait} s`)
          : verifyHandshake(socket.handshake.auth, {
              keyring: this.sites.keyring,
              coordinatorPublicKey: this.sites.coordinatorKeys.publicKey,
              nonceCache: this.handshakeNonces,
              clockSkewMs: CLOCK_SKEW_MS,
            });
      if (!result.ok) {
        if (wait === 0) this.handshakeRefusals.refused(address);
        void this.refused(actor, 'handshake', result.error, `address:${address}`);
        next(new HandshakeRefused(result.error));
        return;
      }
      const data = socket.data as SiteSocketData;
      data.siteId = result.value.siteId;
      data.handshake = result.value;
      next();
    });
  }

  handleConnection(socket: Socket): void {
    const { siteId, handshake } = socket.data as SiteSocketData;
    if (!siteId || !handshake) {
      socket.disconnect(true); // cannot happen past the middleware; never serve an unauthenticated socket
      return;
    }
    // Every incoming packet is charged to the site's budget first; over it, the packet is
    // answered RATE_LIMITED (when it expects an answer) and goes no further.
    socket.use((packet, next) => {
      const event = String(packet[0]);
      if (this.budget.admit(siteId, event)) return next();
      const error: ProtocolErrorInfo = {
        code: 'RATE_LIMITED',
        reason: `${siteId} sent more messages than its budget allows; slow down`,
      };
      const ack = packet[packet.length - 1];
      if (typeof ack === 'function') (ack as (reply: AckReply) => void)(ackError(error));
      void this.refused(`site:${siteId}`, event, error);
    });
    onAck(socket, 'status', (raw) => this.onStatus(socket, siteId, raw), this.log);
    onAck(socket, 'error', (raw) => this.onSiteError(siteId, raw), this.log);
    // task-ack, eval-result and update transfers belong to the round intake (rounds/).
    this.rounds.attach(siteId, socket);
    // Registered last: the rounds hear the site is linked and may send it a task (after the welcome).
    this.connected.add({
      siteId,
      connectionId: socket.id,
      address: socket.handshake.address,
      connectedAt: new Date().toISOString(),
      socket,
      protocolMinor: minorVersionOf(socket.handshake.query),
      agent: agentFactsOf(socket.handshake.query),
      close: (reason) => {
        this.log.info({ site: siteId, reason }, 'closing site connection');
        socket.disconnect(true);
      },
    });
    socket.emit('welcome', signWelcome(handshake, this.sites.coordinatorKeys.secretKey));
    this.log.info({ site: siteId, address: socket.handshake.address }, 'site connected');
  }

  handleDisconnect(socket: Socket): void {
    const { siteId } = socket.data as SiteSocketData;
    if (!siteId) return;
    // The registry tells the rounds the site left, unless a newer connection replaced this one.
    this.connected.remove(siteId, socket.id);
    this.log.info({ site: siteId }, 'site disconnected');
  }

  private async onStatus(socket: Socket, siteId: string, raw: unknown): Promise<AckReply> {
    const verified = this.verifyFrom(siteId, 'status', raw);
    if (!verified.ok) return this.reject(siteId, 'status', verified.error);
    const body = verified.body as StatusBody;
    this.connected.setStatus(siteId, socket.id, {
      state: body.state,
      runId: body.runId,
      round: body.round,
      progress: body.progress,
      message: body.message,
      at: new Date(body.timestamp).toISOString(),
    });
    // After a reconnect, this status says whether the site still holds its round task.
    this.rounds.siteStatus(siteId, body);
    return { ok: true };
  }

  private async onSiteError(siteId: string, raw: unknown): Promise<AckReply> {
    const verified = this.verifyFrom(siteId, 'error', raw);
    if (!verified.ok) return this.reject(siteId, 'error', verified.error);
    this.log.warn({ site: siteId, error: verified.body }, 'site reported an error');
    return { ok: true };
  }

  /** Verified, of the event's type, and signed by the site of this connection — or why not. */
  private verifyFrom(
    siteId: string,
    type: 'status' | 'error',
    raw: unknown,
  ): { ok: true; body: unknown } | { ok: false; error: ProtocolErrorInfo } {
    const result = this.verifier.verify(raw);
    if (!result.ok) return result;
    const { envelope, body } = result.value;
    if (envelope.type !== type) {
      return {
        ok: false,
        error: { code: 'UNEXPECTED_MESSAGE', reason: `a ${envelope.type} envelope on the ${type} event` },
      };
    }
    if (envelope.signer !== siteId) {
      return {
        ok: false,
        error: { code: 'SENDER_MISMATCH', reason: `signed by ${envelope.signer}, not by ${siteId}` },
      };
    }
    return { ok: true, body };
  }

  private async reject(siteId: string, event: string, error: ProtocolErrorInfo): Promise<AckReply> {
    await this.refused(`site:${siteId}`, event, error);
    return ackError(error);
  }

  /** `source`: whom the log and audit throttles hold to the refusal (default: the actor). */
  private async refused(
    actor: string,
    event: string,
    error: ProtocolErrorInfo,
    source = actor,
  ): Promise<void> {
    this.log.warn(
      { actor, ...(source !== actor ? { source } : {}), event, code: error.code, reason: error.reason },
      'site message refused',
    );
    try {
      await this.audit.recordRefusal(
        {
          actor,
          action: event === 'handshake' ? 'handshake.refused' : 'message.rejected',
          target: event,
          outcome: 'rejected',
          detail: { code: error.code, reason: error.reason },
        },
        source,
      );
    } catch (err) {
      this.log.error({ err: String(err) }, 'could not write the audit log');
    }
  }
}

/** The site id a refused handshake claimed, only if it is a well-formed id (it is untrusted text). */
function claimedSite(auth: unknown): string {
  const id = (auth as { siteId?: unknown } | null)?.siteId;
  return typeof id === 'string' && ID_PATTERN.test(id) ? id : 'unknown';
}

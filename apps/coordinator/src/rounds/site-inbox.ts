import { Log } from '../../../../libs/common/src';
import { decodeWeights } from '../../../../libs/weights/src';
import {
  AckReply,
  AnySocket,
  attachTransferReceiver,
  EnvelopeVerifier,
  EvalResultBody,
  Keyring,
  NonceCache,
  ok,
  onAck,
  ProtocolErrorInfo,
  ProtocolResult,
  TaskAckBody,
  TransferReceiver,
  UpdateBody,
  VerifiedMessage,
} from '../../../../libs/protocol/src';
import { AuditService } from '../audit/audit.service';
import { BlobStore } from '../models/blob-store';
import { CoordinatorStore } from '../persistence/repositories';
import { ActiveRound } from './active-round';

/** Accepted |now − timestamp| (docs/PROTOCOL.md §3.1 step 7). */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** Hard bound on any one incoming payload, whatever the plan says: nothing larger is allocated. */
export const MAX_INCOMING_PAYLOAD = 1024 ** 3;

/** One site's link: the socket it is connected on and the receiver of its uploads. */
export interface SiteLink {
  siteId: string;
  connectionId: string;
  socket: AnySocket;
}

/**
 * The coordinator's way in for round messages (`task-ack`, `update` transfers, `eval-result`):
 * verifies each envelope against the site's open task, hands valid answers to the ActiveRound and
 * audits every refusal with its code. Knows nothing about how rounds are scheduled.
 */
export class SiteInbox {
  private readonly verifier: EnvelopeVerifier;
  private readonly links = new Map<string, SiteLink>();
  /** siteId → the attempt whose task the site currently holds. */
  private readonly openRounds = new Map<string, ActiveRound>();

  constructor(
    keyring: Keyring,
    private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
    private readonly audit: AuditService,
    private readonly log: Log,
    private readonly onDisconnect: (siteId: string) => void,
  ) {
    this.verifier = new EnvelopeVerifier({
      keyring,
      maxPayloadBytes: MAX_INCOMING_PAYLOAD,
      clockSkewMs: CLOCK_SKEW_MS,
      nonceCache: new NonceCache(CLOCK_SKEW_MS),
      acceptedTypes: ['task-ack', 'update', 'eval-result'],
    });
  }

  link(siteId: string): SiteLink | undefined {
    return this.links.get(siteId);
  }

  linkedSites(): string[] {
    return [...this.links.keys()];
  }

  open(siteId: string, round: ActiveRound): void {
    this.openRounds.set(siteId, round);
  }

  /** Closes the site's task if it still belongs to `round` (a later attempt may have replaced it). */
  close(siteId: string, round: ActiveRound): void {
    if (this.openRounds.get(siteId) === round) this.openRounds.delete(siteId);
  }

  attach(siteId: string, socket: AnySocket, connectionId: string): void {
    this.links.set(siteId, { siteId, connectionId, socket });
    const receiver = new TransferReceiver({
      maxPayloadBytes: MAX_INCOMING_PAYLOAD,
      log: this.log,
      admit: (envelope) => this.admitUpload(siteId, envelope),
      deliver: (envelope, payload, digest) => this.deliverUpload(siteId, envelope, payload, digest),
      onDigestMismatch: (_envelope, error) => void this.refuse(siteId, 'update', error),
    });
    attachTransferReceiver(socket, receiver, this.log);
    onAck(socket, 'task-ack', (raw) => this.onTaskAck(siteId, raw), this.log);
    onAck(socket, 'eval-result', (raw) => this.onEvalResult(siteId, raw), this.log);
  }

  detach(siteId: string, connectionId: string): void {
    if (this.links.get(siteId)?.connectionId !== connectionId) return; // already replaced by a newer connection
    this.links.delete(siteId);
    this.onDisconnect(siteId);
  }

  /** Verifies an envelope of `type`, signed by this connection's site, in the scope of its open task. */
  private verify(
    siteId: string,
    raw: unknown,
    type: 'task-ack' | 'update' | 'eval-result',
    payload?: { bytes: Buffer; digest: string },
  ): { ok: true; message: VerifiedMessage; round: ActiveRound } | { ok: false; error: ProtocolErrorInfo } {
    const round = this.openRounds.get(siteId);
    const taskId = round?.tasks.get(siteId);
    const result = this.verifier.verify(raw, {
      expected: round
        ? { runId: round.runId, round: round.step.round, stage: round.step.stage, taskId }
        : undefined,
      ...(payload
        ? { payload: payload.bytes, payloadDigest: payload.digest }
        : { consumeNonce: type !== 'update' }),
    });
    if (!result.ok) return result;
    const { envelope } = result.value;
    if (envelope.type !== type) {
      return {
        ok: false,
        error: { code: 'UNEXPECTED_MESSAGE', reason: `a ${envelope.type} envelope where a ${type} belongs` },
      };
    }
    if (envelope.signer !== siteId) {
      return {
        ok: false,
        error: { code: 'SENDER_MISMATCH', reason: `signed by ${envelope.signer}, not by ${siteId}` },
      };
    }
    if (!round) {
      return {
        ok: false,
        error: { code: 'WRONG_TASK', reason: `no task is open for ${siteId} (late or unsolicited ${type})` },
      };
    }
    return { ok: true, message: result.value, round };
  }

  private admitUpload(
    siteId: string,
    envelope: Record<string, unknown>,
  ): ProtocolResult<{ payloadBytes: number; digest: string }> {
    const verified = this.verify(siteId, envelope, 'update');
    if (!verified.ok) {
      void this.refuse(siteId, 'update', verified.error);
      return verified;
    }
    const { payloadBytes, digest } = verified.message.envelope;
    if (payloadBytes > verified.round.config.maxUpdateBytes) {
      const error: ProtocolErrorInfo = {
        code: 'PAYLOAD_TOO_LARGE',
        reason: `${payloadBytes} bytes is over this task's limit of ${verified.round.config.maxUpdateBytes}`,
      };
      void this.refuse(siteId, 'update', error);
      return { ok: false, error };
    }
    return ok({ payloadBytes, digest: digest ?? '' });
  }

  private async deliverUpload(
    siteId: string,
    envelope: Record<string, unknown>,
    payload: Buffer,
    digest: string,
  ): Promise<AckReply> {
    const verified = this.verify(siteId, envelope, 'update', { bytes: payload, digest });
    if (!verified.ok) return this.refuse(siteId, 'update', verified.error);
    const { round, message } = verified;
    const body = message.body as UpdateBody;
    const taskId = round.tasks.get(siteId)!;
    if (!round.gate || !round.machine.isOpen()) {
      return this.refuse(siteId, 'update', {
        code: 'WRONG_ROUND',
        reason: `round ${round.step.round} is no longer collecting`,
      });
    }
    if (body.baseDigest !== round.globalDigest) {
      return this.refuse(siteId, 'update', {
        code: 'WRONG_ROUND',
        reason: 'trained from another global model (baseDigest)',
      });
    }
    let arrays;
    try {
      arrays = decodeWeights(payload);
    } catch (err) {
      return this.rejectUpdate(
        round,
        siteId,
        taskId,
        body,
        digest,
        payload.length,
        message.envelope.signature,
        'UNDECODABLE',
        String(err),
      );
    }
    const admission = round.gate.admit({
      siteId,
      kind: body.kind,
      numSamples: body.nSamples,
      arrays,
      metrics: body.metrics,
    });
    if (!admission.admitted) {
      const { code, reason } = admission.rejection;
      return this.rejectUpdate(
        round,
        siteId,
        taskId,
        body,
        digest,
        payload.length,
        message.envelope.signature,
        code,
        reason,
      );
    }
    if (!round.machine.isWaitingFor(siteId)) {
      return this.refuse(siteId, 'update', {
        code: 'WRONG_TASK',
        reason: `${siteId} is no longer part of this round`,
      });
    }
    await this.blobs.put(payload);
    const updateId = await this.store.updates.insert({
      taskId,
      runId: round.runId,
      stage: round.step.stage,
      round: round.step.round,
      siteId,
      digest,
      signature: message.envelope.signature,
      bytes: payload.length,
      nSamples: body.nSamples,
      encoding: body.encoding,
      status: 'accepted',
      receivedAt: new Date().toISOString(),
    });
    // Counted only once stored, so a round that closes meanwhile never aggregates a half-written update.
    if (!round.machine.answered(siteId)) {
      await this.store.updates.setStatus(
        updateId,
        'rejected',
        'WRONG_ROUND: the round closed while the update was stored',
      );
      return this.refuse(siteId, 'update', {
        code: 'WRONG_ROUND',
        reason: 'the round closed while the update was stored',
      });
    }
    await this.store.tasks.setState(taskId, 'received');
    round.updates.set(siteId, { entry: admission.entry, digest, updateId });
    this.log.info(
      { run: round.runId, stage: round.step.stage, round: round.step.round, site: siteId },
      'update accepted',
    );
    round.wake();
    return { ok: true };
  }

  /**
   * An authentic update the gate refused: recorded (row + audit) and the site is out of this
   * attempt — its answer was invalid, so waiting for it to the deadline would only delay the round.
   */
  private async rejectUpdate(
    round: ActiveRound,
    siteId: string,
    taskId: string,
    body: UpdateBody,
    digest: string,
    bytes: number,
    signature: string,
    code: string,
    reason: string,
  ): Promise<AckReply> {
    await this.store.updates.insert({
      taskId,
      runId: round.runId,
      stage: round.step.stage,
      round: round.step.round,
      siteId,
      digest,
      signature,
      bytes,
      nSamples: body.nSamples,
      encoding: body.encoding,
      status: 'rejected',
      rejectReason: `${code}: ${reason}`,
      receivedAt: new Date().toISOString(),
    });
    if (round.machine.drop(siteId, `update rejected (${code})`))
      await this.store.tasks.setState(taskId, 'rejected');
    round.wake();
    // The ack carries a protocol code; the gate's own code (NON_FINITE, …) leads the reason and the audit entry.
    return this.refuse(siteId, 'update', { code: 'MALFORMED', reason: `${code}: ${reason}` }, code);
  }

  private async onTaskAck(siteId: string, raw: unknown): Promise<AckReply> {
    const verified = this.verify(siteId, raw, 'task-ack');
    if (!verified.ok) return this.refuse(siteId, 'task-ack', verified.error);
    const body = verified.message.body as TaskAckBody;
    if (!body.accepted) {
      const taskId = verified.round.tasks.get(siteId)!;
      if (verified.round.machine.drop(siteId, `declined the task: ${body.reason ?? 'no reason given'}`)) {
        await this.store.tasks.setState(taskId, 'rejected');
      }
      this.log.warn({ site: siteId, reason: body.reason }, 'site declined its task');
      verified.round.wake();
    }
    return { ok: true };
  }

  private async onEvalResult(siteId: string, raw: unknown): Promise<AckReply> {
    const verified = this.verify(siteId, raw, 'eval-result');
    if (!verified.ok) return this.refuse(siteId, 'eval-result', verified.error);
    const { round } = verified;
    const body = verified.message.body as EvalResultBody;
    if (round.step.stage !== 'evaluate' || !round.machine.isOpen()) {
      return this.refuse(siteId, 'eval-result', {
        code: 'WRONG_STAGE',
        reason: 'no evaluation is open for this site',
      });
    }
    if (body.modelDigest !== round.globalDigest) {
      return this.refuse(siteId, 'eval-result', {
        code: 'DIGEST_MISMATCH',
        reason: 'evaluated another model than the one sent',
      });
    }
    if (!round.machine.answered(siteId)) {
      return this.refuse(siteId, 'eval-result', {
        code: 'WRONG_TASK',
        reason: `${siteId} already answered or was dropped`,
      });
    }
    round.evaluations.set(siteId, body);
    await this.store.tasks.setState(round.tasks.get(siteId)!, 'received');
    round.wake();
    return { ok: true };
  }

  private async refuse(
    siteId: string,
    event: string,
    error: ProtocolErrorInfo,
    checkCode?: string,
  ): Promise<AckReply> {
    this.log.warn(
      { site: siteId, event, code: checkCode ?? error.code, reason: error.reason },
      'round message refused',
    );
    try {
      await this.audit.recordRefusal({
        actor: `site:${siteId}`,
        action: event === 'update' ? 'update.rejected' : 'message.rejected',
        target: event,
        outcome: 'rejected',
        detail: { code: checkCode ?? error.code, reason: error.reason },
      });
    } catch (err) {
      this.log.error({ err: String(err) }, 'could not write the audit log');
    }
    return { ok: false, error };
  }
}

import { Log } from '../../../../libs/common/src';
import { EngineEvent, OpenTask, Refusal, Strategy } from '../../../../libs/federated/src';
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
import { GlobalModels } from './global-models';
import { UpdateAdmission } from './update-admission';

/** Accepted |now − timestamp| (docs/PROTOCOL.md §3.1 step 7). */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** Hard bound on any one incoming payload, whatever the plan says: nothing larger is allocated. */
export const MAX_INCOMING_PAYLOAD = 1024 ** 3;

/** Where the intake finds the task a site holds, and hands the run its events. */
export interface OpenTasks {
  /** The site's open task in any running run, with that run's strategy. */
  openTask(siteId: string): { task: OpenTask; strategy: Strategy } | undefined;
  /** Feeds a run's engine; resolves once the event's commands ran (the update is stored). */
  feed(runId: string, event: EngineEvent): Promise<{ refusal?: Refusal }>;
}

/** Hooks for the coordinator's metrics; all optional, so tests and the simulator pass none. */
export interface IntakeObserver {
  refused?(code: string): void;
  received?(bytes: number): void;
}

type RoundMessageType = 'task-ack' | 'update' | 'eval-result';

/**
 * The coordinator's way in for round messages (`task-ack`, `update` transfers, `eval-result`):
 * verifies each envelope against the site's open task (signature, replay, scope), decodes an
 * update once and runs it through the round's UpdateGate once, and turns what passes into engine
 * events. The engine decides whether the run still wants it; every refusal — the protocol's or
 * the engine's — is acked with its code and audited here.
 */
export class RoundIntake {
  private readonly verifier: EnvelopeVerifier;
  private readonly admission: UpdateAdmission;

  constructor(
    keyring: Keyring,
    private readonly tasks: OpenTasks,
    models: GlobalModels,
    private readonly audit: Pick<AuditService, 'recordRefusal'>,
    private readonly log: Log,
    /** What the coordinator's metrics count of the intake (refusals by code, bytes received). */
    private readonly observer: IntakeObserver = {},
  ) {
    this.admission = new UpdateAdmission(models);
    this.verifier = new EnvelopeVerifier({
      keyring,
      maxPayloadBytes: MAX_INCOMING_PAYLOAD,
      clockSkewMs: CLOCK_SKEW_MS,
      nonceCache: new NonceCache(CLOCK_SKEW_MS),
      acceptedTypes: ['task-ack', 'update', 'eval-result'],
    });
  }

  /** Listens for round messages on an authenticated site connection. */
  attach(siteId: string, socket: AnySocket): void {
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

  /** Verifies an envelope of `type`, signed by this connection's site, in the scope of its open task. */
  private verify(
    siteId: string,
    raw: unknown,
    type: RoundMessageType,
    payload?: { bytes: Buffer; digest: string },
  ):
    | { ok: true; message: VerifiedMessage; task: OpenTask; strategy: Strategy }
    | { ok: false; error: ProtocolErrorInfo } {
    const open = this.tasks.openTask(siteId);
    const task = open?.task;
    const result = this.verifier.verify(raw, {
      expected: task
        ? { runId: task.runId, round: task.round, stage: task.stage, taskId: task.taskId }
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
    if (!open) {
      return {
        ok: false,
        error: { code: 'WRONG_TASK', reason: `no task is open for ${siteId} (late or unsolicited ${type})` },
      };
    }
    return { ok: true, message: result.value, task: open.task, strategy: open.strategy };
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
    const limit = verified.task.maxUpdateBytes;
    if (payloadBytes > limit) {
      const error: ProtocolErrorInfo = {
        code: 'PAYLOAD_TOO_LARGE',
        reason: `${payloadBytes} bytes is over this task's limit of ${limit}`,
      };
      void this.refuse(siteId, 'update', error);
      return { ok: false, error };
    }
    return ok({ payloadBytes, digest: digest ?? '' });
  }

  /**
   * A whole update arrived and its bytes hash to the envelope's digest (the transfer receiver
   * checked): verify its envelope, decode it once, gate it once, and hand the engine the result.
   */
  private async deliverUpload(
    siteId: string,
    envelope: Record<string, unknown>,
    payload: Buffer,
    digest: string,
  ): Promise<AckReply> {
    this.observer.received?.(payload.length);
    const verified = this.verify(siteId, envelope, 'update', { bytes: payload, digest });
    if (!verified.ok) return this.refuse(siteId, 'update', verified.error);
    const { task, message, strategy } = verified;
    const body = message.body as UpdateBody;
    if (!task.collecting || task.stage === 'evaluate') {
      return this.refuse(siteId, 'update', {
        code: 'WRONG_ROUND',
        reason: `round ${task.round} is no longer collecting`,
      });
    }
    if (body.baseDigest !== task.modelDigest) {
      return this.refuse(siteId, 'update', {
        code: 'WRONG_ROUND',
        reason: 'trained from another global model (baseDigest)',
      });
    }
    const event = await this.admission.admit(siteId, task, strategy, body, {
      digest,
      signature: message.envelope.signature,
      bytes: payload.length,
      nSamples: body.nSamples,
      encoding: body.encoding,
      payload,
    });
    const { refusal } = await this.tasks.feed(task.runId, event);
    return refusal ? this.refuse(siteId, 'update', refusal, refusal.checkCode) : { ok: true };
  }

  private async onTaskAck(siteId: string, raw: unknown): Promise<AckReply> {
    const verified = this.verify(siteId, raw, 'task-ack');
    if (!verified.ok) return this.refuse(siteId, 'task-ack', verified.error);
    const body = verified.message.body as TaskAckBody;
    const { refusal } = await this.tasks.feed(verified.task.runId, {
      type: 'task-acked',
      siteId,
      taskId: verified.task.taskId,
      accepted: body.accepted,
      reason: body.reason,
      ...(body.refusalCode ? { refusalCode: body.refusalCode } : {}),
    });
    return refusal ? this.refuse(siteId, 'task-ack', refusal) : { ok: true };
  }

  private async onEvalResult(siteId: string, raw: unknown): Promise<AckReply> {
    const verified = this.verify(siteId, raw, 'eval-result');
    if (!verified.ok) return this.refuse(siteId, 'eval-result', verified.error);
    const { refusal } = await this.tasks.feed(verified.task.runId, {
      type: 'evaluation-received',
      siteId,
      taskId: verified.task.taskId,
      result: verified.message.body as EvalResultBody,
    });
    return refusal ? this.refuse(siteId, 'eval-result', refusal) : { ok: true };
  }

  private async refuse(
    siteId: string,
    event: string,
    error: ProtocolErrorInfo,
    checkCode?: string,
  ): Promise<AckReply> {
    this.observer.refused?.(checkCode ?? error.code);
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
    return { ok: false, error: { code: error.code, reason: error.reason } };
  }
}

import { Log } from '../../../../libs/common/src';
import {
  EngineEvent,
  keysFromWire,
  maskedFromWire,
  OpenTask,
  Refusal,
  SecAggError,
  SecAggSessions,
  SecAggSiteMessage,
  SecAggStepName,
  sharesFromWire,
  Strategy,
  unmaskFromWire,
} from '../../../../libs/federated/src';
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
  SecAggBody,
  SecAggKeysBody,
  SecAggMaskedBody,
  SecAggSharesBody,
  SecAggUnmaskBody,
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

type RoundMessageType =
  'task-ack' | 'update' | 'eval-result' | 'secagg-keys' | 'secagg-shares' | 'secagg-masked' | 'secagg-unmask';

/** Messages that arrive as transfers (a payload): their nonce is consumed when the payload is. */
const UPLOAD_TYPES: ReadonlySet<RoundMessageType> = new Set(['update', 'secagg-masked']);

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
    /** Secure aggregation: the sessions the sites' secagg messages are admitted into. */
    private readonly secure: SecAggSessions = new SecAggSessions(),
  ) {
    this.admission = new UpdateAdmission(models);
    this.verifier = new EnvelopeVerifier({
      keyring,
      maxPayloadBytes: MAX_INCOMING_PAYLOAD,
      clockSkewMs: CLOCK_SKEW_MS,
      nonceCache: new NonceCache(CLOCK_SKEW_MS),
      acceptedTypes: [
        'task-ack',
        'update',
        'eval-result',
        'secagg-keys',
        'secagg-shares',
        'secagg-masked',
        'secagg-unmask',
      ],
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
    onAck(socket, 'secagg-keys', (raw) => this.onSecure(siteId, raw, 'keys'), this.log);
    onAck(socket, 'secagg-shares', (raw) => this.onSecure(siteId, raw, 'shares'), this.log);
    onAck(socket, 'secagg-unmask', (raw) => this.onSecure(siteId, raw, 'unmask'), this.log);
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
        : { consumeNonce: !UPLOAD_TYPES.has(type) }),
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
    const verified = this.verify(siteId, envelope, uploadTypeOf(envelope));
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
    if (uploadTypeOf(envelope) === 'secagg-masked')
      return this.onSecure(siteId, envelope, 'masked', { bytes: payload, digest });
    const verified = this.verify(siteId, envelope, 'update', { bytes: payload, digest });
    if (!verified.ok) return this.refuse(siteId, 'update', verified.error);
    const { task, message, strategy } = verified;
    const body = message.body as UpdateBody;
    if (task.secure) {
      // Checked before anything is decoded or stored: a clear update never enters a secure round.
      return this.refuse(siteId, 'update', {
        code: 'UNEXPECTED_MESSAGE',
        reason: 'this round runs secure aggregation: a clear update is never taken',
      });
    }
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

  /**
   * A site's SecAgg message: verified in its task's scope, admitted into the session's server only
   * if the engine says this site may send this step now, then handed to the engine. The check,
   * the admission and the feed run without an await between them, so the engine cannot move on
   * in between; a message the server refuses drops the site from the step.
   */
  private async onSecure(
    siteId: string,
    raw: unknown,
    step: SecAggStepName,
    payload?: { bytes: Buffer; digest: string },
  ): Promise<AckReply> {
    const type = `secagg-${step}` as RoundMessageType;
    const verified = this.verify(siteId, raw, type, payload);
    if (!verified.ok) return this.refuse(siteId, type, verified.error);
    const { task } = verified;
    const body = verified.message.body as SecAggBody;
    const secure = task.secure;
    if (!secure)
      return this.refuse(siteId, type, {
        code: 'UNEXPECTED_MESSAGE',
        reason: 'this round does not run secure aggregation',
      });
    if (body.sessionId !== secure.sessionId || !secure.accepting || secure.step !== step) {
      return this.refuse(siteId, type, {
        code: 'WRONG_ROUND',
        reason: `the round does not take ${step} from ${siteId} now (session ${secure.sessionId}, step ${secure.step})`,
      });
    }
    const scope = { siteId, taskId: task.taskId, step };
    try {
      this.secure.receive(
        secure.sessionId,
        secureMessageOf(siteId, step, verified.message.body, payload?.bytes),
      );
    } catch (err) {
      const code = err instanceof SecAggError ? err.code : 'SECAGG_MALFORMED';
      const reason = err instanceof Error ? err.message : String(err);
      const { refusal } = await this.tasks.feed(task.runId, {
        type: 'secagg-refused',
        ...scope,
        code,
        reason,
      });
      return this.refuse(siteId, type, refusal ?? { code: 'MALFORMED', reason }, code);
    }
    const metrics = step === 'keys' ? (body as SecAggKeysBody).metrics : undefined;
    const { refusal } = await this.tasks.feed(task.runId, {
      type: 'secagg-received',
      ...scope,
      ...(metrics ? { metrics } : {}),
    });
    return refusal ? this.refuse(siteId, type, refusal) : { ok: true };
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

function uploadTypeOf(envelope: Record<string, unknown>): 'update' | 'secagg-masked' {
  return envelope.type === 'secagg-masked' ? 'secagg-masked' : 'update';
}

/** A verified secagg body (and the masked payload) in the form the session's server takes. */
function secureMessageOf(
  siteId: string,
  step: SecAggStepName,
  body: unknown,
  payload?: Buffer,
): SecAggSiteMessage {
  switch (step) {
    case 'keys':
      return { step, advert: keysFromWire(siteId, body as SecAggKeysBody) };
    case 'shares':
      return { step, shares: sharesFromWire(siteId, (body as SecAggSharesBody).shares) };
    case 'masked': {
      const masked = body as SecAggMaskedBody;
      return {
        step,
        masked: maskedFromWire(siteId, payload ?? Buffer.alloc(0), masked.ringBits, masked.vectorLength),
      };
    }
    case 'unmask':
      return { step, unmask: unmaskFromWire(siteId, body as SecAggUnmaskBody) };
  }
}

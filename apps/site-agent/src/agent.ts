import { join } from 'node:path';
import { io, Socket } from 'socket.io-client';
import { connectionOptions, NetworkOptions } from './connection-options';
import { Log, silentLog } from '../../../libs/common/src';
import { NamedArray } from '../../../libs/weights/src';
import {
  AckReply,
  ackError,
  checkWelcome,
  EnvelopeVerifier,
  fail,
  HandshakeAuth,
  ID_PATTERN,
  LoadedSiteKit,
  newNonce,
  NonceCache,
  onAck,
  ProtocolErrorCode,
  ProtocolErrorInfo,
  SendTransferOptions,
  SiteState,
  signEnvelope,
  signHandshake,
  socketIoTransport,
  TaskBody,
  TRANSFER_EVENTS,
  TransferReceiver,
  verifierTransferHooks,
  VerifiedMessage,
  agentQuery,
  AgentFacts,
  PROTOCOL_MINOR_VERSION,
} from '../../../libs/protocol/src';
import { backoffDelay, BackoffOptions, resolveBackoff } from './backoff';
import { CoordinatorRotation } from './coordinator-urls';
import { ExecutorSet, TrainResult } from './executor';
import { LocalParamStore } from './local-params';
import {
  executeTask,
  outgoingUpdate,
  ReleasedEvaluation,
  releasedEvaluation,
  secureOutgoing,
  TaskModels,
  taskModels,
} from './site-work';
import { runSecureExchange, SECURE_INCOMING_TYPES, SecureIncoming } from './secure-exchange';
import { FollowedInstruction, followInstruction } from './task-instruction';
import { phaseMismatch, SitePhases } from './task-phases';
import { MessageLog } from './message-log';
import { OutgoingChannel, PrivacyGuardError } from './privacy-guard';
import type { ConsentGate } from './consent/gate';
import type { ConsentRefusalCode } from '../../../libs/protocol/src/consent';

/** Handshake refusals that no retry can cure: the kit or the enrolment is wrong. */
const FATAL_REFUSALS = new Set(['UNKNOWN_SIGNER', 'REVOKED_SIGNER', 'BAD_SIGNATURE', 'UNSUPPORTED_VERSION']);

export interface SiteAgentOptions {
  kit: LoadedSiteKit;
  /** What the agent reports about itself when it connects (version, backend, opt-in cohort counts). */
  facts?: AgentFacts;
  /**
   * The coordinators to connect to, tried in turn when one fails (an active one and its standby:
   * deploy/README.md, "Failover"); default the kit's URL alone.
   */
  coordinatorUrls?: readonly string[];
  /** Proxy (HTTPS_PROXY/NO_PROXY), private CA and transports (connection-options.ts); absent: WebSocket, direct. */
  network?: NetworkOptions;
  executors: ExecutorSet;
  /** Where the message log and kept-local parameters live. */
  stateDir: string;
  log?: Log;
  /**
   * FedBN (`--fedbn`): tensors whose name matches never leave the site; they are restored from the
   * state dir before each task and saved after training. A task's signed instruction (protocol
   * 1.1) says the same, and wins: this is then a consistency check, and a task whose instruction
   * contradicts it is declined with the reason. Default none.
   */
  keepLocal?: RegExp | null;
  /** Largest global-weights payload accepted in a task; default 1 GiB. */
  maxTaskBytes?: number;
  /** The DCE phases the site's model and cohort take; a task whose plan names others is declined. */
  phases?: SitePhases;
  /** Accept tasks of this run only (any run when absent). */
  runId?: string;
  reconnect?: BackoffOptions;
  /** How long to wait for each acknowledgement; default 15 s. */
  ackTimeoutMs?: number;
  transfer?: SendTransferOptions;
  /** Stop after the first task has been answered. */
  once?: boolean;
  /** Minimum interval between progress `status` messages; default 2 s. */
  statusIntervalMs?: number;
  onEvent?: (event: AgentEvent) => void;
  /**
   * The site's consent to run plans (consent/gate.ts): every task's signed plan is checked before
   * anything is trained or evaluated, and a task of a plan the site did not approve (or that
   * breaks its limits) is declined with a refusal code. The CLI always sets one; absent (library
   * use, tests of other behaviour): every verified task is carried out.
   */
  consent?: ConsentGate;
}

/** What the agent tells its host (the CLI prints these as progress). */
export type AgentEvent =
  | { type: 'connected'; url: string }
  | { type: 'welcomed' }
  | { type: 'disconnected'; reason: string }
  | { type: 'connect-refused'; code: string; reason: string; retryInMs?: number }
  | { type: 'task'; runId: string; round: number; taskId: string; stage: string }
  | { type: 'task-refused'; code: ProtocolErrorCode; reason: string; taskId?: string }
  | { type: 'progress'; taskId: string; fraction: number; message?: string }
  | { type: 'result-sent'; taskId: string; kind: 'update' | 'eval-result'; ok: boolean }
  | { type: 'task-failed'; taskId: string; reason: string }
  /**
   * A secure round: what this site put into the sum (its filtered update, weight and clipping),
   * for the host's own log. It never leaves the process; only its masked form is sent.
   */
  | {
      type: 'secure-input';
      taskId: string;
      update: NamedArray[];
      nSamples: number;
      weight: number;
      clipped: number;
    }
  | { type: 'plan-refused'; runId: string; taskId: string; code: ConsentRefusalCode; reason: string };

/**
 * A hospital's connection to the coordinator (NVFlare's client runner): authenticates, receives
 * signed tasks with global weights, runs the stage's executor, and sends back a signed update or
 * evaluation aggregates through the privacy guard. Survives disconnects: socket.io reconnects with
 * exponential backoff + jitter, each attempt re-handshakes with a fresh nonce, and an update that
 * could not be delivered is re-signed and resent once the coordinator welcomes the site again.
 */
export class SiteAgent {
  readonly messageLog: MessageLog;
  readonly channel: OutgoingChannel;
  private readonly socket: Socket;
  private readonly coordinators: CoordinatorRotation;
  private readonly log: Log;
  private readonly nonces: NonceCache;
  private readonly taskVerifier: EnvelopeVerifier;
  private readonly welcomeVerifier: EnvelopeVerifier;
  private readonly secureVerifier: EnvelopeVerifier;
  /** The coordinator's SecAgg messages by `taskId/type`: arrived before anyone waited, or awaited. */
  private readonly secureMail = new Map<string, { body?: unknown; waiter?: (body: unknown) => void }>();
  private readonly localParams: LocalParamStore;
  private readonly keepLocal: RegExp | null;
  private readonly maxTaskBytes: number;
  private receiver: TransferReceiver | undefined;
  private auth: HandshakeAuth | undefined;
  private welcomed = false;
  private welcomeWaiters: (() => void)[] = [];
  private refusedAttempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private stopped = false;
  private lastStatusAt = 0;
  /** The task being carried out, so a status sent after a reconnect says so instead of `idle`. */
  private busy: { state: SiteState; where: { runId: string; round: number; taskId: string } } | undefined;
  private resolveDone!: () => void;
  private rejectDone!: (err: Error) => void;
  /** Settles when the agent stops: after `stop()`, after the first task with `once`, or on a fatal refusal. */
  readonly done: Promise<void>;

  constructor(private readonly options: SiteAgentOptions) {
    this.log = options.log ?? silentLog;
    this.keepLocal = options.keepLocal ?? null;
    this.maxTaskBytes = options.maxTaskBytes ?? 1024 ** 3;
    this.messageLog = new MessageLog(join(options.stateDir, 'messages.jsonl'));
    this.localParams = new LocalParamStore(options.stateDir);
    this.nonces = new NonceCache(5 * 60_000);
    const { kit } = options;
    this.taskVerifier = new EnvelopeVerifier({
      keyring: kit.keyring,
      maxPayloadBytes: this.maxTaskBytes,
      acceptedTypes: ['task'],
      nonceCache: this.nonces,
      expected: options.runId ? { runId: options.runId } : undefined,
    });
    this.welcomeVerifier = new EnvelopeVerifier({
      keyring: kit.keyring,
      maxPayloadBytes: 0,
      acceptedTypes: ['welcome', 'error'],
      nonceCache: this.nonces,
    });
    this.secureVerifier = new EnvelopeVerifier({
      keyring: kit.keyring,
      maxPayloadBytes: 0,
      acceptedTypes: [...SECURE_INCOMING_TYPES],
      nonceCache: this.nonces,
    });
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
    const backoff = resolveBackoff(options.reconnect);
    this.coordinators = new CoordinatorRotation(
      options.coordinatorUrls?.length ? options.coordinatorUrls : [kit.coordinatorUrl.replace(/\/+$/, '')],
      kit.namespace,
      options.network,
    );
    this.socket = io(this.coordinators.address, {
      autoConnect: false,
      transports: ['websocket'],
      ...(options.network && connectionOptions(this.coordinators.current, options.network).options),
      // The protocol minor version this agent reads, so a newer coordinator sends only what it knows.
      query: agentQuery(PROTOCOL_MINOR_VERSION, options.facts ?? {}),
      reconnection: true,
      reconnectionDelay: backoff.initialDelayMs,
      reconnectionDelayMax: backoff.maxDelayMs,
      randomizationFactor: backoff.jitter,
      // A function, so every (re)connection attempt signs a fresh handshake with a new nonce.
      auth: (cb) => {
        this.auth = signHandshake(kit.siteId, kit.keys.secretKey, kit.coordinatorPublicKey, {
          namespace: kit.namespace,
        });
        cb({ ...this.auth });
      },
    });
    this.channel = new OutgoingChannel(
      socketIoTransport(this.socket),
      this.messageLog,
      kit.siteId,
      options.ackTimeoutMs,
    );
    this.wireSocket();
  }

  get connected(): boolean {
    return this.socket.connected && this.welcomed;
  }

  /** Connects; resolves once the coordinator has proved its key (welcome verified). */
  start(): Promise<void> {
    this.socket.connect();
    return this.whenWelcomed();
  }

  /** Clean shutdown: aborts the running task, disconnects, settles `done`. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.reconnectTimer);
    this.receiver?.close();
    this.socket.disconnect();
    this.resolveDone();
  }

  private fatal(err: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.reconnectTimer);
    this.socket.disconnect();
    this.rejectDone(err);
  }

  private emit(event: AgentEvent): void {
    this.options.onEvent?.(event);
  }

  private whenWelcomed(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.welcomeWaiters.push(resolve);
      this.done.then(() => reject(new Error('agent stopped')), reject);
    });
  }

  private wireSocket(): void {
    const socket = this.socket;
    socket.on('connect', () => {
      this.receiver?.close();
      this.receiver = new TransferReceiver({
        ...verifierTransferHooks(this.taskVerifier, (message, payload) => this.onTask(message, payload)),
        maxPayloadBytes: this.maxTaskBytes,
        log: this.log,
      });
      this.emit({ type: 'connected', url: this.coordinators.current });
      this.log.info({ url: this.coordinators.current }, 'connected; waiting for the welcome');
    });
    socket.on('disconnect', (reason) => {
      this.welcomed = false;
      this.receiver?.close();
      this.emit({ type: 'disconnected', reason });
      if (this.stopped) return;
      this.log.warn({ reason }, 'disconnected; reconnecting');
      // socket.io reconnects by itself except when the server closed the connection on purpose.
      if (reason === 'io server disconnect') {
        const retryInMs = backoffDelay(this.refusedAttempts++, this.options.reconnect);
        this.reconnectTimer = setTimeout(() => socket.connect(), retryInMs);
      }
    });
    socket.on('connect_error', (err: Error & { data?: { code?: string; reason?: string } }) => {
      const code = err.data?.code ?? 'CONNECT_FAILED';
      const reason = err.data?.reason ?? err.message;
      // The next attempt (socket.io's or ours below) goes to the next coordinator, if there are several.
      const next = this.coordinators.advance(socket.io);
      if (next) this.log.info({ failed: code, next }, 'trying the next coordinator');
      if (FATAL_REFUSALS.has(code)) {
        this.emit({ type: 'connect-refused', code, reason });
        this.fatal(new Error(`coordinator refused this site: ${code}: ${reason}`));
        return;
      }
      // A middleware refusal (stale clock, replay) leaves socket.io inactive: retry ourselves.
      if (!socket.active && !this.stopped) {
        const retryInMs = backoffDelay(this.refusedAttempts++, this.options.reconnect);
        this.emit({ type: 'connect-refused', code, reason, retryInMs });
        this.reconnectTimer = setTimeout(() => socket.connect(), retryInMs);
      } else {
        this.emit({ type: 'connect-refused', code, reason });
      }
    });
    socket.on('welcome', (raw: unknown) => {
      const auth = this.auth;
      const result = auth ? checkWelcome(raw, auth, this.welcomeVerifier) : fail('MALFORMED', 'no handshake');
      if (!result.ok) {
        this.log.error(result.error, 'welcome does not prove the coordinator key: disconnecting');
        this.fatal(
          new Error(`coordinator failed to authenticate: ${result.error.code}: ${result.error.reason}`),
        );
        return;
      }
      this.welcomed = true;
      this.refusedAttempts = 0;
      this.emit({ type: 'welcomed' });
      this.log.info({ siteId: this.options.kit.siteId }, 'coordinator authenticated');
      for (const waiter of this.welcomeWaiters.splice(0)) waiter();
      // A coordinator that restarted meanwhile knows nothing of a task still training here.
      this.sendStatus(this.busy?.state ?? 'idle', this.busy?.where ?? {}, true);
    });
    onAck(socket, TRANSFER_EVENTS.begin, (m) => this.withReceiver((r) => r.begin(m), m), this.log);
    onAck(socket, TRANSFER_EVENTS.chunk, (m) => this.withReceiver((r) => r.chunk(m)), this.log);
    onAck(socket, TRANSFER_EVENTS.end, (m) => this.withReceiver((r) => r.end(m)), this.log);
    onAck(socket, 'task', (raw) => this.onPayloadlessTask(raw), this.log);
    onAck(socket, 'error', (raw) => this.onCoordinatorError(raw), this.log);
    for (const type of SECURE_INCOMING_TYPES)
      onAck(socket, type, (raw) => this.onSecureMessage(type, raw), this.log);
  }

  /** A SecAgg message from the coordinator: verified, then handed to the task's exchange. */
  private onSecureMessage(type: keyof SecureIncoming, raw: unknown): AckReply {
    const result = this.secureVerifier.verify(raw);
    if (!result.ok) return ackError(result.error);
    const { envelope, body } = result.value;
    if (envelope.type !== type || envelope.signer !== 'coordinator')
      return ackError({
        code: 'UNEXPECTED_MESSAGE',
        reason: `a ${envelope.type} from ${envelope.signer} on ${type}`,
      });
    const taskId = (body as { taskId: string }).taskId;
    if (this.busy?.where.taskId !== taskId)
      return ackError({ code: 'WRONG_TASK', reason: `this site is not carrying out task ${taskId}` });
    const key = `${taskId}/${type}`;
    const slot = this.secureMail.get(key);
    if (slot?.waiter) {
      this.secureMail.delete(key);
      slot.waiter(body);
    } else this.secureMail.set(key, { body });
    return { ok: true };
  }

  /** The coordinator's next SecAgg message of `type` for `taskId`, or an error after `timeoutMs`. */
  private receiveSecure(taskId: string, type: keyof SecureIncoming, timeoutMs: number): Promise<unknown> {
    const key = `${taskId}/${type}`;
    const slot = this.secureMail.get(key);
    if (slot?.body !== undefined) {
      this.secureMail.delete(key);
      return Promise.resolve(slot.body);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.secureMail.delete(key);
        reject(
          new Error(
            `secure aggregation: no ${type} from the coordinator within ${Math.round(timeoutMs / 1000)} s`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      const stopped = () => {
        clearTimeout(timer);
        reject(new Error('agent stopped'));
      };
      this.abort.signal.addEventListener('abort', stopped, { once: true });
      this.secureMail.set(key, {
        waiter: (body) => {
          clearTimeout(timer);
          this.abort.signal.removeEventListener('abort', stopped);
          resolve(body);
        },
      });
    });
  }

  private async withReceiver(
    handle: (receiver: TransferReceiver) => AckReply | Promise<AckReply>,
    beginMessage?: unknown,
  ): Promise<AckReply> {
    if (!this.receiver || !this.welcomed) {
      return ackError({
        code: 'UNEXPECTED_MESSAGE',
        reason: 'the coordinator has not been authenticated yet',
      });
    }
    const reply = await handle(this.receiver);
    if (!reply.ok && beginMessage !== undefined) {
      // A task refused at its header (bad signature, stale, wrong run…): tell the coordinator.
      const envelope = (beginMessage as { envelope?: { body?: { taskId?: unknown } } } | null)?.envelope;
      this.refuse(reply.error, envelope?.body?.taskId);
    }
    return reply;
  }

  /** Tasks must carry the global weights (docs/PROTOCOL.md §4): a payload-less task is refused. */
  private onPayloadlessTask(raw: unknown): AckReply {
    const result = this.taskVerifier.verify(raw);
    const error: ProtocolErrorInfo = result.ok
      ? { code: 'MALFORMED', reason: 'a task must carry the global weights as its payload' }
      : result.error;
    this.refuse(error, (raw as { body?: { taskId?: unknown } } | null)?.body?.taskId);
    return ackError(error);
  }

  private onCoordinatorError(raw: unknown): AckReply {
    const result = this.welcomeVerifier.verify(raw);
    if (!result.ok) return ackError(result.error);
    this.log.warn({ error: result.value.body }, 'the coordinator reported an error');
    return { ok: true };
  }

  /** Called with a task whose signature, scope, freshness and payload digest have all been verified. */
  private onTask(message: VerifiedMessage, payload: Buffer): AckReply {
    const task = message.body as TaskBody;
    const executor = this.options.executors[task.stage];
    let problem: ProtocolErrorInfo | undefined;
    let models: TaskModels | undefined;
    const followed = followInstruction(task, this.keepLocal);
    const phases = phaseMismatch(task, this.options.phases);
    if (!executor) problem = { code: 'WRONG_STAGE', reason: `this site cannot run ${task.stage} tasks` };
    else if (!followed.ok) problem = followed.error;
    else if (phases) problem = phases;
    else if (task.deadline < Date.now())
      problem = { code: 'STALE_TIMESTAMP', reason: 'task deadline has passed' };
    else {
      try {
        models = taskModels(task, payload, this.maxTaskBytes);
      } catch (err) {
        problem = { code: 'MALFORMED', reason: `global weights do not decode: ${(err as Error).message}` };
      }
    }
    if (problem || !followed.ok) {
      // Every refusal above set `problem`, a contradicting instruction included.
      this.decline(task, problem!);
      return ackError(problem!);
    }
    this.emit({ type: 'task', runId: task.runId, round: task.round, taskId: task.taskId, stage: task.stage });
    this.log.info(
      { runId: task.runId, round: task.round, taskId: task.taskId, stage: task.stage },
      'task received',
    );
    // A paired task's payload is a bundle: the evaluated model is the one the task names.
    const digest = task.config.compareWith
      ? task.globalWeightsDigest
      : (message.envelope.digest ?? task.globalWeightsDigest);
    const { global, compared } = models!;
    // One task at a time, in arrival order; the transfer is acknowledged right away.
    this.queue = this.queue.then(() => this.runTask(task, followed.value, global, digest, compared));
    return { ok: true };
  }

  private async runTask(
    task: TaskBody,
    instruction: FollowedInstruction,
    global: NamedArray[],
    digest: string,
    compared: NamedArray[][],
  ): Promise<void> {
    if (this.stopped) return;
    const scope = { runId: task.runId, round: task.round, taskId: task.taskId, stage: task.stage };
    const where = { runId: task.runId, round: task.round, taskId: task.taskId };
    try {
      const decision = this.options.consent ? await this.options.consent.check(task.plan) : undefined;
      if (decision && !decision.approved) {
        this.emit({
          type: 'plan-refused',
          runId: task.runId,
          taskId: task.taskId,
          code: decision.code,
          reason: decision.reason,
        });
        this.log.warn(
          { runId: task.runId, taskId: task.taskId, code: decision.code, digest: decision.digest },
          decision.reason,
        );
        await this.sendSigned('task-ack', {
          ...this.meta(),
          ...scope,
          accepted: false,
          reason: decision.reason.slice(0, 500),
          refusalCode: decision.code,
        });
        if (this.options.once) await this.stop();
        return;
      }
      await this.sendSigned('task-ack', { ...this.meta(), ...scope, accepted: true });
      const stateName: SiteState = task.stage === 'evaluate' ? 'evaluating' : 'training';
      this.busy = { state: stateName, where };
      this.sendStatus(stateName, { ...where, progress: 0 }, true);
      const result = await executeTask(
        this.options.executors,
        this.localParams,
        task,
        instruction,
        global,
        {
          signal: this.abort.signal,
          progress: (fraction, message) => {
            this.emit({ type: 'progress', taskId: task.taskId, fraction, message });
            this.sendStatus(stateName, {
              ...where,
              progress: clamp01(fraction),
              ...(message ? { message: message.slice(0, 500) } : {}),
            });
          },
        },
        compared,
      );
      if (this.stopped) return;
      if (result.kind === 'train' && task.config.secureAggregation)
        await this.sendSecure(task, instruction, global, result);
      else if (result.kind === 'train') await this.sendUpdate(task, instruction, global, digest, result);
      else await this.sendEvalResult(task, digest, releasedEvaluation(instruction, result));
      this.busy = undefined;
      this.sendStatus('idle', {}, true);
    } catch (err) {
      this.busy = undefined;
      const reason = err instanceof Error ? err.message : String(err);
      this.emit({ type: 'task-failed', taskId: task.taskId, reason });
      this.log.error({ taskId: task.taskId, reason }, 'task failed');
      if (!this.stopped) {
        this.sendStatus('error', { ...where, message: reason.slice(0, 500) }, true);
        this.refuse(
          { code: 'INTERNAL', reason: `task failed at the site: ${reason}`.slice(0, 1000) },
          task.taskId,
        );
      }
    }
    if (this.options.once) await this.stop();
  }

  private async sendUpdate(
    task: TaskBody,
    instruction: FollowedInstruction,
    global: NamedArray[],
    digest: string,
    result: TrainResult,
  ): Promise<void> {
    const { payload, kind, shapes, metrics } = outgoingUpdate(
      task,
      instruction,
      global,
      result,
      this.localParams,
    );
    const maxBytes = Math.min(task.config.maxUpdateBytes, this.maxTaskBytes);
    // Delivery survives a dropped connection: wait for the next welcome and re-sign (fresh nonce).
    for (;;) {
      await this.whenWelcomed();
      const envelope = signEnvelope({
        type: 'update',
        body: {
          ...this.meta(),
          runId: task.runId,
          round: task.round,
          taskId: task.taskId,
          stage: task.stage,
          nSamples: result.nSamples,
          metrics,
          encoding: task.config.updateEncoding,
          kind,
          baseDigest: digest,
        },
        signer: this.options.kit.siteId,
        secretKey: this.options.kit.keys.secretKey,
        payload,
      });
      this.sendStatus('uploading', { runId: task.runId, round: task.round, taskId: task.taskId }, true);
      try {
        const ack = await this.channel.sendUpdate(
          envelope,
          payload,
          { shapes, maxBytes },
          this.options.transfer,
        );
        this.emit({ type: 'result-sent', taskId: task.taskId, kind: 'update', ok: ack.ok });
        this.log.info({ taskId: task.taskId, bytes: payload.byteLength }, 'update accepted');
        return;
      } catch (err) {
        if (this.stopped || this.connected || Date.now() > task.deadline) throw err;
        this.log.warn(
          { taskId: task.taskId, reason: (err as Error).message },
          'upload interrupted; resending after reconnect',
        );
      }
    }
  }

  /**
   * A secure round (protocol 1.2): the update is never sent; the site takes part in the SecAgg
   * steps instead (secure-exchange.ts), each message signed and scoped to the task. Each step
   * waits at most the task's own span (the coordinator gives every step the round's deadline).
   */
  private async sendSecure(
    task: TaskBody,
    instruction: FollowedInstruction,
    global: NamedArray[],
    result: TrainResult,
  ): Promise<void> {
    const settings = task.config.secureAggregation!;
    const siteId = this.options.kit.siteId;
    const prepared = secureOutgoing(siteId, task, instruction, global, result, this.localParams);
    this.emit({
      type: 'secure-input',
      taskId: task.taskId,
      update: prepared.update,
      nSamples: result.nSamples,
      weight: prepared.weight,
      clipped: prepared.clipped,
    });
    if (prepared.clipped > 0)
      this.log.warn(
        { taskId: task.taskId, clipped: prepared.clipped, maxAbs: settings.maxAbs },
        'update values clipped for secure aggregation',
      );
    const scope = { runId: task.runId, round: task.round, taskId: task.taskId, stage: task.stage };
    const stepWaitMs = Math.max(60_000, task.deadline - Date.now()) + 30_000;
    const refused = (type: string, ack: AckReply) => {
      if (!ack.ok) throw new Error(`coordinator refused ${type}: ${ack.error.code}: ${ack.error.reason}`);
    };
    await runSecureExchange(siteId, settings, prepared, result.metrics, {
      send: async (type, fields) => {
        const envelope = signEnvelope({
          type,
          body: { ...this.meta(), ...scope, ...fields } as never,
          signer: siteId,
          secretKey: this.options.kit.keys.secretKey,
        });
        refused(type, await this.channel.emitEnvelope(envelope));
      },
      sendMasked: async (fields, payload) => {
        const envelope = signEnvelope({
          type: 'secagg-masked',
          body: { ...this.meta(), ...scope, sessionId: settings.sessionId, ...fields },
          signer: siteId,
          secretKey: this.options.kit.keys.secretKey,
          payload,
        });
        this.sendStatus('uploading', { runId: task.runId, round: task.round, taskId: task.taskId }, true);
        refused('secagg-masked', await this.channel.sendMasked(envelope, payload, this.options.transfer));
      },
      receive: (type) => this.receiveSecure(task.taskId, type, stepWaitMs) as never,
    });
    this.emit({ type: 'result-sent', taskId: task.taskId, kind: 'update', ok: true });
    this.log.info({ taskId: task.taskId, session: settings.sessionId }, 'secure aggregation done');
  }

  private async sendEvalResult(task: TaskBody, digest: string, released: ReleasedEvaluation): Promise<void> {
    const ack = await this.sendSigned('eval-result', {
      ...this.meta(),
      runId: task.runId,
      round: task.round,
      taskId: task.taskId,
      stage: task.stage,
      modelDigest: digest,
      ...released,
    });
    this.emit({ type: 'result-sent', taskId: task.taskId, kind: 'eval-result', ok: ack.ok });
    if (!ack.ok)
      throw new Error(`coordinator refused the evaluation: ${ack.error.code}: ${ack.error.reason}`);
  }

  private meta(): { sender: string; nonce: string; timestamp: number } {
    return { sender: this.options.kit.siteId, nonce: newNonce(), timestamp: Date.now() };
  }

  private async sendSigned<T extends 'task-ack' | 'eval-result' | 'status' | 'error'>(
    type: T,
    body: Parameters<typeof signEnvelope<T>>[0]['body'],
  ): Promise<AckReply> {
    const envelope = signEnvelope({
      type,
      body,
      signer: this.options.kit.siteId,
      secretKey: this.options.kit.keys.secretKey,
    });
    return this.channel.emitEnvelope(envelope);
  }

  /** Progress for the dashboard; best effort (never blocks or fails a task), throttled unless `force`. */
  private sendStatus(
    state: SiteState,
    extra: { runId?: string; round?: number; taskId?: string; progress?: number; message?: string },
    force = false,
  ): void {
    const now = Date.now();
    if (!this.connected || (!force && now - this.lastStatusAt < (this.options.statusIntervalMs ?? 2_000)))
      return;
    this.lastStatusAt = now;
    this.sendSigned('status', { ...this.meta(), state, ...extra }).catch((err: unknown) => {
      // A guard refusal of our own status is a bug worth seeing; a lost ack is not.
      if (err instanceof PrivacyGuardError)
        this.log.error({ err: err.message }, 'status refused by the privacy guard');
      else this.log.debug({ err: String(err) }, 'status not delivered');
    });
  }

  /**
   * An authentic task this site will not run (no executor for its stage, past its deadline,
   * weights that do not decode): a signed `task-ack` with `accepted: false` drops the site from
   * the round at once instead of leaving the coordinator waiting (docs/PROTOCOL.md §4.1).
   */
  private decline(task: TaskBody, error: ProtocolErrorInfo): void {
    this.emit({ type: 'task-refused', code: error.code, reason: error.reason, taskId: task.taskId });
    this.log.warn({ ...error, taskId: task.taskId }, 'task declined');
    const scope = { runId: task.runId, round: task.round, taskId: task.taskId, stage: task.stage };
    const reason = `${error.code}: ${error.reason}`.slice(0, 500);
    this.sendSigned('task-ack', { ...this.meta(), ...scope, accepted: false, reason }).catch((err: unknown) =>
      this.log.warn({ err: String(err) }, 'declining task-ack not delivered'),
    );
  }

  /** Tells the coordinator, in a signed `error`, why a task was not (or could not be) carried out. */
  private refuse(error: ProtocolErrorInfo, taskId: unknown): void {
    const ref = typeof taskId === 'string' && ID_PATTERN.test(taskId) ? taskId : undefined;
    this.emit({
      type: 'task-refused',
      code: error.code,
      reason: error.reason,
      ...(ref ? { taskId: ref } : {}),
    });
    this.log.warn({ ...error, taskId: ref }, 'task refused');
    if (!this.socket.connected) return;
    this.sendSigned('error', {
      ...this.meta(),
      code: error.code,
      reason: error.reason.slice(0, 1000),
      ...(ref ? { ref } : {}),
    }).catch((err: unknown) => this.log.debug({ err: String(err) }, 'error report not delivered'));
  }
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

import type { EvalResultBody, ProtocolErrorCode, Stage } from '../../../protocol/src';
import { screenEntries } from '../inbound/gate';
import type { SecAggStepName } from '../privacy/secagg-sessions';
import { secureAggregationSettings, SecureAggregationSettings } from '../privacy/secagg-task';
import type { EvaluateInstruction, FitInstruction, Strategy } from '../strategies/strategy';
import type { TrainingStage } from '../types';
import { decideAttempt, reconnectVerdict } from './attempt';
import type { AggregateCommand, EngineCommand, TaskToSend } from './commands';
import type { EngineEvent, ReceivedUpdate } from './events';
import type { EnginePlan } from './plan';
import {
  compareIds,
  compareWithOf,
  crossSiteSteps,
  isLocalOnlyTraining,
  isTokenCentring,
  LOCAL_ONLY_ROUND,
  maxUpdateBytesFor,
  roundDeadlineSecondsOf,
  roundKey,
  RoundStep,
  runSteps,
  taskConfig,
  taskIdFor,
  taskInstruction,
  wantsLocalOnlyModels,
} from './schedule';
import { acceptsSecure, decideSecureStep, nextSecureStep } from './secure-round';
import type { AttemptState, EngineState, RoundRun } from './state';

/** How long a site that disconnected mid-round keeps its task by default. */
export const DEFAULT_DISCONNECT_GRACE_MS = 10_000;

/** What the engine needs to know about a run that never changes while it runs. */
export interface RunSpec {
  runId: string;
  plan: EnginePlan;
  /**
   * The plan's strategy. The engine calls only its pure methods (configureFit/configureEvaluate,
   * updateKind, exportState to learn whether it keeps state); the adapter that executes the
   * `aggregate` command calls aggregateFit on the same object.
   */
  strategy: Strategy;
  disconnectGraceMs?: number;
  /**
   * The plan as sites review it (the stored plan, whole): sent in every task so that a site can
   * show it, hash it and refuse a plan it did not approve (docs/PRIVACY.md §6). Absent: not sent.
   */
  sitePlan?: Record<string, unknown>;
}

/** Why an answer from a site was not taken (the adapter acks it with this error and audits it). */
export interface Refusal {
  code: ProtocolErrorCode;
  reason: string;
  /** The check that refused it, when more precise than the protocol code (e.g. NON_FINITE). */
  checkCode?: string;
}

export interface EngineStep {
  state: EngineState;
  commands: EngineCommand[];
  /** Set when the event was a site's answer that the run does not take. */
  refusal?: Refusal;
}

/** The task a site holds now, for the protocol layer to verify an answer's scope against. */
export interface OpenTask {
  runId: string;
  stage: Stage;
  round: number;
  taskId: string;
  /** The model sent: an update's baseDigest and an evaluation's modelDigest must name it. */
  modelDigest: string;
  maxUpdateBytes: number;
  /** The round still takes answers (false while it aggregates). */
  collecting: boolean;
  /** Unique per attempt of the round, to key per-attempt state (the update gate) in adapters. */
  attemptKey: string;
  /** A secure-aggregation round: its session, the step running and whether this site may send it now. */
  secure?: {
    sessionId: string;
    settings: SecureAggregationSettings;
    step: SecAggStepName;
    accepting: boolean;
  };
}

export function initialState(runId: string): EngineState {
  return {
    runId,
    phase: 'not-started',
    linked: [],
    recorded: {},
    modelBytes: {},
    steps: [],
    next: 0,
    strategyReady: false,
    crossSiteBuilt: false,
    localModels: {},
  };
}

/** The task `siteId` holds in this run, if any (dropped sites keep it until the attempt ends). */
export function openTaskOf(state: EngineState, siteId: string): OpenTask | undefined {
  const round = state.round;
  const attempt = round?.attempt;
  const task = attempt?.sites[siteId];
  if (!round || !attempt || !task || round.phase === 'selecting') return undefined;
  return {
    runId: state.runId,
    stage: round.step.stage,
    round: round.step.round,
    taskId: task.taskId,
    modelDigest: round.modelDigest,
    maxUpdateBytes: attempt.config.maxUpdateBytes,
    collecting: round.phase === 'open',
    attemptKey: `${state.runId}/${roundKey(round.step)}/${attempt.storedAttempt}`,
    ...(attempt.secure
      ? {
          secure: {
            sessionId: attempt.secure.settings.sessionId,
            settings: attempt.secure.settings,
            step: attempt.secure.step?.name ?? 'keys',
            accepting:
              round.phase === 'open' &&
              acceptsSecure(
                attempt.secure,
                attempt.secure.step?.name ?? 'keys',
                siteId,
                task.outcome === 'waiting',
              ),
          },
        }
      : {}),
  };
}

/**
 * The run's rules in one function: `(state, event, now) → (state, commands)`. No I/O, no clock
 * (`now` is epoch ms given by the caller), no timers (the `wake-at` command asks for a tick).
 */
export function engineStep(spec: RunSpec, state: EngineState, event: EngineEvent, now: number): EngineStep {
  const run = new Step(spec, structuredClone(state), now);
  run.handle(event);
  return run.result();
}

/** One call of `step`: a mutable copy of the state and the commands it produces. */
class Step {
  private readonly commands: EngineCommand[] = [];
  private refusal: Refusal | undefined;
  private readonly deadlineMs: number;
  private readonly quorum: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly spec: RunSpec,
    private readonly s: EngineState,
    private readonly now: number,
  ) {
    this.deadlineMs = spec.plan.roundDeadlineSeconds * 1000;
    this.quorum = spec.plan.quorum.minSites;
    this.maxAttempts = 1 + (spec.plan.maxRetries ?? 0);
  }

  result(): EngineStep {
    if (this.s.phase !== 'ended') this.scheduleWake();
    return { state: this.s, commands: this.commands, ...(this.refusal ? { refusal: this.refusal } : {}) };
  }

  handle(event: EngineEvent): void {
    if (this.s.phase === 'ended') {
      if (isAnswer(event)) this.refuse('WRONG_RUN', 'the run has ended');
      return;
    }
    switch (event.type) {
      case 'run-started':
        if (this.s.phase !== 'not-started') return;
        this.s.linked = [...new Set(event.linkedSites)].sort(compareIds);
        for (const r of event.recordedRounds) this.s.recorded[roundKey(r)] = { ...r };
        this.s.steps = runSteps(this.spec.plan);
        this.s.phase = 'waiting-for-sites';
        this.s.waitUntil = this.now + this.deadlineMs;
        if (this.spec.plan.initialModel && event.initialModelBytes !== undefined)
          this.s.modelBytes[this.spec.plan.initialModel] = event.initialModelBytes;
        if (this.secureAggregation && this.spec.plan.evaluation.crossSite) {
          return this.endRun(
            'fail',
            "cross-site evaluation needs each site's own update, which secure aggregation never lets the coordinator see",
          );
        }
        break;
      case 'site-linked':
        if (!this.s.linked.includes(event.siteId))
          this.s.linked = [...this.s.linked, event.siteId].sort(compareIds);
        break;
      case 'site-left':
        this.s.linked = this.s.linked.filter((id) => id !== event.siteId);
        this.siteLeft(event.siteId);
        break;
      case 'site-status':
        this.siteStatus(event.siteId, event.state, event.taskId);
        break;
      case 'task-delivered': {
        const task = this.taskOf(event.siteId, event.taskId);
        if (!task) return;
        task.delivery = 'delivered';
        // A fast site may already have answered: its task is then 'received', not merely 'sent'.
        if (task.outcome === 'waiting')
          this.emit({ kind: 'set-task-state', taskId: task.taskId, state: 'sent' });
        this.markCollecting();
        break;
      }
      case 'task-failed': {
        const task = this.taskOf(event.siteId, event.taskId);
        if (!task) return;
        task.delivery = 'failed';
        const reason = `task not delivered: ${event.reason}`;
        if (this.drop(event.siteId, reason)) this.setTask(task.taskId, 'rejected');
        this.log('warn', 'dispatch failed', { site: event.siteId, reason });
        this.markCollecting();
        break;
      }
      case 'task-acked':
        if (!this.taskOf(event.siteId, event.taskId))
          return this.refuse('WRONG_TASK', 'no such task is open');
        if (!event.accepted) {
          const code = event.refusalCode ? `${event.refusalCode}: ` : '';
          const reason = `declined the task: ${code}${event.reason ?? 'no reason given'}`;
          if (this.drop(event.siteId, reason)) this.setTask(event.taskId, 'rejected');
          this.log('warn', 'site declined its task', { site: event.siteId, reason: event.reason });
          if (event.refusalCode) this.auditPlanRefusal(event.siteId, event.refusalCode, event.reason);
        }
        break;
      case 'update-received':
        this.updateReceived(event.siteId, event.taskId, event.update, event.entry);
        break;
      case 'update-refused':
        this.updateRefused(event.siteId, event.taskId, event.update, event.code, event.reason);
        break;
      case 'evaluation-received':
        this.evaluationReceived(event);
        break;
      case 'secagg-received':
        this.secureReceived(event.siteId, event.taskId, event.step, event.metrics);
        break;
      case 'secagg-refused':
        this.secureRefused(event.siteId, event.taskId, event.step, event.code, event.reason);
        break;
      case 'secagg-closed':
        this.secureClosed(event);
        break;
      case 'aggregation-finished':
        this.aggregationFinished(event);
        break;
      case 'aggregation-failed':
        if (this.s.round?.phase !== 'aggregating') break;
        // A secure round that could not be unmasked (too few shares came back) is an attempt
        // that failed: the retry policy applies, as to any attempt short of its quorum.
        if (this.s.round.attempt?.secure) this.retryOrFail(this.s.round, event.reason);
        else this.failRound(event.reason);
        break;
      case 'strategy-restored':
        if (this.s.phase !== 'restoring') return;
        this.s.phase = 'running';
        break;
      case 'strategy-restore-failed':
        if (this.s.phase !== 'restoring') return;
        return this.endRun('fail', `cannot resume: ${event.reason}`);
      case 'local-models-built':
        if (this.s.phase !== 'building-local-models') return;
        for (const m of event.models) {
          this.s.localModels[m.siteId] = m.digest;
          this.s.modelBytes[m.digest] = m.bytes;
        }
        this.s.steps.push(...crossSiteSteps(event.models));
        this.s.crossSiteBuilt = true;
        this.s.phase = 'running';
        break;
      case 'local-models-failed':
        if (this.s.phase !== 'building-local-models') return;
        return this.endRun('fail', `cross-site evaluation: ${event.reason}`);
      case 'tick':
        this.expireGraces();
        break;
      case 'stop':
        return this.stop(event.reason ?? 'the run was stopped');
    }
    this.advance();
  }

  // ── The run: from one round to the next ───────────────────────────────────────────────────

  /** Moves the run on as far as it can without another event. */
  private advance(): void {
    for (;;) {
      const s = this.s;
      if (s.phase === 'waiting-for-sites') {
        if (this.eligibleSites().length < this.quorum && this.now < s.waitUntil!) return;
        const initial = this.spec.plan.initialModel;
        if (!initial) {
          return this.endRun(
            'fail',
            'the plan has no initialModel: the coordinator sends the first global model, it never creates one',
          );
        }
        if (s.modelBytes[initial] === undefined)
          return this.endRun('fail', `initialModel ${initial.slice(0, 16)}… is not in the blob store`);
        s.global = initial;
        s.waitUntil = undefined;
        s.phase = 'running';
        continue;
      }
      if (s.phase !== 'running') return;
      if (s.round) {
        if (s.round.phase === 'selecting') this.trySelect(s.round);
        if (s.round?.phase === 'open') this.decide(s.round);
        // Only the local-only round ends inside `decide` (it folds nothing): go on to what follows.
        if (!s.round && (s.phase as EngineState['phase']) === 'running') continue;
        return;
      }
      this.skipDoneRounds();
      if (s.next >= s.steps.length) {
        if (this.spec.plan.evaluation.crossSite && !s.crossSiteBuilt) {
          s.phase = 'building-local-models';
          this.emit({
            kind: 'build-local-models',
            runId: s.runId,
            finetuneRounds: this.spec.plan.stages.finetune?.rounds ?? 0,
            ...(wantsLocalOnlyModels(this.spec.plan) ? { localOnlyRound: LOCAL_ONLY_ROUND } : {}),
          });
          return;
        }
        return this.endRun('complete', undefined, s.global);
      }
      const next = s.steps[s.next];
      if (next.stage !== 'evaluate' && !isLocalOnlyTraining(next) && !s.strategyReady) {
        s.strategyReady = true;
        // A resumed run continues the strategy's server state (FedAdam's moments) from the last
        // done training round; restarting it from zero would silently change the result.
        if (s.lastDoneTraining && this.spec.strategy.exportState().length > 0) {
          s.phase = 'restoring';
          this.emit({ kind: 'restore-strategy', runId: s.runId, lastDone: s.lastDoneTraining });
          return;
        }
      }
      this.startRound(next);
    }
  }

  /** Rounds the store has as done are not run again; their output is the run's global. */
  private skipDoneRounds(): void {
    const s = this.s;
    while (s.next < s.steps.length) {
      const step = s.steps[s.next];
      const recorded = s.recorded[roundKey(step)];
      if (recorded?.state !== 'done') return;
      if (recorded.outputDigest && recorded.outputBytes !== undefined)
        s.modelBytes[recorded.outputDigest] = recorded.outputBytes;
      if (step.stage !== 'evaluate') {
        if (recorded.outputDigest) s.global = recorded.outputDigest;
        if (!isTokenCentring(step) && !isLocalOnlyTraining(step)) s.lastDoneTraining = step;
      }
      s.next++;
    }
  }

  private startRound(step: RoundStep): void {
    const s = this.s;
    const modelDigest = step.localModel
      ? s.localModels[step.localModel.siteId]
      : isLocalOnlyTraining(step)
        ? this.spec.plan.initialModel!
        : s.global!;
    const recorded = s.recorded[roundKey(step)];
    if (recorded) {
      this.emit({
        kind: 'update-round',
        runId: s.runId,
        stage: step.stage,
        round: step.round,
        changes: { state: 'dispatched', reason: 'resumed after a coordinator restart' },
      });
      this.log('info', 'resuming an unfinished round', { ...step });
    } else {
      this.emit({
        kind: 'insert-round',
        round: {
          runId: s.runId,
          stage: step.stage,
          round: step.round,
          state: 'dispatched',
          inputDigest: modelDigest,
          startedAt: iso(this.now),
          deadlineAt: iso(this.now + roundDeadlineSecondsOf(this.spec.plan, step) * 1000),
        },
      });
    }
    s.round = {
      step,
      modelDigest,
      phase: 'selecting',
      selectUntil: this.now + this.deadlineMs,
      attemptBase: recorded?.lastAttempt ?? 0,
      attemptsDone: 0,
    };
  }

  /**
   * An attempt goes to the sites linked now; it waits (until `selectUntil`) for a quorum of
   * them, so a run whose sites are reconnecting does not burn its retries on empty rounds.
   */
  private trySelect(round: RoundRun): void {
    const selected = this.eligibleSites();
    if (selected.length < this.quorum && this.now < round.selectUntil) return;
    this.openAttempt(round, selected);
  }

  private openAttempt(round: RoundRun, selected: string[]): void {
    const { runId } = this.s;
    const { step, modelDigest } = round;
    const number = round.attemptsDone + 1;
    const storedAttempt = round.attemptBase + number;
    const plain = taskConfig(
      this.spec.plan,
      step,
      this.spec.strategy,
      maxUpdateBytesFor(this.s.modelBytes[modelDigest] ?? 0),
    );
    const secure =
      this.secureAggregation && step.stage !== 'evaluate'
        ? secureAggregationSettings(this.spec.plan.privacy!, selected.length, {
            runId,
            stage: step.stage,
            round: step.round,
            attempt: storedAttempt,
          })
        : undefined;
    const config = secure ? { ...plain, secureAggregation: secure } : plain;
    const attempt: AttemptState = {
      number,
      storedAttempt,
      // A local-only task trains in one go what the plan's training rounds train: it gets their time.
      deadlineMs: this.now + roundDeadlineSecondsOf(this.spec.plan, step) * 1000,
      config,
      sites: {},
      updates: {},
      evaluations: {},
      collecting: false,
      ...(secure ? { secure: { settings: secure, metrics: {} } } : {}),
    };
    round.attempt = attempt;
    round.phase = 'open';
    const instructions = this.instructionsFor(step, selected);
    for (const siteId of selected) {
      const taskId = taskIdFor(runId, step, storedAttempt, siteId);
      attempt.sites[siteId] = { taskId, outcome: 'waiting', delivery: 'sending' };
      this.emit({
        kind: 'insert-task',
        task: {
          id: taskId,
          runId,
          stage: step.stage,
          round: step.round,
          siteId,
          state: 'pending',
          createdAt: iso(this.now),
          attempts: storedAttempt,
        },
      });
      const task: TaskToSend = {
        runId,
        stage: step.stage,
        round: step.round,
        taskId,
        globalWeightsDigest: modelDigest,
        config,
        deadline: attempt.deadlineMs,
        instruction: taskInstruction(this.spec.plan, step, instructions.get(siteId)!),
        ...(this.spec.sitePlan ? { plan: this.spec.sitePlan } : {}),
      };
      this.emit({ kind: 'send-task', siteId, task });
    }
    this.markCollecting();
  }

  /** The strategy's per-site instructions for this round (Flower's configure_fit / configure_evaluate). */
  private instructionsFor(
    step: RoundStep,
    siteIds: string[],
  ): Map<string, FitInstruction | EvaluateInstruction> {
    const { strategy } = this.spec;
    const list =
      step.stage === 'evaluate'
        ? strategy.configureEvaluate(step.round, { siteIds })
        : strategy.configureFit(step.round, { stage: step.stage as TrainingStage, siteIds });
    return new Map(list.map((instruction) => [instruction.siteId, instruction]));
  }

  /** Every task settled: the round is recorded as collecting (the store's view of the round). */
  private markCollecting(): void {
    const round = this.s.round;
    const attempt = round?.attempt;
    if (!round || !attempt || attempt.collecting || round.phase !== 'open') return;
    if (Object.values(attempt.sites).some((t) => t.delivery === 'sending')) return;
    attempt.collecting = true;
    this.updateRound(round.step, { state: 'collecting' });
  }

  /** Applies the round's rule (quorum, deadline, retries) and acts on its verdict. */
  private decide(round: RoundRun): void {
    const attempt = round.attempt!;
    if (attempt.secure?.step) return this.decideSecure(round);
    const decision = decideAttempt(attempt, {
      quorum: this.quorum,
      maxAttempts: this.maxAttempts,
      nowMs: this.now,
    });
    if (decision.kind === 'wait') return;
    this.endAttempt(attempt);
    if (decision.kind === 'fail') return this.failRound(decision.reason);
    if (decision.kind === 'retry') return this.retry(round, decision.reason);
    if (isLocalOnlyTraining(round.step)) return this.localOnlyTrained(round, decision.answered);
    if (attempt.secure) return this.closeSecureStep(round, 'keys', decision.answered);
    round.phase = 'aggregating';
    this.updateRound(round.step, { state: 'aggregating' });
    if (round.step.stage === 'evaluate') {
      const local = round.step.localModel;
      return this.emit({
        kind: 'aggregate',
        what: 'evaluate',
        runId: this.s.runId,
        step: round.step,
        modelDigest: round.modelDigest,
        modelOf: local ?? 'global',
        ...(attempt.config.compareWith ? { compareWith: [...attempt.config.compareWith] } : {}),
        results: Object.fromEntries(decision.answered.map((id) => [id, attempt.evaluations[id]])),
      });
    }
    this.aggregateFit(round, decision.answered);
  }

  /** The attempt could not be completed: another one while attempts remain, else the round fails. */
  private retryOrFail(round: RoundRun, reason: string): void {
    const attempt = round.attempt!;
    if (!attempt.secure?.step) this.endAttempt(attempt);
    if (attempt.number < this.maxAttempts) return this.retry(round, reason);
    this.failRound(`${reason}; no attempts left (${this.maxAttempts})`);
  }

  private retry(round: RoundRun, reason: string): void {
    const attempt = round.attempt!;
    this.updateRound(round.step, { state: 'dispatched', reason: `retry ${attempt.number + 1}: ${reason}` });
    this.emit({
      kind: 'audit',
      entry: {
        actor: 'coordinator',
        action: 'rounds.retry',
        target: `${this.s.runId}/${round.step.stage}/${round.step.round}`,
        outcome: 'error',
        detail: { attempt: attempt.number, reason },
      },
    });
    this.log('warn', 'round retried', { ...round.step, attempt: attempt.number, reason });
    round.attemptsDone = attempt.number;
    round.phase = 'selecting';
    round.selectUntil = this.now + this.deadlineMs;
    this.trySelect(round);
    if ((round.phase as RoundRun['phase']) === 'open') this.decide(round);
  }

  // ── Secure aggregation: the SecAgg steps after the keys (secure-round.ts) ─────────────────

  private get secureAggregation(): boolean {
    return this.spec.plan.privacy?.secureAggregation === true;
  }

  /** Asks the adapter to end `closing` (sent by `members`) and open the next step. */
  private closeSecureStep(round: RoundRun, closing: 'keys' | 'shares' | 'masked', members: string[]): void {
    const attempt = round.attempt!;
    const secure = attempt.secure!;
    secure.step = nextSecureStep(closing, members);
    this.emit({
      kind: 'secagg-close',
      runId: this.s.runId,
      step: round.step,
      sessionId: secure.settings.sessionId,
      closing,
      members,
      taskIds: Object.fromEntries(members.map((id) => [id, attempt.sites[id].taskId])),
      deadline: this.now + this.deadlineMs,
    });
    this.log('info', 'secure aggregation step', {
      ...round.step,
      closed: closing,
      next: secure.step!.name,
      members: members.length,
    });
  }

  private decideSecure(round: RoundRun): void {
    const secure = round.attempt!.secure!;
    const step = secure.step!;
    const decision = decideSecureStep(step, this.quorum, this.now);
    if (decision.kind === 'wait') return;
    if (decision.kind === 'fail') return this.retryOrFail(round, decision.reason);
    if (step.name !== 'unmask') return this.closeSecureStep(round, step.name, decision.sent);
    // Every survivor revealed its shares (or the deadline passed): unmask the sum and fold it.
    round.phase = 'aggregating';
    this.updateRound(round.step, { state: 'aggregating' });
    this.emit({
      kind: 'aggregate',
      what: isTokenCentring(round.step) ? 'token-centre' : 'fit',
      runId: this.s.runId,
      step: round.step,
      globalDigest: round.modelDigest,
      updates: [],
      secure: { sessionId: secure.settings.sessionId, survivors: decision.sent },
    });
  }

  private secureReceived(
    siteId: string,
    taskId: string,
    step: SecAggStepName,
    metrics?: Record<string, number>,
  ): void {
    const round = this.s.round;
    const task = this.taskOf(siteId, taskId);
    const secure = round?.attempt?.secure;
    if (!round || !task) return this.refuse('WRONG_TASK', `no task ${taskId} is open for ${siteId}`);
    if (!secure) return this.refuse('UNEXPECTED_MESSAGE', 'this round does not run secure aggregation');
    if (round.phase !== 'open' || !acceptsSecure(secure, step, siteId, task.outcome === 'waiting'))
      return this.refuse('WRONG_ROUND', `the round does not take ${siteId}'s ${step} now`);
    if (step === 'keys') {
      task.outcome = 'answered';
      task.graceUntil = undefined;
      secure.metrics[siteId] = { ...(metrics ?? {}) };
      this.setTask(taskId, 'received');
      this.log('info', 'secure aggregation: keys received', { ...round.step, site: siteId });
      return;
    }
    secure.step!.sent.push(siteId);
    delete secure.step!.graceUntil[siteId];
  }

  /** The server refused a site's message: the site is out of the step (and of the round). */
  private secureRefused(
    siteId: string,
    taskId: string,
    step: SecAggStepName,
    code: string,
    reason: string,
  ): void {
    const round = this.s.round;
    const task = this.taskOf(siteId, taskId);
    const secure = round?.attempt?.secure;
    if (!round || !task || !secure)
      return this.refuse('WRONG_TASK', `no task ${taskId} is open for ${siteId}`);
    if (step === 'keys') {
      if (this.drop(siteId, `secure aggregation refused its keys (${code})`))
        this.setTask(taskId, 'rejected');
    } else if (
      secure.step?.name === step &&
      secure.step.expected.includes(siteId) &&
      !secure.step.gone.includes(siteId)
    ) {
      secure.step.gone.push(siteId);
      delete secure.step.graceUntil[siteId];
      this.log('warn', 'site dropped from the secure aggregation step', { site: siteId, step, code });
    }
    this.refusal = { code: 'MALFORMED', reason: `${code}: ${reason}`, checkCode: code };
  }

  private secureClosed(event: Extract<EngineEvent, { type: 'secagg-closed' }>): void {
    const round = this.s.round;
    const secure = round?.attempt?.secure;
    const step = secure?.step;
    if (!round || round.phase !== 'open' || !secure || !step?.opening) return;
    if (secure.settings.sessionId !== event.sessionId) return;
    if (!event.ok) return this.retryOrFail(round, event.reason);
    step.opening = false;
    step.deadlineMs = this.now + this.deadlineMs;
  }

  /** Screens the admitted updates with the round-level checks, then asks for the fold. */
  private aggregateFit(round: RoundRun, answered: string[]): void {
    const attempt = round.attempt!;
    const entries = answered.filter((id) => attempt.updates[id]).map((id) => attempt.updates[id]);
    const { accepted, rejected } = screenEntries(entries);
    for (const r of rejected) {
      this.emit({
        kind: 'set-update-status',
        taskId: attempt.sites[r.siteId].taskId,
        status: 'rejected',
        reason: `${r.code}: ${r.reason}`,
      });
      this.emit({
        kind: 'audit',
        entry: {
          actor: `site:${r.siteId}`,
          action: 'update.rejected',
          target: 'update',
          outcome: 'rejected',
          detail: { code: r.code, reason: r.reason },
          refusal: true,
        },
      });
    }
    if (accepted.length < Math.max(1, this.quorum)) {
      return this.failRound(`${accepted.length} update(s) survived the round checks, ${this.quorum} needed`);
    }
    const command: AggregateCommand = {
      kind: 'aggregate',
      what: isTokenCentring(round.step) ? 'token-centre' : 'fit',
      runId: this.s.runId,
      step: round.step,
      globalDigest: round.modelDigest,
      updates: accepted.map((e) => attempt.updates[e.siteId]),
    };
    this.emit(command);
  }

  private aggregationFinished(event: Extract<EngineEvent, { type: 'aggregation-finished' }>): void {
    const round = this.s.round;
    if (round?.phase !== 'aggregating') return;
    const { step } = round;
    const attempt = round.attempt!;
    if (step.stage !== 'evaluate') {
      // A secure round stored no update, so it has no update row to mark.
      if (!attempt.secure)
        for (const siteId of event.sites ?? [])
          this.emit({
            kind: 'set-update-status',
            taskId: attempt.sites[siteId].taskId,
            status: 'aggregated',
          });
      const recordedAt = iso(this.now);
      const row = (name: string, value: number, siteId?: string) => ({
        runId: this.s.runId,
        stage: step.stage,
        round: step.round,
        ...(siteId ? { siteId } : {}),
        name: `train/${name}`,
        value,
        recordedAt,
      });
      this.emit({
        kind: 'record-metrics',
        metrics: [
          // The fold's sample-weighted means, then what each folded site reported (its own loss…).
          ...Object.entries(event.metrics ?? {}).map(([name, value]) => row(name, value)),
          ...(event.sites ?? []).flatMap((siteId) =>
            Object.entries(attempt.updates[siteId]?.metrics ?? attempt.secure?.metrics[siteId] ?? {}).map(
              ([name, value]) => row(name, value, siteId),
            ),
          ),
        ],
      });
      this.s.global = event.outputDigest;
      // The centring round has no strategy state to resume from: a restart restores the last
      // strategy fold's (FedAdam's moments are those of the SSL stage's last round, or none).
      if (!isTokenCentring(step)) this.s.lastDoneTraining = step;
    }
    this.s.modelBytes[event.outputDigest] = event.outputBytes;
    this.updateRound(step, { state: 'done', outputDigest: event.outputDigest, endedAt: iso(this.now) });
    this.s.recorded[roundKey(step)] = {
      stage: step.stage,
      round: step.round,
      state: 'done',
      outputDigest: event.outputDigest,
      lastAttempt: attempt.storedAttempt,
    };
    const sites = Object.keys(attempt.sites).filter((id) => attempt.sites[id].outcome === 'answered');
    this.log('info', 'round done', { ...step, sites });
    this.s.round = undefined;
    this.s.next++;
  }

  /**
   * The local-only training round ends without a fold: each answering site's update stays stored
   * as accepted (never 'aggregated', never in the global) and its own metrics are recorded (its
   * `val_threshold` travels with its model into the cross-site rounds). The round has no output
   * model, so a restarted coordinator does not take it for the run's global.
   */
  private localOnlyTrained(round: RoundRun, answered: string[]): void {
    const { step } = round;
    const attempt = round.attempt!;
    const recordedAt = iso(this.now);
    this.emit({
      kind: 'record-metrics',
      metrics: answered.flatMap((siteId) =>
        Object.entries(attempt.updates[siteId]?.metrics ?? {}).map(([name, value]) => ({
          runId: this.s.runId,
          stage: step.stage,
          round: step.round,
          siteId,
          name: `train/${name}`,
          value,
          recordedAt,
        })),
      ),
    });
    this.updateRound(step, { state: 'done', endedAt: recordedAt });
    this.s.recorded[roundKey(step)] = {
      stage: step.stage,
      round: step.round,
      state: 'done',
      lastAttempt: attempt.storedAttempt,
    };
    this.log('info', 'local-only models trained', { ...step, sites: answered });
    this.s.round = undefined;
    this.s.next++;
  }

  private failRound(reason: string): void {
    const round = this.s.round!;
    const { step } = round;
    this.updateRound(step, { state: 'failed', reason, endedAt: iso(this.now) });
    this.s.round = undefined;
    const where = step.localModel
      ? `cross-site evaluation of ${step.localModel.siteId}'s model (evaluate round ${step.round})`
      : isLocalOnlyTraining(step)
        ? `local-only training for the cross-site matrix (${step.stage} round ${step.round})`
        : `${step.stage} round ${step.round}`;
    this.endRun('fail', `${where}: ${reason}`);
  }

  private endRun(outcome: 'complete' | 'fail', reason?: string, finalDigest?: string): void {
    this.s.phase = 'ended';
    this.s.ended = { outcome, reason, finalDigest };
    this.emit({ kind: 'end-run', runId: this.s.runId, outcome, reason, finalDigest });
  }

  /** An admin stopped the run (its state already says so): the open round fails, nothing else runs. */
  private stop(reason: string): void {
    const round = this.s.round;
    if (round) {
      if (round.attempt && round.phase === 'open') this.endAttempt(round.attempt);
      this.updateRound(round.step, { state: 'failed', reason, endedAt: iso(this.now) });
      this.s.round = undefined;
    }
    this.log('info', 'run stopped: round driver ends', {});
    this.s.phase = 'ended';
    this.s.ended = { outcome: 'stopped', reason };
  }

  /** The attempt is over: sites still waiting timed out. */
  private endAttempt(attempt: AttemptState): void {
    for (const task of Object.values(attempt.sites)) {
      task.graceUntil = undefined;
      if (task.outcome === 'waiting') this.setTask(task.taskId, 'timed-out');
    }
  }

  // ── Sites' answers ────────────────────────────────────────────────────────────────────────

  private updateReceived(
    siteId: string,
    taskId: string,
    update: ReceivedUpdate,
    entry: Extract<EngineEvent, { type: 'update-received' }>['entry'],
  ): void {
    const round = this.s.round;
    const task = this.taskOf(siteId, taskId);
    if (!round || !task) return this.refuse('WRONG_TASK', `no task ${taskId} is open for ${siteId}`);
    if (round.phase !== 'open' || round.step.stage === 'evaluate')
      return this.refuse('WRONG_ROUND', `round ${round.step.round} is no longer collecting`);
    if (round.attempt!.secure)
      return this.refuse(
        'UNEXPECTED_MESSAGE',
        'this round runs secure aggregation: a clear update is never taken (send the secagg steps)',
      );
    if (task.outcome !== 'waiting')
      return this.refuse('WRONG_TASK', `${siteId} is no longer part of this round`);
    task.outcome = 'answered';
    task.graceUntil = undefined;
    round.attempt!.updates[siteId] = { ...entry, digest: update.digest };
    this.emit({
      kind: 'store-update',
      update: this.updateRow(round, siteId, taskId, update, 'accepted'),
      payload: update.payload,
    });
    this.setTask(taskId, 'received');
    this.log('info', 'update accepted', { stage: round.step.stage, round: round.step.round, site: siteId });
  }

  /**
   * An authentic update the gate refused: recorded (row) and the site is out of this attempt —
   * its answer was invalid, so waiting for it to the deadline would only delay the round.
   */
  private updateRefused(
    siteId: string,
    taskId: string,
    update: ReceivedUpdate,
    code: string,
    reason: string,
  ): void {
    const round = this.s.round;
    const task = this.taskOf(siteId, taskId);
    if (!round || !task) return this.refuse('WRONG_TASK', `no task ${taskId} is open for ${siteId}`);
    if (round.phase !== 'open')
      return this.refuse('WRONG_ROUND', `round ${round.step.round} is no longer collecting`);
    const rejectReason = `${code}: ${reason}`;
    this.emit({
      kind: 'store-update',
      update: { ...this.updateRow(round, siteId, taskId, update, 'rejected'), rejectReason },
    });
    if (this.drop(siteId, `update rejected (${code})`)) this.setTask(taskId, 'rejected');
    // The ack carries a protocol code; the gate's own code leads the reason and the audit entry.
    this.refusal = { code: 'MALFORMED', reason: rejectReason, checkCode: code };
  }

  private evaluationReceived(event: Extract<EngineEvent, { type: 'evaluation-received' }>): void {
    const { siteId, taskId, result } = event;
    const round = this.s.round;
    const task = this.taskOf(siteId, taskId);
    if (!round || !task) return this.refuse('WRONG_TASK', `no task ${taskId} is open for ${siteId}`);
    if (round.step.stage !== 'evaluate' || round.phase !== 'open')
      return this.refuse('WRONG_STAGE', 'no evaluation is open for this site');
    if (result.modelDigest !== round.modelDigest)
      return this.refuse('DIGEST_MISMATCH', 'evaluated another model than the one sent');
    if (task.outcome !== 'waiting')
      return this.refuse('WRONG_TASK', `${siteId} already answered or was dropped`);
    const pairing = pairingProblem(compareWithOf(this.spec.plan, round.step), result);
    // Never taken as an answer: an unpaired (or wrongly paired) result would drop out of the
    // comparison silently. The site is out of this attempt, like a site whose update was refused.
    if (pairing) {
      if (this.drop(siteId, `evaluation refused: ${pairing}`)) this.setTask(taskId, 'rejected');
      return this.refuse('MALFORMED', pairing);
    }
    task.outcome = 'answered';
    task.graceUntil = undefined;
    round.attempt!.evaluations[siteId] = result;
    this.setTask(taskId, 'received');
  }

  // ── Disconnect grace ──────────────────────────────────────────────────────────────────────

  /**
   * A socket can drop for seconds (a proxy, Wi-Fi, a laptop lid) while the agent trains on and
   * delivers its update after reconnecting. A site that left mid-round keeps its task until
   * min(now + grace, deadline), unless its status after reconnecting says it lost it; a killed
   * agent never comes back and is dropped when its grace ends, long before the deadline.
   */
  private siteLeft(siteId: string): void {
    const step = this.openSecureStep();
    if (step) {
      if (!step.expected.includes(siteId) || step.sent.includes(siteId) || step.gone.includes(siteId)) return;
      const graceMs = this.spec.disconnectGraceMs ?? DEFAULT_DISCONNECT_GRACE_MS;
      step.graceUntil[siteId] = Math.min(this.now + graceMs, step.deadlineMs);
      this.log('warn', 'site disconnected during a secure aggregation step', {
        site: siteId,
        step: step.name,
      });
      return;
    }
    const round = this.s.round;
    const task = round?.phase === 'open' ? round.attempt?.sites[siteId] : undefined;
    if (!round || !task || task.outcome !== 'waiting') return;
    const graceMs = this.spec.disconnectGraceMs ?? DEFAULT_DISCONNECT_GRACE_MS;
    task.graceUntil = Math.min(this.now + graceMs, round.attempt!.deadlineMs);
    this.log(
      'warn',
      'site disconnected mid-round: it keeps its task if it reconnects within the grace period',
      {
        site: siteId,
        graceMs: task.graceUntil - this.now,
      },
    );
  }

  private siteStatus(
    siteId: string,
    state: Parameters<typeof reconnectVerdict>[0]['state'],
    taskId?: string,
  ): void {
    const step = this.openSecureStep();
    if (step) {
      if (step.graceUntil[siteId] === undefined) return;
      delete step.graceUntil[siteId];
      const own = this.s.round!.attempt!.sites[siteId]?.taskId;
      if (own && reconnectVerdict({ state, taskId }, own) === 'drop') step.gone.push(siteId);
      return;
    }
    const round = this.s.round;
    const task = round?.phase === 'open' ? round.attempt?.sites[siteId] : undefined;
    if (!task || task.graceUntil === undefined || task.outcome !== 'waiting') return;
    task.graceUntil = undefined;
    if (reconnectVerdict({ state, taskId }, task.taskId) === 'drop') {
      if (this.drop(siteId, `reconnected without its task (${state})`))
        this.setTask(task.taskId, 'timed-out');
    } else {
      this.log('info', 'site reconnected mid-round and keeps its task', { site: siteId });
    }
  }

  private expireGraces(): void {
    const step = this.openSecureStep();
    if (step) {
      for (const [siteId, until] of Object.entries(step.graceUntil)) {
        if (until > this.now) continue;
        delete step.graceUntil[siteId];
        step.gone.push(siteId);
        this.log('warn', 'site dropped from the secure aggregation step', { site: siteId, step: step.name });
      }
      return;
    }
    const attempt = this.s.round?.phase === 'open' ? this.s.round.attempt : undefined;
    if (!attempt) return;
    for (const [siteId, task] of Object.entries(attempt.sites)) {
      if (task.graceUntil === undefined || task.graceUntil > this.now) continue;
      task.graceUntil = undefined;
      if (this.drop(siteId, 'disconnected')) this.setTask(task.taskId, 'timed-out');
    }
  }

  // ── Small helpers ─────────────────────────────────────────────────────────────────────────

  /** The SecAgg step after the keys that runs now, if any. */
  private openSecureStep() {
    const round = this.s.round;
    return round?.phase === 'open' ? round.attempt?.secure?.step : undefined;
  }

  /** The site no longer counts in this attempt; false if it was not waiting. */
  /** A site refused the run's plan (consent): the audit log and the run's results show it. */
  private auditPlanRefusal(siteId: string, code: string, reason: string | undefined): void {
    this.emit({
      kind: 'audit',
      entry: {
        actor: `site:${siteId}`,
        action: 'plan.refused',
        target: this.s.runId,
        outcome: 'rejected',
        detail: { code, reason: reason ?? null },
      },
    });
  }

  private drop(siteId: string, reason: string): boolean {
    const round = this.s.round;
    const task = round?.phase === 'open' ? round.attempt?.sites[siteId] : undefined;
    if (!task || task.outcome !== 'waiting') return false;
    task.outcome = 'dropped';
    task.dropReason = reason;
    task.graceUntil = undefined;
    this.log('warn', 'site dropped from the round', { site: siteId, reason });
    return true;
  }

  /** The site's task in the current attempt, if `taskId` names it. */
  private taskOf(siteId: string, taskId: string) {
    const task = this.s.round?.attempt?.sites[siteId];
    return task?.taskId === taskId && this.s.round?.phase !== 'selecting' ? task : undefined;
  }

  /** Linked sites the plan allows, in site-id order. */
  private eligibleSites(): string[] {
    const allowed = this.spec.plan.sites;
    return Array.isArray(allowed) ? this.s.linked.filter((id) => allowed.includes(id)) : [...this.s.linked];
  }

  private updateRow(
    round: RoundRun,
    siteId: string,
    taskId: string,
    update: ReceivedUpdate,
    status: 'accepted' | 'rejected',
  ) {
    return {
      taskId,
      runId: this.s.runId,
      stage: round.step.stage,
      round: round.step.round,
      siteId,
      digest: update.digest,
      signature: update.signature,
      bytes: update.bytes,
      nSamples: update.nSamples,
      encoding: update.encoding,
      status,
      receivedAt: iso(this.now),
    };
  }

  private updateRound(
    step: RoundStep,
    changes: Extract<EngineCommand, { kind: 'update-round' }>['changes'],
  ): void {
    this.emit({ kind: 'update-round', runId: this.s.runId, stage: step.stage, round: step.round, changes });
  }

  private setTask(taskId: string, state: Extract<EngineCommand, { kind: 'set-task-state' }>['state']): void {
    this.emit({ kind: 'set-task-state', taskId, state });
  }

  private log(level: 'info' | 'warn', message: string, fields: Record<string, unknown>): void {
    this.emit({ kind: 'log', level, message, fields: { run: this.s.runId, ...fields } });
  }

  private refuse(code: ProtocolErrorCode, reason: string): void {
    this.refusal = { code, reason };
  }

  private emit(command: EngineCommand): void {
    this.commands.push(command);
  }

  /** Asks for a tick at the earliest time something is due (a deadline, a grace, a wait). */
  private scheduleWake(): void {
    const s = this.s;
    const due: number[] = [];
    if (s.phase === 'waiting-for-sites' && s.waitUntil !== undefined) due.push(s.waitUntil);
    const round = s.round;
    if (s.phase === 'running' && round?.phase === 'selecting') due.push(round.selectUntil);
    const secureStep = s.phase === 'running' ? this.openSecureStep() : undefined;
    if (secureStep) {
      if (!secureStep.opening) due.push(secureStep.deadlineMs);
      due.push(...Object.values(secureStep.graceUntil));
    } else if (s.phase === 'running' && round?.phase === 'open' && round.attempt) {
      due.push(round.attempt.deadlineMs);
      for (const task of Object.values(round.attempt.sites))
        if (task.graceUntil !== undefined && task.outcome === 'waiting') due.push(task.graceUntil);
    }
    const next = due.length > 0 ? Math.min(...due) : undefined;
    if (next === undefined || next === s.wakeAt) return;
    s.wakeAt = next;
    this.emit({ kind: 'wake-at', atMs: next });
  }
}

function isAnswer(event: EngineEvent): boolean {
  return (
    event.type === 'update-received' ||
    event.type === 'update-refused' ||
    event.type === 'evaluation-received'
  );
}

/** Why an evaluation does not answer the round's pairing (a paired round, or paired aggregates unasked). */
function pairingProblem(compareWith: string[] | undefined, result: EvalResultBody): string | undefined {
  const got = (result.paired ?? []).map((p) => p.modelDigest);
  if (!compareWith) return got.length ? 'paired aggregates in a round that compares no models' : undefined;
  if (got.length !== compareWith.length || got.some((d, i) => d !== compareWith[i]))
    return `a paired evaluation must return the pair's aggregates for each of the ${compareWith.length} compared model(s), in order`;
  return undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Log } from '../../../../libs/common/src';
import {
  DEFAULT_DISCONNECT_GRACE_MS,
  DriverClock,
  EngineEvent,
  openTaskOf,
  RequestCommand,
  RunDriver,
  SecAggCloseCommand,
  SecAggSessions,
  SecAggSiteMessage,
  SecAggStepName,
  Strategy,
  TaskToSend,
  TrainingStage,
} from '../../../../libs/federated/src';
import type { SecureOutgoing } from '../../../site-agent/src/site-work';
import type { ConsentRefusalCode, EvalResultBody, TaskBody, UpdateBody } from '../../../../libs/protocol/src';
import { planDigest } from '../../../../libs/protocol/src/consent';
import { AuditService } from '../../../coordinator/src/audit/audit.service';
import { BlobStore } from '../../../coordinator/src/models/blob-store';
import { RunRecord, SqliteStore } from '../../../coordinator/src/persistence';
import { FoldRunner } from '../../../coordinator/src/rounds/fold-runner';
import { GlobalModels } from '../../../coordinator/src/rounds/global-models';
import { RunLedger } from '../../../coordinator/src/rounds/run-ledger';
import { StrategyStateKeeper } from '../../../coordinator/src/rounds/strategy-state';
import { taskBodyOf } from '../../../coordinator/src/rounds/task-body';
import { taskPayload } from '../../../coordinator/src/rounds/task-payload';
import { UpdateAdmission } from '../../../coordinator/src/rounds/update-admission';
import { RunPlanDto } from '../../../coordinator/src/runs/dto/run-plan.dto';
import { canonicalPlan, strategyOf } from '../../../coordinator/src/runs/run-plan';

/** What a simulated site answers to one task: what its agent would have signed and sent. */
export type SiteAnswer =
  | { kind: 'declined'; reason: string; refusalCode?: ConsentRefusalCode }
  | { kind: 'update'; body: Pick<UpdateBody, 'kind' | 'nSamples' | 'metrics' | 'encoding'>; payload: Buffer }
  /** A secure round: the site's SecAgg state machine and input, carried through the steps in memory. */
  | { kind: 'secure'; outgoing: SecureOutgoing; metrics: Record<string, number> }
  | {
      kind: 'evaluation';
      result: Omit<EvalResultBody, 'sender' | 'nonce' | 'timestamp' | 'crossFieldProblem'>;
    };

/**
 * One hospital in a simulation: the site's real task executors behind an in-memory port (no
 * socket, no keys). `run` gets the task body the coordinator would sign and the model bytes it
 * would send, and answers with what the agent would send back.
 */
export interface SimulatedSite {
  readonly siteId: string;
  run(task: TaskBody, model: Uint8Array): Promise<SiteAnswer>;
  /** The site approves the plan with this digest (the simulator approves its own plan, explicitly). */
  approvePlan?(digest: string): void;
}

export interface SimulationOptions {
  /** The validated plan (as `validatePlan` returns it); its `initialModel` is replaced. */
  plan: RunPlanDto;
  /** The encoded initial global model (the plan's initialModel becomes its digest). */
  initialModel: Uint8Array;
  /**
   * Encoded models the final global is compared with in the paired evaluation round (protocol
   * 1.3): stored like the initial model, their digests become the plan's `evaluation.compareWith`.
   */
  compareModels?: readonly Uint8Array[];
  sites: readonly SimulatedSite[];
  /** Holds the coordinator's SQLite store and blob store of this simulation. */
  workDir: string;
  log: Log;
  /** Called after every round that closed (done or failed). */
  onRound?: (round: { stage: string; round: number; state: string }) => void;
}

export interface SimulationOutcome {
  runId: string;
  state: 'completed' | 'failed';
  reason?: string;
  /** SHA-512 of the final global model's bytes (what a socket-based run reports). */
  finalDigest?: string;
  store: SqliteStore;
  blobs: BlobStore;
  /** Virtual seconds the run took by the engine's clock (sites answer instantly in it). */
  virtualSeconds: number;
  /** Where the coordinator's own time went (real ms), for `bench federation`. */
  timings: SimulationTimings;
}

export interface SimulationTimings {
  /** Time of each engine step (`engineStep` inside `feed`), one per event, in order. */
  engineStepMs: number[];
  /** Time in the strategy folds and other requests the engine waits on (FoldRunner). */
  foldMs: number;
}

/**
 * A whole federated run in one process, on the production round engine: the same RunDriver and
 * engine, the same RunLedger (SQLite store), FoldRunner (strategy folds) and UpdateAdmission (gate)
 * as the coordinator, with sites as in-memory ports calling the real site executors. Time is
 * virtual: it stands still while sites work and jumps to the engine's next wake-up only when
 * nothing is in flight, so a simulation never waits out a deadline and is reproducible.
 */
export async function runSimulation(options: SimulationOptions): Promise<SimulationOutcome> {
  const { log } = options;
  mkdirSync(options.workDir, { recursive: true, mode: 0o700 });
  const store = SqliteStore.open(join(options.workDir, 'coordinator.sqlite'));
  const blobs = await new BlobStore(join(options.workDir, 'blobs')).init();
  const audit = new AuditService(store, log);
  const models = new GlobalModels(blobs);
  const ledger = new RunLedger(store, blobs, audit, log);
  const sessions = new SecAggSessions();
  const folds = new FoldRunner(store, blobs, models, new StrategyStateKeeper(store, blobs), sessions);
  /** Secure rounds: each task's SecAgg participant (the site's side), by task id. */
  const participants = new Map<string, { siteId: string; outgoing: SecureOutgoing }>();
  const admission = new UpdateAdmission(models);

  const initial = await blobs.put(options.initialModel);
  if (options.compareModels?.length) {
    const compareWith = [];
    for (const m of options.compareModels) compareWith.push((await blobs.put(m)).digest);
    options.plan.evaluation = { ...options.plan.evaluation, compareWith };
  }
  const plan = JSON.parse(
    canonicalPlan(Object.assign(options.plan, { initialModel: initial.digest })),
  ) as RunPlanDto;
  const strategy = strategyOf(plan);
  const clock = new VirtualClock(Date.now());
  const runId = simulationRunId(plan);
  // Simulated sites are enrolled without keys: nothing in a simulation is signed.
  for (const site of options.sites) {
    await store.sites.upsert({
      id: site.siteId,
      publicKey: '',
      fingerprint: 'simulated',
      enrolledAt: new Date(clock.now()).toISOString(),
    });
  }
  await store.runs.insert(runRecord(runId, plan, clock.now()));
  // Each simulated hospital approves this plan (as `phcc-fed agent --approve HASH` would).
  for (const site of options.sites) site.approvePlan?.(planDigest(plan));

  const sites = new Map(options.sites.map((s) => [s.siteId, s]));
  const work = new InFlight();
  let finalDigest: string | undefined;
  let crash: unknown;
  // One site works at a time: tfjs runs on this one thread anyway, and a fixed order keeps the
  // run's timeline the same from run to run (the fold order is by site id either way).
  let siteQueue: Promise<void> = Promise.resolve();
  const timings: SimulationTimings = { engineStepMs: [], foldMs: 0 };
  /** `driver.feed`, timed: the engine steps synchronously inside it, its commands run later. */
  const feed = (event: EngineEvent): ReturnType<RunDriver['feed']> => {
    const t0 = performance.now();
    const done = driver.feed(event);
    timings.engineStepMs.push(performance.now() - t0);
    return done;
  };

  const driver: RunDriver = new RunDriver(
    {
      runId,
      plan,
      strategy,
      disconnectGraceMs: DEFAULT_DISCONNECT_GRACE_MS,
      sitePlan: plan as unknown as Record<string, unknown>,
    },
    {
      record: async (command) => {
        if (command.kind === 'end-run') finalDigest = command.finalDigest;
        if (command.kind === 'update-round' && ['done', 'failed'].includes(command.changes.state ?? '')) {
          options.onRound?.({ stage: command.stage, round: command.round, state: command.changes.state! });
        }
        await ledger.record(command);
      },
      request: (command) => {
        if (command.kind === 'send-task') {
          const task = command.task;
          work.add((siteQueue = siteQueue.then(() => carryOut(command.siteId, task))));
        } else if (command.kind === 'secagg-close') {
          work.add((siteQueue = siteQueue.then(() => closeSecureStep(command))));
        } else work.add(answerRequest(command, strategy));
      },
      crashed: (err) => {
        crash = err;
      },
    },
    clock,
  );

  /** The task's way to the site and back, as the dispatcher, the agent and the intake do it. */
  async function carryOut(siteId: string, task: TaskToSend): Promise<void> {
    const site = sites.get(siteId);
    if (!site) {
      await feed({
        type: 'task-failed',
        siteId,
        taskId: task.taskId,
        reason: 'no such simulated site',
      });
      return;
    }
    const model = await models.get(task.globalWeightsDigest);
    // What the dispatcher attaches (a paired evaluation's model bundle included).
    const payload = await taskPayload(task, models);
    const secure = task.config.secureAggregation;
    if (secure) sessions.open(secure, strategy.uploadLayout(model.layout(), task.stage as TrainingStage));
    await feed({ type: 'task-delivered', siteId, taskId: task.taskId });
    let answer: SiteAnswer;
    try {
      answer = await site.run(taskBodyOf(task, clock.now()), payload.bytes);
    } catch (err) {
      answer = { kind: 'declined', reason: `task failed at the site: ${(err as Error).message}` };
    }
    if (answer.kind === 'declined') {
      await feed({
        type: 'task-acked',
        siteId,
        taskId: task.taskId,
        accepted: false,
        reason: answer.reason,
        ...(answer.refusalCode ? { refusalCode: answer.refusalCode } : {}),
      });
      return;
    }
    await feed({ type: 'task-acked', siteId, taskId: task.taskId, accepted: true });
    const open = openTaskOf(driver.state, siteId);
    if (!open || open.taskId !== task.taskId) return; // the round moved on without this site
    if (answer.kind === 'evaluation') {
      const result = {
        ...answer.result,
        sender: siteId,
        nonce: '',
        timestamp: clock.now(),
      } as EvalResultBody;
      await feed({ type: 'evaluation-received', siteId, taskId: task.taskId, result });
      return;
    }
    if (answer.kind === 'secure') {
      participants.set(task.taskId, { siteId, outgoing: answer.outgoing });
      await admitSecure(
        siteId,
        'keys',
        () => ({ step: 'keys', advert: answer.outgoing.site.advertise() }),
        answer.metrics,
      );
      return;
    }
    const digest = createHash('sha512').update(answer.payload).digest('hex');
    const event = await admission.admit(siteId, open, strategy, answer.body, {
      digest,
      signature: '',
      bytes: answer.payload.length,
      nSamples: answer.body.nSamples,
      encoding: answer.body.encoding,
      payload: answer.payload,
    });
    await feed(event);
  }

  /**
   * A site's SecAgg message, as the coordinator's intake takes it: only when the engine says the
   * site may send this step now, admitted into the session, then fed (or refused, dropping it).
   */
  async function admitSecure(
    siteId: string,
    step: SecAggStepName,
    message: () => SecAggSiteMessage,
    metrics?: Record<string, number>,
  ): Promise<void> {
    const open = openTaskOf(driver.state, siteId);
    if (!open?.secure?.accepting || open.secure.step !== step) return;
    const scope = { siteId, taskId: open.taskId, step };
    try {
      sessions.receive(open.secure.sessionId, message());
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'SECAGG_MALFORMED';
      await feed({ type: 'secagg-refused', ...scope, code, reason: (err as Error).message });
      return;
    }
    await feed({ type: 'secagg-received', ...scope, ...(metrics ? { metrics } : {}) });
  }

  /** The engine closes a SecAgg step: the session answers, then each member takes the next step. */
  async function closeSecureStep(command: SecAggCloseCommand): Promise<void> {
    const base = { sessionId: command.sessionId, step: command.closing };
    let outgoing;
    try {
      outgoing = sessions.close(command.sessionId, command.closing);
    } catch (err) {
      sessions.discard(command.sessionId);
      await feed({ type: 'secagg-closed', ...base, ok: false, reason: (err as Error).message });
      return;
    }
    await feed({ type: 'secagg-closed', ...base, ok: true });
    for (const message of outgoing) {
      const participant = participants.get(command.taskIds[message.to]);
      if (!participant) continue;
      const { site, input } = participant.outgoing;
      if (message.next === 'shares')
        await admitSecure(message.to, 'shares', () => ({
          step: 'shares',
          shares: site.shareKeys(message.directory),
        }));
      else if (message.next === 'masked')
        await admitSecure(message.to, 'masked', () => ({
          step: 'masked',
          masked: site.maskInput(message.inbox, input),
        }));
      else
        await admitSecure(message.to, 'unmask', () => ({
          step: 'unmask',
          unmask: site.unmask(message.request),
        }));
    }
  }

  async function answerRequest(command: RequestCommand, strategyOfRun: Strategy): Promise<void> {
    let event: EngineEvent;
    const t0 = performance.now();
    switch (command.kind) {
      case 'aggregate':
        event = await folds.aggregate(command, strategyOfRun);
        break;
      case 'restore-strategy':
        event = await folds.restoreStrategy(command, strategyOfRun);
        break;
      case 'build-local-models':
        event = await folds.buildLocalModels(command, strategyOfRun);
        break;
      default:
        return;
    }
    timings.foldMs += performance.now() - t0;
    await feed(event);
  }

  work.add(
    feed({
      type: 'run-started',
      linkedSites: [...sites.keys()],
      recordedRounds: [],
      initialModelBytes: initial.bytes,
    }),
  );
  // The event loop of the simulation: let everything in flight settle, then let time pass.
  for (;;) {
    await work.settled();
    await driver.drained();
    if (crash) throw crash;
    if (driver.ended || work.busy) {
      if (driver.ended && !work.busy) break;
      continue;
    }
    if (!clock.advance()) {
      await ledger.endRun(runId, 'fail', 'the simulation stalled: nothing in flight and no wake-up due');
      break;
    }
  }
  const run = await store.runs.get(runId);
  return {
    runId,
    state: run?.state === 'completed' ? 'completed' : 'failed',
    reason: run?.reason,
    finalDigest,
    store,
    blobs,
    virtualSeconds: (clock.now() - clock.startedAt) / 1000,
    timings,
  };
}

/** A discrete-event clock: `now` moves only when `advance` jumps it to the pending wake-up. */
export class VirtualClock implements DriverClock {
  private current: number;
  private pending: { atMs: number; tick: () => void } | undefined;

  constructor(readonly startedAt: number) {
    this.current = startedAt;
  }

  now(): number {
    return this.current;
  }

  wakeAt(atMs: number | undefined, tick: () => void): void {
    this.pending = atMs === undefined ? undefined : { atMs, tick };
  }

  /** Jumps to the wake-up and fires it; false when none is pending. */
  advance(): boolean {
    const next = this.pending;
    if (!next) return false;
    this.pending = undefined;
    this.current = Math.max(this.current, next.atMs);
    next.tick();
    return true;
  }
}

/** Promises still running; `settled` waits until none is, including those added meanwhile. */
class InFlight {
  private readonly running = new Set<Promise<unknown>>();

  get busy(): boolean {
    return this.running.size > 0;
  }

  add(work: Promise<unknown>): void {
    const tracked = work.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}

/** A run id that says it was simulated, unique per plan and start. */
function simulationRunId(plan: RunPlanDto): string {
  const hash = createHash('sha256').update(canonicalPlan(plan)).digest('hex').slice(0, 8);
  return `sim-${new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)}-${hash}`;
}

function runRecord(id: string, plan: RunPlanDto, now: number): RunRecord {
  const planJson = canonicalPlan(plan);
  return {
    id,
    name: plan.name ?? 'simulation',
    planJson,
    planDigest: createHash('sha512').update(planJson).digest('hex'),
    state: 'running',
    createdAt: new Date(now).toISOString(),
    startedAt: new Date(now).toISOString(),
  };
}

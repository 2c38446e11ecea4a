import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Log } from '../../../../libs/common/src';
import {
  DEFAULT_DISCONNECT_GRACE_MS,
  DriverClock,
  EngineEvent,
  openTaskOf,
  RecordedRound,
  Refusal,
  RequestCommand,
  RunDriver,
  Strategy,
} from '../../../../libs/federated/src';
import { AnySocket, SiteState } from '../../../../libs/protocol/src';
import { AuditService } from '../audit/audit.service';
import { coordinatorConfig } from '../config/coordinator-config';
import { COORDINATOR_LOG } from '../logging/nest-log-adapter';
import { BlobStore } from '../models/blob-store';
import { RunRecord } from '../persistence/records';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { RunPlanDto } from '../runs/dto/run-plan.dto';
import { strategyOf } from '../runs/run-plan';
import { ConnectedSites, LinkListener } from '../sites/connected-sites';
import { SitesService } from '../sites/sites.service';
import { FoldRunner } from './fold-runner';
import { GlobalModels } from './global-models';
import { OpenTasks, RoundIntake } from './round-intake';
import { RunLedger } from './run-ledger';
import { SecureRounds } from './secure-rounds';
import { StrategyStateKeeper } from './strategy-state';
import { DISPATCH_STALL_MS, TaskDispatcher } from './task-dispatcher';
import { CoordinatorMetrics } from '../metrics/coordinator-metrics';

/** How often the service looks for runs that were started, stopped, or left running by a previous process. */
export const RUN_POLL_MS = 250;

/** setTimeout's longest delay; a later wake-up is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface DrivenRun {
  driver: RunDriver;
  strategy: Strategy;
}

/**
 * Drives every running run with the round engine (libs/federated/src/engine): one RunDriver per
 * run, fed with the sites' comings and goings (ConnectedSites), their verified answers
 * (RoundIntake), wake-ups (setTimeout) and the admin's stops (the store, polled); its commands go
 * to the RunLedger (store), the TaskDispatcher (sign + send) and the FoldRunner (aggregate). Runs
 * are found by polling the store, so a run started through the admin API and one left `running`
 * by a killed coordinator are picked up the same way, the latter at its first unfinished round.
 */
@Injectable()
export class RoundsService implements OnApplicationBootstrap, OnModuleDestroy, OpenTasks, LinkListener {
  readonly intake: RoundIntake;
  private readonly runs = new Map<string, DrivenRun | 'starting'>();
  private readonly models: GlobalModels;
  private readonly ledger: RunLedger;
  private readonly dispatcher: TaskDispatcher;
  private readonly folds: FoldRunner;
  private readonly secure: SecureRounds;
  /** Folds and other store-bound requests in progress: shutdown waits for them. */
  private readonly working = new Set<Promise<unknown>>();
  private readonly disconnectGraceMs: number;
  private poller: NodeJS.Timeout | undefined;
  private shuttingDown = false;

  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
    sites: SitesService,
    private readonly connected: ConnectedSites,
    audit: AuditService,
    @Inject(COORDINATOR_LOG) private readonly log: Log,
    config: ConfigService,
    private readonly metrics: CoordinatorMetrics,
  ) {
    this.models = new GlobalModels(blobs);
    this.ledger = new RunLedger(store, blobs, audit, log);
    this.dispatcher = new TaskDispatcher(
      (siteId) => {
        const connection = connected.get(siteId);
        return connection?.socket
          ? { socket: connection.socket, protocolMinor: connection.protocolMinor }
          : undefined;
      },
      () => sites.coordinatorKeys.secretKey,
      this.models,
      log,
      DISPATCH_STALL_MS,
      (bytes) => metrics.countBytes('out', bytes),
    );
    this.secure = new SecureRounds(
      (siteId) => connected.get(siteId)?.socket,
      () => sites.coordinatorKeys.secretKey,
      this.models,
      log,
    );
    this.folds = new FoldRunner(
      store,
      blobs,
      this.models,
      new StrategyStateKeeper(store, blobs),
      this.secure.sessions,
    );
    this.intake = new RoundIntake(
      sites.keyring,
      this,
      this.models,
      audit,
      log,
      {
        refused: (code) => metrics.countRefusal(code),
        received: (bytes) => metrics.countBytes('in', bytes),
      },
      this.secure.sessions,
    );
    this.disconnectGraceMs = coordinatorConfig(config).disconnectGraceMs ?? DEFAULT_DISCONNECT_GRACE_MS;
    connected.listen(this);
  }

  onApplicationBootstrap(): void {
    this.poller = setInterval(() => void this.pollRuns(), RUN_POLL_MS);
    this.poller.unref();
    void this.pollRuns();
  }

  /**
   * Runs first on close, before the gateway drops its sockets and the store closes: drivers stop
   * where they are (the run stays `running`, to resume on restart) instead of mistaking the
   * disconnects for dropped sites; what they were writing is finished first.
   */
  async onModuleDestroy(): Promise<void> {
    this.shuttingDown = true;
    if (this.poller) clearInterval(this.poller);
    const driven = [...this.runs.values()].filter((r): r is DrivenRun => r !== 'starting');
    for (const run of driven) run.driver.halt();
    await Promise.allSettled([...driven.map((r) => r.driver.drained()), ...this.working]);
  }

  /** Called by the gateway for every authenticated connection: round messages arrive on it. */
  attach(siteId: string, socket: AnySocket): void {
    this.intake.attach(siteId, socket);
  }

  /** Called by the gateway for every verified `status` (after a reconnect it ends a disconnect grace). */
  siteStatus(siteId: string, status: { state: SiteState; taskId?: string }): void {
    this.broadcast({ type: 'site-status', siteId, state: status.state, taskId: status.taskId });
  }

  siteLinked(siteId: string): void {
    this.broadcast({ type: 'site-linked', siteId });
  }

  siteLeft(siteId: string): void {
    this.broadcast({ type: 'site-left', siteId });
  }

  openTask(siteId: string): ReturnType<OpenTasks['openTask']> {
    for (const run of this.runs.values()) {
      if (run === 'starting') continue;
      const task = openTaskOf(run.driver.state, siteId);
      if (task) return { task, strategy: run.strategy };
    }
    return undefined;
  }

  feed(runId: string, event: EngineEvent): Promise<{ refusal?: Refusal }> {
    const run = this.runs.get(runId);
    if (!run || run === 'starting')
      return Promise.resolve({ refusal: { code: 'WRONG_RUN', reason: 'the run is not running' } });
    return run.driver.feed(event);
  }

  private broadcast(event: EngineEvent): void {
    if (this.shuttingDown) return;
    for (const run of this.runs.values()) if (run !== 'starting') void run.driver.feed(event);
  }

  private async pollRuns(): Promise<void> {
    if (this.shuttingDown) return;
    try {
      for (const run of await this.store.runs.list()) {
        const driven = this.runs.get(run.id);
        if (!driven && run.state === 'running') void this.startRun(run);
        else if (driven && driven !== 'starting') {
          if (driven.driver.ended) {
            // Forgotten only once its last commands (the run's end) are written.
            void driven.driver
              .drained()
              .finally(() => this.runs.get(run.id) === driven && this.runs.delete(run.id));
          } else if (run.state !== 'running') {
            void driven.driver.feed({ type: 'stop', reason: 'the run was stopped' });
          }
        }
      }
    } catch (err) {
      this.log.error({ err: String(err) }, 'could not look for running runs');
    }
  }

  /** A run to drive: its plan, its strategy, and what the store already holds of its rounds. */
  private async startRun(run: RunRecord): Promise<void> {
    this.runs.set(run.id, 'starting');
    try {
      const plan = JSON.parse(run.planJson) as RunPlanDto;
      const strategy = strategyOf(plan);
      const recordedRounds = await this.recordedRounds(run.id);
      const initialModelBytes = plan.initialModel ? await this.blobs.size(plan.initialModel) : undefined;
      const driver = new RunDriver(
        {
          runId: run.id,
          plan,
          strategy,
          disconnectGraceMs: this.disconnectGraceMs,
          sitePlan: plan as unknown as Record<string, unknown>,
        },
        {
          record: (command) => this.ledger.record(command),
          request: (command, answer) => this.request(command, strategy, answer),
          crashed: (err) => this.crashed(run.id, err),
        },
        new TimerClock(),
      );
      if (this.shuttingDown) return;
      this.runs.set(run.id, { driver, strategy });
      await driver.feed({
        type: 'run-started',
        linkedSites: this.connected.siteIds(),
        recordedRounds,
        initialModelBytes,
      });
    } catch (err) {
      this.crashed(run.id, err);
    }
  }

  private async recordedRounds(runId: string): Promise<RecordedRound[]> {
    const recorded: RecordedRound[] = [];
    for (const round of await this.store.rounds.listForRun(runId)) {
      const tasks =
        round.state === 'done' ? [] : await this.store.tasks.listForRound(runId, round.stage, round.round);
      recorded.push({
        stage: round.stage,
        round: round.round,
        state: round.state,
        outputDigest: round.outputDigest,
        outputBytes: round.outputDigest ? await this.blobs.size(round.outputDigest) : undefined,
        lastAttempt: tasks.reduce((most, task) => Math.max(most, task.attempts), 0),
      });
    }
    return recorded;
  }

  private request(command: RequestCommand, strategy: Strategy, answer: (event: EngineEvent) => void): void {
    let work: Promise<EngineEvent>;
    switch (command.kind) {
      case 'send-task':
        // A secure task's session must exist before its site can answer with its keys.
        void this.secure
          .prepare(command.task, strategy)
          .then(() => this.dispatcher.send(command.siteId, command.task))
          .catch((err: unknown) => ({
            type: 'task-failed' as const,
            siteId: command.siteId,
            taskId: command.task.taskId,
            reason: `secure aggregation: ${err instanceof Error ? err.message : String(err)}`,
          }))
          .then(answer);
        return;
      case 'secagg-close':
        this.secure.close(command, answer);
        return;
      case 'aggregate': {
        const started = performance.now();
        work = this.folds.aggregate(command, strategy).then((event) => {
          if (command.what === 'fit')
            this.metrics.observeFold(command.step.stage, (performance.now() - started) / 1000);
          return event;
        });
        break;
      }
      case 'restore-strategy':
        work = this.folds.restoreStrategy(command, strategy);
        break;
      case 'build-local-models':
        work = this.folds.buildLocalModels(command, strategy);
        break;
    }
    this.working.add(work);
    void work.then(answer).finally(() => this.working.delete(work));
  }

  /** Something the engine cannot decide about went wrong (the store failed): the run fails. */
  private crashed(runId: string, err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.log.error({ run: runId, err: err instanceof Error ? err.stack : reason }, 'round driver failed');
    if (this.shuttingDown) return;
    void this.ledger
      .endRun(runId, 'fail', `internal error: ${reason}`)
      .catch((e) => this.log.error({ run: runId, err: String(e) }, 'could not fail the run'));
  }
}

/** The real clock for a RunDriver: one timer per run, never keeping the process alive. */
class TimerClock implements DriverClock {
  private timer: NodeJS.Timeout | undefined;

  now(): number {
    return Date.now();
  }

  wakeAt(atMs: number | undefined, tick: () => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (atMs === undefined) return;
    const arm = (): void => {
      const wait = atMs - Date.now();
      this.timer = setTimeout(
        () => (Date.now() >= atMs ? tick() : arm()),
        Math.min(Math.max(0, wait), MAX_TIMER_MS),
      );
      this.timer.unref();
    };
    arm();
  }
}

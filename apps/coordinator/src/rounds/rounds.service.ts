import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Log } from '../../../../libs/common/src';
import { createStrategy, EncodedUpdateSource, Strategy, UpdateGate } from '../../../../libs/federated/src';
import { decodeWeights, encodeWeights, layoutOf } from '../../../../libs/weights/src';
import {
  AnySocket,
  newNonce,
  sendTransfer,
  signEnvelope,
  SiteState,
  socketIoTransport,
} from '../../../../libs/protocol/src';
import { AuditService } from '../audit/audit.service';
import { coordinatorConfig } from '../config/coordinator-config';
import { summariseEvaluation } from '../evaluation/evaluation-results';
import { rebuildLocalModels } from '../evaluation/local-models';
import { COORDINATOR_LOG } from '../logging/nest-log-adapter';
import { BlobStore } from '../models/blob-store';
import { MetricRecord, RoundRecord, RunRecord } from '../persistence/records';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { RunPlanDto } from '../runs/dto/run-plan.dto';
import { strategySpecOf } from '../runs/run-plan';
import { RUN_TRANSITIONS } from '../runs/run-state';
import { SitesService } from '../sites/sites.service';
import { ActiveRound } from './active-round';
import { DEFAULT_DISCONNECT_GRACE_MS, DisconnectGrace, reconnectVerdict } from './disconnect-grace';
import { compareIds, RoundDecision, RoundStateMachine } from './round-state';
import { crossSiteSteps, RoundStep, runSteps, taskConfig, taskIdFor } from './run-schedule';
import { SiteInbox } from './site-inbox';
import { StrategyStateKeeper } from './strategy-state';

/** How often the service looks for runs that were started (or left running by a previous process). */
export const RUN_POLL_MS = 250;
/** Sent tasks wait this long for the site's transfer acks before the site is dropped from the round. */
const DISPATCH_STALL_MS = 15_000;

/** Thrown inside a driver when the coordinator shuts down: the run stays `running` and resumes on restart. */
class ShuttingDown extends Error {}
/** Thrown inside a driver when an admin stopped the run. */
class RunStopped extends Error {}

type RoundOutcome = { ok: true; outputDigest: string } | { ok: false; reason: string };

/**
 * Drives every running run through its rounds: dispatch signed tasks with the global weights,
 * collect answers through the SiteInbox, decide with the RoundStateMachine, aggregate with the
 * plan's libs/federated strategy, persist each step. Runs are found by polling the store, so a run
 * started through the admin API and a run left `running` by a killed coordinator are picked up the
 * same way — the latter at `rounds.firstUnfinished` (earlier rounds are done and skipped).
 */
@Injectable()
export class RoundsService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly inbox: SiteInbox;
  private readonly strategyStates: StrategyStateKeeper;
  private readonly drivers = new Map<string, Promise<void>>();
  private readonly active = new Map<string, ActiveRound>();
  private poller: NodeJS.Timeout | undefined;
  private shuttingDown = false;
  private readonly disconnectGraceMs: number;

  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
    private readonly sites: SitesService,
    private readonly audit: AuditService,
    @Inject(COORDINATOR_LOG) private readonly log: Log,
    config: ConfigService,
  ) {
    this.inbox = new SiteInbox(sites.keyring, store, blobs, audit, log, (siteId) => this.siteLeft(siteId));
    this.strategyStates = new StrategyStateKeeper(store, blobs);
    this.disconnectGraceMs = coordinatorConfig(config).disconnectGraceMs ?? DEFAULT_DISCONNECT_GRACE_MS;
  }

  onApplicationBootstrap(): void {
    this.poller = setInterval(() => void this.pickUpRuns(), RUN_POLL_MS);
    this.poller.unref();
    void this.pickUpRuns();
  }

  /**
   * Runs first on close, before the gateway drops its sockets and the store closes: drivers stop
   * where they are (the run stays `running`) instead of mistaking the disconnects for dropped sites.
   */
  async onModuleDestroy(): Promise<void> {
    this.shuttingDown = true;
    if (this.poller) clearInterval(this.poller);
    for (const round of this.active.values()) round.wake();
    await Promise.allSettled([...this.drivers.values()]);
  }

  /** Called by the gateway for every authenticated connection. */
  attach(siteId: string, socket: AnySocket, connectionId: string): void {
    this.inbox.attach(siteId, socket, connectionId);
  }

  detach(siteId: string, connectionId: string): void {
    this.inbox.detach(siteId, connectionId);
  }

  /**
   * Called by the gateway for every verified `status`. The one an agent sends after reconnecting
   * ends the grace of a site that left mid-round: it still holds its task (keep) or not (drop now).
   */
  siteStatus(siteId: string, status: { state: SiteState; taskId?: string }): void {
    for (const round of this.active.values()) {
      const taskId = round.tasks.get(siteId);
      if (!taskId || !round.grace.isPending(siteId) || !round.machine.isWaitingFor(siteId)) continue;
      round.grace.cancel(siteId);
      if (reconnectVerdict(status, taskId) === 'drop')
        this.dropSite(round, siteId, `reconnected without its task (${status.state})`);
      else this.log.info({ run: round.runId, site: siteId }, 'site reconnected mid-round and keeps its task');
    }
  }

  /** A site with a task left: it keeps the task for the grace period (docs: apps/coordinator/README.md). */
  private siteLeft(siteId: string): void {
    if (this.shuttingDown) return;
    for (const round of this.active.values()) {
      if (!round.tasks.has(siteId) || !round.machine.isWaitingFor(siteId)) continue;
      const endsAt = round.grace.start(siteId, Date.now(), round.machine.deadlineMs, () =>
        this.dropSite(round, siteId, 'disconnected'),
      );
      this.log.warn(
        { run: round.runId, site: siteId, graceMs: endsAt - Date.now() },
        'site disconnected mid-round: it keeps its task if it reconnects within the grace period',
      );
    }
  }

  private dropSite(round: ActiveRound, siteId: string, reason: string): void {
    if (this.shuttingDown || !round.machine.drop(siteId, reason)) return;
    void this.store.tasks.setState(round.tasks.get(siteId)!, 'timed-out');
    this.log.warn({ run: round.runId, site: siteId, reason }, 'site dropped from the round');
    round.wake();
  }

  private async pickUpRuns(): Promise<void> {
    if (this.shuttingDown) return;
    try {
      for (const run of await this.store.runs.list()) {
        if (run.state !== 'running' || this.drivers.has(run.id)) continue;
        const driver = this.driveRun(run).finally(() => this.drivers.delete(run.id));
        this.drivers.set(run.id, driver);
      }
    } catch (err) {
      this.log.error({ err: String(err) }, 'could not look for running runs');
    }
  }

  private async driveRun(run: RunRecord): Promise<void> {
    const plan = JSON.parse(run.planJson) as RunPlanDto;
    try {
      const strategy = createStrategy(strategySpecOf(plan));
      // A run begins once a quorum of its sites is linked (or the first deadline passed); only then
      // is its starting model checked, so an admin can still stop a run that waits for its sites.
      await this.selectSites(run.id, plan, Date.now() + plan.roundDeadlineSeconds * 1000);
      if (!plan.initialModel) {
        return await this.endRun(
          run.id,
          'fail',
          'the plan has no initialModel: the coordinator sends the first global model, it never creates one',
        );
      }
      if (!(await this.blobs.has(plan.initialModel))) {
        return await this.endRun(
          run.id,
          'fail',
          `initialModel ${plan.initialModel.slice(0, 16)}… is not in the blob store`,
        );
      }
      let global = plan.initialModel;
      // The last training round found done (a resumed run), whose server state the strategy needs.
      let lastDoneTraining: RoundStep | undefined;
      let stateRestored = false;
      for (const step of runSteps(plan)) {
        const existing = await this.store.rounds.get(run.id, step.stage, step.round);
        if (existing?.state === 'done') {
          if (step.stage !== 'evaluate' && existing.outputDigest) global = existing.outputDigest;
          if (step.stage !== 'evaluate') lastDoneTraining = step;
          continue;
        }
        if (step.stage !== 'evaluate' && !stateRestored) {
          stateRestored = true;
          try {
            if (lastDoneTraining) await this.strategyStates.restore(run.id, lastDoneTraining, strategy);
          } catch (err) {
            return await this.endRun(run.id, 'fail', `cannot resume: ${(err as Error).message}`);
          }
        }
        const outcome = await this.runRound(run.id, plan, strategy, step, global, existing);
        if (!outcome.ok)
          return await this.endRun(run.id, 'fail', `${step.stage} round ${step.round}: ${outcome.reason}`);
        if (step.stage !== 'evaluate') global = outcome.outputDigest;
      }
      if (plan.evaluation.crossSite) {
        const failure = await this.runCrossSite(run.id, plan, strategy);
        if (failure) return await this.endRun(run.id, 'fail', failure);
      }
      await this.endRun(run.id, 'complete', undefined, global);
    } catch (err) {
      if (err instanceof ShuttingDown) return;
      if (err instanceof RunStopped) {
        this.log.info({ run: run.id }, 'run stopped: round driver ends');
        return;
      }
      this.log.error(
        { run: run.id, err: err instanceof Error ? err.stack : String(err) },
        'round driver failed',
      );
      await this.endRun(
        run.id,
        'fail',
        `internal error: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /**
   * The cross-site matrix after the last round: one evaluation round per site with a local
   * fine-tuned model, sending that model (rebuilt by `rebuildLocalModels`) to every selected site,
   * the model's own site included (the diagonal). Returns why it failed, if it did.
   */
  private async runCrossSite(
    runId: string,
    plan: RunPlanDto,
    strategy: Strategy,
  ): Promise<string | undefined> {
    const models = await rebuildLocalModels(
      this.store,
      this.blobs,
      runId,
      plan.stages.finetune?.rounds ?? 0,
      strategy.updateKind,
    );
    const digestOf = new Map(models.map((m) => [m.siteId, m.digest]));
    for (const step of crossSiteSteps(models)) {
      const existing = await this.store.rounds.get(runId, step.stage, step.round);
      if (existing?.state === 'done') continue;
      const owner = step.localModel!.siteId;
      const outcome = await this.runRound(runId, plan, strategy, step, digestOf.get(owner)!, existing);
      if (!outcome.ok)
        return `cross-site evaluation of ${owner}'s model (evaluate round ${step.round}): ${outcome.reason}`;
    }
    return undefined;
  }

  private async endRun(
    runId: string,
    action: 'complete' | 'fail',
    reason?: string,
    finalDigest?: string,
  ): Promise<void> {
    const { from, to } = RUN_TRANSITIONS[action];
    const moved = await this.store.runs.transition(runId, from, to, {
      endedAt: new Date().toISOString(),
      reason,
    });
    if (!moved) return;
    this.log.info({ run: runId, state: to, reason }, `run ${to}`);
    await this.audit.record({
      actor: 'coordinator',
      action: `runs.${action}`,
      target: runId,
      outcome: action === 'complete' ? 'ok' : 'error',
      detail: { ...(reason ? { reason } : {}), ...(finalDigest ? { finalModel: finalDigest } : {}) },
    });
  }

  /** One round, with its retries. */
  private async runRound(
    runId: string,
    plan: RunPlanDto,
    strategy: Strategy,
    step: RoundStep,
    globalDigest: string,
    existing: RoundRecord | undefined,
  ): Promise<RoundOutcome> {
    const globalBytes = await this.blobs.get(globalDigest);
    const globalArrays = decodeWeights(globalBytes);
    const globalLayout = layoutOf(globalArrays);
    const deadlineMs = plan.roundDeadlineSeconds * 1000;
    if (existing) {
      await this.store.rounds.update(runId, step.stage, step.round, {
        state: 'dispatched',
        reason: 'resumed after a coordinator restart',
      });
      this.log.info({ run: runId, ...step }, 'resuming an unfinished round');
    } else {
      await this.store.rounds.insert({
        runId,
        stage: step.stage,
        round: step.round,
        state: 'dispatched',
        inputDigest: globalDigest,
        startedAt: new Date().toISOString(),
        deadlineAt: new Date(Date.now() + deadlineMs).toISOString(),
      });
    }
    const maxAttempts = 1 + (plan.maxRetries ?? 0);
    // Task ids must stay unique across a restart: number this process's attempts after the stored ones.
    const earlier = await this.store.tasks.listForRound(runId, step.stage, step.round);
    const attemptBase = earlier.reduce((most, task) => Math.max(most, task.attempts), 0);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const selected = await this.selectSites(runId, plan, Date.now() + deadlineMs);
      const training = step.stage !== 'evaluate';
      const config = taskConfig(plan, step, strategy, Math.max(2 * globalBytes.length, 1024 * 1024));
      const gate = training
        ? new UpdateGate({
            expectedLayout: strategy.uploadLayout(globalLayout, step.stage as 'ssl' | 'finetune'),
            expectedKind: strategy.updateKind,
            global: strategy.updateKind === 'weights' ? globalArrays : undefined,
          })
        : undefined;
      const machine = new RoundStateMachine({
        selected,
        quorum: plan.quorum.minSites,
        deadlineMs: Date.now() + deadlineMs,
        attempt,
        maxAttempts,
      });
      const round = new ActiveRound(
        runId,
        step,
        machine,
        globalDigest,
        globalLayout,
        config,
        strategy,
        gate,
        attemptBase + attempt,
        new DisconnectGrace(this.disconnectGraceMs),
      );
      for (const siteId of selected)
        round.tasks.set(siteId, taskIdFor(runId, step, attemptBase + attempt, siteId));
      this.active.set(runId, round);
      try {
        await this.dispatch(round, globalBytes);
        machine.apply('collect');
        await this.store.rounds.update(runId, step.stage, step.round, { state: 'collecting' });
        const decision = await this.collect(round);
        if (decision.kind === 'close') {
          machine.apply('aggregate');
          await this.store.rounds.update(runId, step.stage, step.round, { state: 'aggregating' });
          const outcome = training ? await this.aggregate(round, globalBytes) : await this.evaluate(round);
          if (outcome.ok) {
            machine.apply('finish');
            await this.store.rounds.update(runId, step.stage, step.round, {
              state: 'done',
              outputDigest: outcome.outputDigest,
              endedAt: new Date().toISOString(),
            });
            this.log.info({ run: runId, ...step, sites: machine.answeredSites() }, 'round done');
            return outcome;
          }
          return this.failRound(round, outcome.reason);
        }
        if (decision.kind === 'fail') return this.failRound(round, decision.reason);
        machine.apply('retry');
        await this.store.rounds.update(runId, step.stage, step.round, {
          state: 'dispatched',
          reason: `retry ${attempt + 1}: ${decision.reason}`,
        });
        await this.audit.record({
          actor: 'coordinator',
          action: 'rounds.retry',
          target: `${runId}/${step.stage}/${step.round}`,
          outcome: 'error',
          detail: { attempt, reason: decision.reason },
        });
        this.log.warn({ run: runId, ...step, attempt, reason: decision.reason }, 'round retried');
      } catch (err) {
        if (err instanceof RunStopped) await this.failRound(round, 'the run was stopped');
        throw err;
      } finally {
        round.grace.clear();
        for (const siteId of selected) this.inbox.close(siteId, round);
        for (const siteId of selected) {
          if (machine.outcome(siteId) === 'waiting')
            await this.store.tasks.setState(round.tasks.get(siteId)!, 'timed-out');
        }
        if (this.active.get(runId) === round) this.active.delete(runId);
      }
    }
    return { ok: false, reason: 'no attempts left' }; // unreachable: the last attempt decides fail or close
  }

  private async failRound(round: ActiveRound, reason: string): Promise<RoundOutcome> {
    if (round.machine.can('fail')) round.machine.apply('fail');
    await this.store.rounds.update(round.runId, round.step.stage, round.step.round, {
      state: 'failed',
      reason,
      endedAt: new Date().toISOString(),
    });
    return { ok: false, reason };
  }

  /**
   * The sites of this attempt: linked now, enrolled, not revoked, and in the plan. Waits (until
   * `untilMs`) for enough of them to reach the quorum, so a run started before the sites connect
   * does not burn its retries on empty rounds.
   */
  private async selectSites(runId: string, plan: RunPlanDto, untilMs: number): Promise<string[]> {
    for (;;) {
      await this.checkRunning(runId);
      const enrolled = new Set((await this.store.sites.list()).filter((s) => !s.revokedAt).map((s) => s.id));
      const selected = this.inbox
        .linkedSites()
        .filter((id) => enrolled.has(id) && (!Array.isArray(plan.sites) || plan.sites.includes(id)))
        .sort(compareIds);
      if (selected.length >= plan.quorum.minSites || Date.now() >= untilMs) return selected;
      await new Promise((resolve) => setTimeout(resolve, RUN_POLL_MS));
    }
  }

  private async checkRunning(runId: string): Promise<void> {
    if (this.shuttingDown) throw new ShuttingDown();
    const run = await this.store.runs.get(runId);
    if (run?.state !== 'running') throw new RunStopped();
  }

  /** Sends every selected site its signed task with the global weights (chunked transfer, §6). */
  private async dispatch(round: ActiveRound, globalBytes: Uint8Array): Promise<void> {
    const { secretKey } = this.sites.coordinatorKeys;
    await Promise.all(
      [...round.tasks].map(async ([siteId, taskId]) => {
        await this.store.tasks.insert({
          id: taskId,
          runId: round.runId,
          stage: round.step.stage,
          round: round.step.round,
          siteId,
          state: 'pending',
          createdAt: new Date().toISOString(),
          attempts: round.storedAttempt,
        });
        this.inbox.open(siteId, round);
        const envelope = signEnvelope({
          type: 'task',
          signer: 'coordinator',
          secretKey,
          payload: globalBytes,
          body: {
            sender: 'coordinator',
            nonce: newNonce(),
            timestamp: Date.now(),
            runId: round.runId,
            round: round.step.round,
            taskId,
            stage: round.step.stage,
            globalWeightsDigest: round.globalDigest,
            config: round.config,
            deadline: round.machine.deadlineMs,
          },
        });
        const link = this.inbox.link(siteId);
        try {
          if (!link) throw new Error('not connected');
          await sendTransfer(socketIoTransport(link.socket), envelope, globalBytes, {
            stallTimeoutMs: DISPATCH_STALL_MS,
            log: this.log,
          });
          await this.store.tasks.setState(taskId, 'sent');
        } catch (err) {
          const reason = `task not delivered: ${err instanceof Error ? err.message : String(err)}`;
          if (round.machine.drop(siteId, reason)) await this.store.tasks.setState(taskId, 'rejected');
          this.log.warn({ run: round.runId, site: siteId, reason }, 'dispatch failed');
        }
      }),
    );
  }

  /** Waits for the state machine's verdict: every answer in, deadline, or an unreachable quorum. */
  private async collect(round: ActiveRound): Promise<Exclude<RoundDecision, { kind: 'wait' }>> {
    for (;;) {
      await this.checkRunning(round.runId);
      const decision = round.machine.decide(Date.now());
      if (decision.kind !== 'wait') return decision;
      // Wake at the deadline, on any answer, or every second to notice a stop.
      await round.sleep(Math.min(1000, round.machine.deadlineMs - Date.now() + 1));
    }
  }

  /** Screens the admitted updates and folds them with the strategy, in site-id order. */
  private async aggregate(round: ActiveRound, globalBytes: Uint8Array): Promise<RoundOutcome> {
    const { runId, step, strategy, gate } = round;
    const answered = round.machine.answeredSites().filter((s) => round.updates.has(s));
    const { accepted, rejected } = gate!.screen(answered.map((s) => round.updates.get(s)!.entry));
    for (const r of rejected) {
      const stored = round.updates.get(r.siteId)!;
      await this.store.updates.setStatus(stored.updateId, 'rejected', `${r.code}: ${r.reason}`);
      await this.audit.recordRefusal({
        actor: `site:${r.siteId}`,
        action: 'update.rejected',
        target: 'update',
        outcome: 'rejected',
        detail: { code: r.code, reason: r.reason },
      });
    }
    if (accepted.length < Math.max(1, round.machine.quorum)) {
      return {
        ok: false,
        reason: `${accepted.length} update(s) survived the round checks, ${round.machine.quorum} needed`,
      };
    }
    const result = await strategy.aggregateFit(step.round, {
      stage: step.stage as 'ssl' | 'finetune',
      globalLayout: round.globalLayout,
      updates: new EncodedUpdateSource(accepted, (siteId) =>
        this.blobs.get(round.updates.get(siteId)!.digest),
      ),
      loadGlobal: async () => decodeWeights(Buffer.from(globalBytes)),
    });
    const { digest } = await this.blobs.put(encodeWeights(result.weights, 'float32'));
    await this.strategyStates.save(runId, step, strategy);
    for (const siteId of result.sites)
      await this.store.updates.setStatus(round.updates.get(siteId)!.updateId, 'aggregated');
    const recordedAt = new Date().toISOString();
    const metrics: MetricRecord[] = Object.entries(result.metrics).map(([name, value]) => ({
      runId,
      stage: step.stage,
      round: step.round,
      name: `train/${name}`,
      value,
      recordedAt,
    }));
    await this.store.metrics.insertMany(metrics);
    return { ok: true, outputDigest: digest };
  }

  /**
   * Pools the sites' histograms into the run's results; the model is unchanged. A cross-site round
   * (a site's local model) stores its row of the matrix and needs no pooled AUC.
   */
  private async evaluate(round: ActiveRound): Promise<RoundOutcome> {
    const local = round.step.localModel;
    const summary = summariseEvaluation(
      round.runId,
      round.globalDigest,
      round.evaluations,
      new Date().toISOString(),
      { round: round.step.round, modelOf: local?.siteId ?? 'global', finetuneRound: local?.finetuneRound },
    );
    for (const evaluation of summary.evaluations) await this.store.evaluations.insert(evaluation);
    await this.store.metrics.insertMany(summary.metrics);
    if (summary.problem) return { ok: false, reason: `pooled AUC not computable: ${summary.problem}` };
    return { ok: true, outputDigest: round.globalDigest };
  }
}

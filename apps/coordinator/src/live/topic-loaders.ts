import { BlobStore } from '../models/blob-store';
import { RoundRecord, RunRecord, TaskRecord, UpdateRecord } from '../persistence/records';
import { CoordinatorStore } from '../persistence/repositories';
import {
  countsTowardsProgress,
  EnginePlan,
  evaluationKindOf,
  isLocalOnlyTraining,
  isTokenCentring,
  runSteps,
} from '../../../../libs/federated/src';
import { LiveEntity } from './live-entities';

/** A round's tasks and updates no longer change once it is done or failed: read them once then. */
const CLOSED_ROUND_STATES: readonly RoundRecord['state'][] = ['done', 'failed'];
/** A run in one of these states has no round left to finish: its progress is read once. */
const ENDED_RUN_STATES: readonly RunRecord['state'][] = ['completed', 'failed', 'stopped'];

/** How far a run is: rounds done of those its plan fixes (libs/federated countsTowardsProgress). */
export interface RunProgress {
  done: number;
  planned: number;
}

export function runProgress(planJson: string, rounds: RoundRecord[]): RunProgress {
  const plan = JSON.parse(planJson) as EnginePlan;
  return {
    done: rounds.filter((r) => r.state === 'done' && countsTowardsProgress(r)).length,
    planned: runSteps(plan).filter(countsTowardsProgress).length,
  };
}

/**
 * Reads one run's state from the store as live entities: the run (with its plan), its rounds (with
 * the size of the model each started from, for the bytes moved), tasks, updates (metadata only,
 * never weights or signatures), metrics and evaluations. Closed rounds' tasks and updates are
 * cached, so a long run costs a handful of queries per tick.
 */
export class RunEntitiesLoader {
  private readonly closedRounds = new Map<string, { tasks: TaskRecord[]; updates: UpdateRecord[] }>();
  private readonly blobSizes = new Map<string, number | null>();

  constructor(
    private readonly runId: string,
    private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
  ) {}

  async load(): Promise<LiveEntity[]> {
    const run = await this.store.runs.get(this.runId);
    if (!run) return [];
    const { planJson, ...fields } = run;
    const rounds = await this.store.rounds.listForRun(this.runId);
    const progress = runProgress(planJson, rounds);
    const entities: LiveEntity[] = [
      { kind: 'run', key: run.id, value: { ...fields, plan: JSON.parse(planJson), progress } },
    ];
    for (const round of rounds) {
      const key = `${round.stage}/${round.round}`;
      const inputBytes = round.inputDigest ? await this.blobSize(round.inputDigest) : null;
      // Evaluate-stage rounds say what they evaluate (final, every-k, a site's local model).
      const evaluationKind = round.stage === 'evaluate' ? evaluationKindOf(round.round) : undefined;
      const tokenCentring =
        isTokenCentring({ stage: round.stage as 'finetune', round: round.round }) || undefined;
      const localOnly = isLocalOnlyTraining(round) || undefined;
      entities.push({
        kind: 'round',
        key,
        value: { ...round, inputBytes, evaluationKind, tokenCentring, localOnly },
      });
      const { tasks, updates } = await this.roundDetail(round, key);
      for (const task of tasks) entities.push({ kind: 'task', key: task.id, value: task });
      for (const update of updates) {
        const { signature: _signature, ...shown } = update;
        entities.push({
          kind: 'update',
          key: String(update.id ?? `${update.taskId}/${update.digest}`),
          value: shown,
        });
      }
    }
    for (const metric of await this.store.metrics.listForRun(this.runId)) {
      const key = [metric.stage ?? '', metric.round ?? '', metric.siteId ?? '', metric.name].join('/');
      entities.push({ kind: 'metric', key, value: metric });
    }
    for (const evaluation of await this.store.evaluations.listForRun(this.runId)) {
      const key = [
        evaluation.modelOf,
        evaluation.siteId,
        evaluation.stage ?? '',
        evaluation.round ?? '',
      ].join('/');
      entities.push({ kind: 'evaluation', key, value: evaluation });
    }
    return entities;
  }

  private async roundDetail(round: RoundRecord, key: string) {
    const cached = this.closedRounds.get(key);
    if (cached) return cached;
    const detail = {
      tasks: await this.store.tasks.listForRound(round.runId, round.stage, round.round),
      updates: await this.store.updates.listForRound(round.runId, round.stage, round.round),
    };
    if (CLOSED_ROUND_STATES.includes(round.state)) this.closedRounds.set(key, detail);
    return detail;
  }

  private async blobSize(digest: string): Promise<number | null> {
    if (!this.blobSizes.has(digest)) this.blobSizes.set(digest, (await this.blobs.size(digest)) ?? null);
    return this.blobSizes.get(digest)!;
  }
}

/**
 * The runs list (without plans) as live entities, each with its progress. An ended run's progress
 * is read once and remembered, so a tick reads the rounds of running and created runs only.
 */
export class RunsListLoader {
  private readonly endedProgress = new Map<string, RunProgress>();

  constructor(private readonly store: CoordinatorStore) {}

  async load(): Promise<LiveEntity[]> {
    const entities: LiveEntity[] = [];
    for (const { planJson, ...run } of await this.store.runs.list()) {
      const plan = JSON.parse(planJson) as {
        strategy?: { name?: string };
        sites?: string[] | 'all';
        stages?: unknown;
      };
      let progress = this.endedProgress.get(run.id);
      if (!progress) {
        progress = runProgress(planJson, await this.store.rounds.listForRun(run.id));
        if (ENDED_RUN_STATES.includes(run.state)) this.endedProgress.set(run.id, progress);
      }
      entities.push({
        kind: 'run',
        key: run.id,
        value: { ...run, strategy: plan.strategy?.name, sites: plan.sites, stages: plan.stages, progress },
      });
    }
    return entities;
  }
}

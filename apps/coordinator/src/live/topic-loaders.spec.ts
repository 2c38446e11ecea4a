import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore } from '../models/blob-store';
import { openStore } from '../persistence/open-store';
import { KyselyStore } from '../persistence/kysely-store';
import { RoundRecord } from '../persistence/records';
import { RunEntitiesLoader, RunsListLoader } from './topic-loaders';

const T0 = '2026-01-01T00:00:00.000Z';
/** 1 SSL + 2 fine-tune rounds, every-1 evaluation and a final one: 4 rounds count towards progress. */
const PLAN = JSON.stringify({
  stages: { ssl: { rounds: 1 }, finetune: { rounds: 2 } },
  evaluation: { final: true, everyKRounds: 1 },
  quorum: { minSites: 1 },
  strategy: { name: 'fedavg' },
});

describe('live topic loaders: run progress', () => {
  let dir: string;
  let store: KyselyStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-live-'));
    store = await openStore(join(dir, 'state.sqlite'));
    await store.runs.insert({
      id: 'r1',
      name: 'r',
      planJson: PLAN,
      planDigest: 'd',
      state: 'running',
      createdAt: T0,
    });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const round = (stage: string, n: number, state: RoundRecord['state']): RoundRecord => ({
    runId: 'r1',
    stage,
    round: n,
    state,
    startedAt: T0,
    deadlineAt: T0,
  });
  const progressIn = (entities: { kind: string; value: unknown }[]) =>
    (entities.find((e) => e.kind === 'run')!.value as { progress: unknown }).progress;

  it("counts done rounds of the plan's own (not token centring or every-k evaluations) on both topics", async () => {
    await store.rounds.insert(round('ssl', 0, 'done'));
    await store.rounds.insert(round('finetune', 10_000, 'done')); // token centring
    await store.rounds.insert(round('finetune', 0, 'done'));
    await store.rounds.insert(round('evaluate', 1, 'done')); // every-k evaluation
    await store.rounds.insert(round('finetune', 1, 'collecting'));
    const list = new RunsListLoader(store);
    const run = new RunEntitiesLoader('r1', store, new BlobStore(join(dir, 'blobs')));
    expect(progressIn(await list.load())).toEqual({ done: 2, planned: 4 });
    expect(progressIn(await run.load())).toEqual({ done: 2, planned: 4 });

    await store.rounds.update('r1', 'finetune', 1, { state: 'done', endedAt: T0 });
    expect(progressIn(await list.load())).toEqual({ done: 3, planned: 4 });
  });

  it("reads an ended run's rounds once", async () => {
    await store.rounds.insert(round('ssl', 0, 'done'));
    await store.runs.transition('r1', ['running'], 'stopped', { endedAt: T0, reason: 'stopped' });
    const list = new RunsListLoader(store);
    expect(progressIn(await list.load())).toEqual({ done: 1, planned: 4 });
    const listForRun = jest.spyOn(store.rounds, 'listForRun');
    expect(progressIn(await list.load())).toEqual({ done: 1, planned: 4 });
    expect(listForRun).not.toHaveBeenCalled();
  });
});

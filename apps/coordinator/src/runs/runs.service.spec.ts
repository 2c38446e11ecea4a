import { packageRoot, silentLog } from '../../../../libs/common/src';
import { parsePlanText } from './run-plan';
import { SqliteStore } from '../persistence/sqlite/sqlite-store';
import { RunsService } from './runs.service';
import { BlobStore } from '../models/blob-store';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const T0 = '2026-01-01T00:00:00.000Z';

describe('RunsService.results', () => {
  it('serves the stored rows and, grouped, the every-k, final and cross-site results', async () => {
    const store = SqliteStore.open(':memory:');
    await store.runs.insert({ id: 'r1', name: 'r', planJson: '{}', planDigest: 'd', state: 'completed', createdAt: T0 });
    const row = (round: number, modelOf: string, siteId: string, auc: number) => ({
      runId: 'r1',
      modelDigest: `${modelOf}-${round}`,
      modelOf,
      siteId,
      stage: 'evaluate',
      round,
      n: 20,
      nPositive: 8,
      auc,
      aucLow: auc - 0.2,
      aucHigh: auc + 0.1,
      recordedAt: T0,
    });
    for (const r of [
      row(5, 'global', 'a', 0.6),
      row(0, 'global', 'a', 0.7),
      row(10_000, 'a', 'a', 0.75),
      row(10_000, 'a', 'b', 0.55),
    ])
      await store.evaluations.insert(r);
    await store.metrics.insertMany([
      { runId: 'r1', stage: 'evaluate', round: 5, name: 'eval/pooled_auc', value: 0.61, recordedAt: T0 },
      { runId: 'r1', stage: 'evaluate', round: 0, name: 'eval/pooled_auc', value: 0.71, recordedAt: T0 },
    ]);
    const results = await new RunsService(store, silentLog, new BlobStore(join(tmpdir(), 'phcc-runs-spec-unused'))).results('r1');
    expect(results.evaluations).toHaveLength(4);
    expect(results.evaluation.periodic.map((p) => [p.afterFinetuneRounds, p.pooledAuc, p.sites.a.auc])).toEqual([
      [5, 0.61, 0.6],
    ]);
    expect(results.evaluation.final).toMatchObject({ pooledAuc: 0.71, modelDigest: 'global-0' });
    expect(results.evaluation.crossSite?.matrix).toEqual({
      a: {
        a: { auc: 0.75, ci95: [0.75 - 0.2, 0.75 + 0.1], n: 20, nPositive: 8 },
        b: { auc: 0.55, ci95: [0.55 - 0.2, 0.55 + 0.1], n: 20, nPositive: 8 },
      },
    });
    // A plan without evaluation.compareWith has no paired comparison.
    expect(results.paired).toEqual([]);
    await store.close();
  });
});

describe('RunsService.create: models the plan names', () => {
  it('refuses a plan whose compared model is not in the blob store, naming the field', async () => {
    const store = SqliteStore.open(':memory:');
    const dir = mkdtempSync(join(tmpdir(), 'phcc-runs-spec-'));
    const blobs = await new BlobStore(dir).init();
    const initial = await blobs.put(Buffer.from('initial model'));
    const plan = {
      ...(parsePlanText(readFileSync(join(packageRoot(), 'configs', 'plans', 'quick.yaml'), 'utf8')) as object),
      initialModel: initial.digest,
      evaluation: { final: true, compareWith: ['b'.repeat(128)] },
    };
    const runs = new RunsService(store, silentLog, blobs);
    await expect(runs.create(plan)).rejects.toMatchObject({
      response: { message: [expect.stringMatching(/^evaluation\.compareWith\[0\]: no model bbbbbbbbbbbbbbbb… in the blob store/)] },
    });
    const central = await blobs.put(Buffer.from('central model'));
    const created = await runs.create({ ...plan, evaluation: { final: true, compareWith: [central.digest] } });
    expect(created.plan.evaluation.compareWith).toEqual([central.digest]);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

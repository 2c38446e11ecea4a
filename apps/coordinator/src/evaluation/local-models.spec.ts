import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWeights, encodeWeights, NamedArray } from '../../../../libs/weights/src';
import { BlobStore } from '../models/blob-store';
import { UpdateRecord } from '../persistence/records';
import { SqliteStore } from '../persistence/sqlite/sqlite-store';
import { rebuildLocalModels } from './local-models';

const T0 = '2026-01-01T00:00:00.000Z';
const arrays = (encoder: number[], head: number[]): NamedArray[] => [
  { name: 'decoder/w', shape: [1], values: Float32Array.from([7]) },
  { name: 'encoder/w', shape: [2], values: Float32Array.from(encoder) },
  { name: 'head/b', shape: [1], values: Float32Array.from(head) },
];

describe('rebuildLocalModels', () => {
  let dir: string;
  let store: SqliteStore;
  let blobs: BlobStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-local-models-'));
    store = SqliteStore.open(':memory:');
    blobs = await new BlobStore(dir).init();
    await store.runs.insert({
      id: 'r1',
      name: 'r',
      planJson: '{}',
      planDigest: 'd',
      state: 'running',
      createdAt: T0,
    });
    for (const id of ['a', 'b', 'c'])
      await store.sites.upsert({ id, publicKey: 'k', fingerprint: 'f', enrolledAt: T0 });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function round(n: number, global: NamedArray[]): Promise<void> {
    const { digest } = await blobs.put(encodeWeights(global));
    await store.rounds.insert({
      runId: 'r1',
      stage: 'finetune',
      round: n,
      state: 'done',
      inputDigest: digest,
      startedAt: T0,
      deadlineAt: T0,
    });
  }

  async function update(
    n: number,
    siteId: string,
    delta: NamedArray[],
    status: UpdateRecord['status'],
    encoding: 'float32' | 'float16' = 'float32',
  ) {
    const taskId = `t-${n}-${siteId}-${status}`;
    await store.tasks.insert({
      id: taskId,
      runId: 'r1',
      stage: 'finetune',
      round: n,
      siteId,
      state: 'received',
      createdAt: T0,
      attempts: 1,
    });
    const { digest, bytes } = await blobs.put(encodeWeights(delta, encoding));
    const id = await store.updates.insert({
      taskId,
      runId: 'r1',
      stage: 'finetune',
      round: n,
      siteId,
      digest,
      signature: 's',
      bytes,
      nSamples: 5,
      encoding,
      status: 'accepted',
      receivedAt: T0,
    });
    if (status !== 'accepted') await store.updates.setStatus(id, status);
  }

  const delta = (e: number, h: number): NamedArray[] => [
    { name: 'encoder/w', shape: [2], values: Float32Array.from([e, e]) },
    { name: 'head/b', shape: [1], values: Float32Array.from([h]) },
  ];

  it("applies each site's last aggregated fine-tune update to the global that round started from", async () => {
    await round(0, arrays([1, 2], [0]));
    await round(1, arrays([1.5, 2.5], [0.25]));
    await update(0, 'a', delta(0.1, 1), 'aggregated');
    await update(0, 'b', delta(0.2, 2), 'aggregated');
    await update(1, 'a', delta(0.5, -1), 'aggregated');
    await update(1, 'b', delta(9, 9), 'rejected'); // b's last round 1 update failed a check: its model is round 0's
    await update(1, 'c', delta(0.25, 0.5), 'aggregated', 'float16');

    const models = await rebuildLocalModels(store, blobs, 'r1', 2, 'delta');
    expect(models.map((m) => [m.siteId, m.finetuneRound])).toEqual([
      ['a', 1],
      ['b', 0],
      ['c', 1],
    ]);
    const valuesOf = async (digest: string) =>
      decodeWeights(await blobs.get(digest)).map((t) => [t.name, [...t.values]]);
    expect(await valuesOf(models[0].digest)).toEqual([
      ['decoder/w', [7]], // not trained in fine-tuning: the global's
      ['encoder/w', [Math.fround(1.5 + Math.fround(0.5)), Math.fround(2.5 + Math.fround(0.5))]],
      ['head/b', [-0.75]],
    ]);
    expect(await valuesOf(models[1].digest)).toEqual([
      ['decoder/w', [7]],
      ['encoder/w', [Math.fround(1 + Math.fround(0.2)), Math.fround(2 + Math.fround(0.2))]],
      ['head/b', [2]],
    ]);
    expect((await valuesOf(models[2].digest))[1]).toEqual(['encoder/w', [1.75, 2.75]]);
    // Deterministic: a restarted coordinator rebuilds the same models, under the same digests.
    expect(await rebuildLocalModels(store, blobs, 'r1', 2, 'delta')).toEqual(models);
  });

  it('carries the validation cut-off the site reported with the update its model is rebuilt from', async () => {
    await round(0, arrays([1, 2], [0]));
    await round(1, arrays([1.5, 2.5], [0.25]));
    await update(0, 'a', delta(0.1, 1), 'aggregated');
    await update(1, 'a', delta(0.5, -1), 'aggregated');
    await update(0, 'b', delta(0.2, 2), 'aggregated');
    const metric = (round: number, siteId: string, name: string, value: number) => ({
      runId: 'r1',
      stage: 'finetune',
      round,
      siteId,
      name,
      value,
      recordedAt: T0,
    });
    await store.metrics.insertMany([
      metric(0, 'a', 'train/val_threshold', 0.2),
      metric(1, 'a', 'train/val_threshold', 0.61),
      metric(1, 'a', 'train/loss', 0.5),
      metric(1, 'b', 'train/val_threshold', 0.9), // b's round 1 update is not its model
    ]);
    const models = await rebuildLocalModels(store, blobs, 'r1', 2, 'delta');
    expect(models.map((m) => [m.siteId, m.finetuneRound, m.threshold])).toEqual([
      ['a', 1, 0.61],
      ['b', 0, undefined],
    ]);
    expect(models[1]).not.toHaveProperty('threshold');
  });

  it('takes sent weights as the model when sites send weights', async () => {
    await round(0, arrays([1, 2], [0]));
    await update(0, 'a', delta(3, 4), 'aggregated');
    const [model] = await rebuildLocalModels(store, blobs, 'r1', 1, 'weights');
    expect(decodeWeights(await blobs.get(model.digest)).map((t) => [...t.values])).toEqual([
      [7],
      [3, 3],
      [4],
    ]);
  });

  it("local-only: each site's accepted update of that round on the round's input, whatever the federated rounds did", async () => {
    const LOCAL_ONLY = 20_000;
    await round(0, arrays([1, 2], [0]));
    await round(LOCAL_ONLY, arrays([10, 20], [1])); // the initial model
    await update(0, 'a', delta(0.5, 0.5), 'aggregated');
    await update(0, 'b', delta(0.5, 0.5), 'aggregated');
    await update(LOCAL_ONLY, 'a', delta(1, 2), 'accepted');
    await update(LOCAL_ONLY, 'b', delta(9, 9), 'rejected'); // refused at the gate: b has no local-only model
    await metricRow(LOCAL_ONLY, 'a', 0.33);
    const models = await rebuildLocalModels(store, blobs, 'r1', 1, 'delta', LOCAL_ONLY);
    expect(models.map((m) => [m.siteId, m.finetuneRound, m.threshold])).toEqual([['a', LOCAL_ONLY, 0.33]]);
    expect(decodeWeights(await blobs.get(models[0].digest)).map((t) => [...t.values])).toEqual([
      [7],
      [11, 21],
      [3],
    ]);
    // Without the option the matrix is the federated one, as before.
    expect((await rebuildLocalModels(store, blobs, 'r1', 1, 'delta')).map((m) => m.finetuneRound)).toEqual([
      0, 0,
    ]);
  });

  async function metricRow(round: number, siteId: string, value: number): Promise<void> {
    await store.metrics.insertMany([
      { runId: 'r1', stage: 'finetune', round, siteId, name: 'train/val_threshold', value, recordedAt: T0 },
    ]);
  }
});

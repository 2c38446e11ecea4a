import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../persistence/sqlite/sqlite-store';
import { BlobStore } from './blob-store';
import { retireUpdateBlobs } from './update-retention';

const T0 = '2026-01-01T00:00:00.000Z';

describe('retireUpdateBlobs', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-retention-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('deletes folded updates older than the kept rounds, never a global model, and audits the digests', async () => {
    const store = SqliteStore.open(':memory:');
    const blobs = await new BlobStore(join(dir, 'blobs')).init();
    const bytes = (text: string) => new TextEncoder().encode(text);
    const update1 = (await blobs.put(bytes('site update, round 1'))).digest;
    const update2 = (await blobs.put(bytes('site update, round 2'))).digest;
    // A site that sent back the global model unchanged: the same bytes as a round's output.
    const global1 = (await blobs.put(bytes('global model after round 1'))).digest;
    await store.runs.insert({
      id: 'r1',
      name: 'r',
      planJson: '{}',
      planDigest: 'd',
      state: 'completed',
      createdAt: T0,
    });
    await store.sites.upsert({ id: 's1', publicKey: 'k', fingerprint: 'f', enrolledAt: T0 });
    for (const [round, digests] of [
      [1, [update1, global1]],
      [2, [update2]],
    ] as const) {
      await store.rounds.insert({
        runId: 'r1',
        stage: 'ssl',
        round,
        state: 'done',
        startedAt: T0,
        deadlineAt: T0,
      });
      await store.rounds.update('r1', 'ssl', round, {
        outputDigest: round === 1 ? global1 : 'f'.repeat(128),
      });
      await store.tasks.insert({
        id: `t${round}`,
        runId: 'r1',
        stage: 'ssl',
        round,
        siteId: 's1',
        state: 'received',
        createdAt: T0,
        attempts: 1,
      });
      for (const digest of digests) {
        await store.updates.insert({
          taskId: `t${round}`,
          runId: 'r1',
          stage: 'ssl',
          round,
          siteId: 's1',
          digest,
          signature: 's',
          bytes: 1,
          nSamples: 1,
          encoding: 'float16',
          status: 'aggregated',
          receivedAt: T0,
        });
      }
    }

    expect(await retireUpdateBlobs(store, blobs, 1)).toEqual({ retired: 2, deleted: [update1] });
    expect(await blobs.has(update1)).toBe(false);
    expect(await blobs.has(global1)).toBe(true);
    expect(await blobs.has(update2)).toBe(true);
    const [entry] = await store.audit.query({ limit: 1, action: 'updates.retired' });
    expect(entry.detail).toEqual({ keepRounds: 1, retired: 2, deletedDigests: [update1] });
    // Rows stay as evidence; a second pass has nothing left to do.
    expect((await store.updates.listForRound('r1', 'ssl', 1)).map((u) => u.digest)).toEqual([
      update1,
      global1,
    ]);
    expect(await retireUpdateBlobs(store, blobs, 1)).toEqual({ retired: 0, deleted: [] });
    await store.close();
  });
});

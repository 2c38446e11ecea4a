import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FedAdam, FedAvg, Strategy } from '../../../../libs/federated/src';
import { runRound, SiteUpdateSpec, tensor } from '../../../../libs/federated/src/__tests__/harness';
import { encodeWeights, NamedArray } from '../../../../libs/weights/src';
import { BlobStore } from '../models/blob-store';
import { SqliteStore } from '../persistence/sqlite/sqlite-store';
import { StrategyStateKeeper } from './strategy-state';

const options = { eta: 0.05, beta1: 0.9, beta2: 0.99, tau: 1e-3 };
const global0: NamedArray[] = [
  tensor('decoder/w', [3, 4]),
  tensor('encoder/w', [1, -1, 0.5, 2], [2, 2]),
  tensor('head/b', [0.1]),
];
/** Three rounds of fine-tune deltas from two sites; irregular values so every bit of m and v matters. */
const rounds: SiteUpdateSpec[][] = [0, 1, 2].map((r) => [
  {
    siteId: 'site-a',
    numSamples: 7 + r,
    arrays: [
      tensor('encoder/w', [0.013 * (r + 1), -0.021, 0.0077 / (r + 1), 0.3], [2, 2]),
      tensor('head/b', [-0.05 * r]),
    ],
  },
  {
    siteId: 'site-b',
    numSamples: 11,
    arrays: [
      tensor('encoder/w', [-0.0031, 0.019 * r, 0.11, -0.07 / (r + 2)], [2, 2]),
      tensor('head/b', [0.033]),
    ],
  },
]);
const step = (round: number) => ({ stage: 'finetune' as const, round });

describe('StrategyStateKeeper', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-strategy-state-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A coordinator process: its store and blob store on the same files as any other. */
  async function coordinator() {
    const store = SqliteStore.open(join(dir, 'state.sqlite'));
    const blobs = await new BlobStore(join(dir, 'blobs')).init();
    if (!(await store.runs.get('r1'))) {
      await store.runs.insert({
        id: 'r1',
        name: 'r',
        planJson: '{}',
        planDigest: 'd'.repeat(128),
        state: 'running',
        createdAt: new Date().toISOString(),
      });
    }
    return { store, keeper: new StrategyStateKeeper(store, blobs) };
  }

  async function uninterrupted(): Promise<Buffer[]> {
    const strategy = new FedAdam(options);
    const out: Buffer[] = [];
    let global = global0;
    for (const [r, updates] of rounds.entries()) {
      global = (await runRound(strategy, 'finetune', global, updates, r)).weights;
      out.push(encodeWeights(global));
    }
    return out;
  }

  it('FedAdam: (aggregate, restart, aggregate, restart, aggregate) equals the uninterrupted run bit for bit', async () => {
    const expected = await uninterrupted();
    let global = global0;
    const got: Buffer[] = [];
    for (const [r, updates] of rounds.entries()) {
      // Every round in a fresh "process": a new strategy, restored from the database.
      const { store, keeper } = await coordinator();
      const strategy: Strategy = new FedAdam(options);
      if (r > 0) await keeper.restore('r1', step(r - 1), strategy);
      global = (await runRound(strategy, 'finetune', global, updates, r)).weights;
      await keeper.save('r1', step(r), strategy);
      got.push(encodeWeights(global));
      await store.close();
    }
    expect(got.map((b, r) => Buffer.compare(b, expected[r]))).toEqual([0, 0, 0]);

    // The test can tell: without the restored state the second round differs.
    const fresh = await runRound(
      new FedAdam(options),
      'finetune',
      (await runRound(new FedAdam(options), 'finetune', global0, rounds[0], 0)).weights,
      rounds[1],
      1,
    );
    expect(Buffer.compare(encodeWeights(fresh.weights), expected[1])).not.toBe(0);
  });

  it('restores the state of the round asked for, not a later one saved by a round that then crashed', async () => {
    const { store, keeper } = await coordinator();
    const strategy = new FedAdam(options);
    await runRound(strategy, 'finetune', global0, rounds[0], 0);
    await keeper.save('r1', step(0), strategy);
    const after0 = strategy.exportState();
    await runRound(strategy, 'finetune', global0, rounds[1], 1);
    await keeper.save('r1', step(1), strategy); // round 1 crashed before it was marked done
    const restarted = new FedAdam(options);
    await keeper.restore('r1', step(0), restarted);
    expect(encodeWeights(restarted.exportState()).equals(encodeWeights(after0))).toBe(true);
    await store.close();
  });

  it('writes nothing for a stateless strategy and refuses to resume a stateful one without its state', async () => {
    const { store, keeper } = await coordinator();
    await keeper.save('r1', step(0), new FedAvg());
    expect(await store.strategyStates.get('r1', 'finetune', 0)).toBeUndefined();
    await expect(keeper.restore('r1', step(0), new FedAvg())).resolves.toBeUndefined();
    await expect(keeper.restore('r1', step(0), new FedAdam(options))).rejects.toMatchObject({
      code: 'STRATEGY_STATE_MISSING',
      message: expect.stringMatching(/no saved fedadam server state after finetune round 0/),
    });
    await store.close();
  });
});

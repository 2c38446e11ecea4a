import { mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OptimizerState } from '../../../../libs/model/src/training';
import { FileOptimiserStates, MemoryOptimiserStates, OptimiserStates } from './optimiser-state';

/** The store alone (no tfjs): round bookkeeping, exact round trip, pruning. */
const state = (steps: number): OptimizerState => ({
  kind: 'adam',
  steps,
  params: [
    { name: 'encoder/stem/kernel', steps, buffers: [Float32Array.of(steps, 0.5), Float32Array.of(1e-8, 2)] },
    { name: 'head/fc/bias', steps: steps - 1, buffers: [Float32Array.of(-1), Float32Array.of(3)] },
  ],
});

describe.each([
  ['on disk', () => new FileOptimiserStates(mkdtempSync(join(tmpdir(), 'phcc-optstore-')))],
  ['in memory', () => new MemoryOptimiserStates()],
] as const)('optimiser states %s', (_, make: () => OptimiserStates) => {
  it('round r continues from the newest round before r, exactly', () => {
    const store = make();
    expect(store.load('run-1', 'ssl', 0)).toBeUndefined();
    store.save('run-1', 'ssl', 0, state(3));
    store.save('run-1', 'ssl', 1, state(6));
    expect(store.load('run-1', 'ssl', 1)).toEqual(state(3)); // a retry of round 1
    expect(store.load('run-1', 'ssl', 2)).toEqual(state(6));
    expect(store.load('run-1', 'finetune', 2)).toBeUndefined();
    expect(store.load('run-2', 'ssl', 2)).toBeUndefined();
    if (store instanceof FileOptimiserStates) rmSync(join(store.dir, '..'), { recursive: true, force: true });
  });
});

describe('FileOptimiserStates pruning', () => {
  it('keeps the last two rounds of a run and stage, and only the newest runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'phcc-optstore-'));
    try {
      const store = new FileOptimiserStates(dir, 2);
      for (let r = 0; r < 4; r++) store.save('run-a', 'ssl', r, state(r + 1));
      expect(readdirSync(store.dir)).toHaveLength(2);
      // Make run-a's files old, then two more runs: only the newest 2 runs survive.
      for (const f of readdirSync(store.dir)) utimesSync(join(store.dir, f), 1, 1);
      store.save('run-b', 'ssl', 0, state(1));
      store.save('run-c', 'ssl', 0, state(1));
      expect(store.load('run-a', 'ssl', 9)).toBeUndefined();
      expect(store.load('run-b', 'ssl', 1)).toEqual(state(1));
      expect(store.load('run-c', 'ssl', 1)).toEqual(state(1));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

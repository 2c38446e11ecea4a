import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backoffDelay } from './backoff';
import { LocalParamStore, overlayLocal } from './local-params';
import { MessageLog } from './message-log';

describe('site agent pieces', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'agent-pieces-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('message log appends one JSON object per line and reads them back', () => {
    const log = new MessageLog(join(dir, 'state', 'messages.jsonl'));
    log.append({ event: 'status', type: 'status', body: { state: 'idle' } });
    log.append({ event: 'status', ack: { ok: true } });
    const lines = readFileSync(log.file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(log.read()[0]).toMatchObject({ event: 'status', body: { state: 'idle' } });
    expect(log.read()[0].time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('backoff grows exponentially up to the cap, within the jitter band', () => {
    const opts = { initialDelayMs: 100, maxDelayMs: 1_000, jitter: 0.5 };
    for (let attempt = 0; attempt < 8; attempt++) {
      const base = Math.min(1_000, 100 * 2 ** attempt);
      const d = backoffDelay(attempt, opts);
      expect(d).toBeGreaterThanOrEqual(Math.floor(base * 0.5));
      expect(d).toBeLessThanOrEqual(1_000);
    }
    expect(backoffDelay(3, { ...opts, jitter: 0 })).toBe(800);
  });

  it('kept-local parameters persist, merge by name, and replace only matching tensors', () => {
    const store = new LocalParamStore(dir);
    expect(store.load()).toEqual([]);
    store.save([{ name: 'encoder/ln/gamma', shape: [2], values: Float32Array.from([7, 8]) }]);
    store.save([{ name: 'encoder/ln/beta', shape: [2], values: Float32Array.from([1, 1]) }]);
    expect(new LocalParamStore(dir).load().map((a) => a.name)).toEqual([
      'encoder/ln/beta',
      'encoder/ln/gamma',
    ]);
    const global = [
      { name: 'encoder/ln/gamma', shape: [2], values: Float32Array.from([0, 0]) },
      { name: 'encoder/ln/beta', shape: [3], values: Float32Array.from([0, 0, 0]) },
      { name: 'encoder/k', shape: [1], values: Float32Array.from([5]) },
    ];
    const merged = overlayLocal(global, store.load());
    expect(Array.from(merged[0].values)).toEqual([7, 8]);
    expect(merged[1]).toBe(global[1]); // shape differs: the global one is kept
    expect(merged[2]).toBe(global[2]);
  });
});

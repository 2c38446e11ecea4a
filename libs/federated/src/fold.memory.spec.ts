import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

/**
 * The fold's memory, measured in a process of its own (see fold-memory.probe.ts for why): the
 * probe is bundled with esbuild (well under a second) and run by this Node; it reports the model's
 * size (1M float32 parameters) with its figures.
 */

let dir: string;
let probe: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fold-memory-'));
  probe = join(dir, 'fold-memory-probe.js');
  buildSync({
    entryPoints: [join(__dirname, 'fold-memory.probe.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    outfile: probe,
    logLevel: 'silent',
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ProbeResult {
  peak: number;
  reads: number;
  modelBytes: number;
}

function foldPeak(sites: number, keepUpdates: boolean): ProbeResult {
  const out = execFileSync(process.execPath, [probe, String(sites), keepUpdates ? 'keep' : 'drop'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out) as ProbeResult;
}

describe('fold memory', () => {
  it('stays within ~3× the model bytes for 50 sites of a 1M-parameter model', () => {
    const { peak, reads, modelBytes } = foldPeak(50, false);
    expect(modelBytes).toBe(4_000_000);
    expect(reads).toBe(50);
    // ~3× (global + running sum + current update) is the design; measured 2.98–3.8×: V8 may keep
    // the previous update's buffer reachable from the async frame until the next collection, so
    // one more update (plus 10 % for headers and bookkeeping) bounds it. Independent of the
    // number of sites either way; the test below shows what keeping updates would cost.
    expect(peak).toBeLessThan(4.1 * modelBytes);
    expect(peak).toBeGreaterThan(2.5 * modelBytes);
  });

  it('would catch a fold that keeps updates (the (N+2)× failure)', () => {
    const { peak, modelBytes } = foldPeak(7, true);
    expect(peak).toBeGreaterThan(7 * modelBytes);
  });
});

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeWeights, layoutOf } from '../../weights/src';
import { Rng } from '../../common/src';
import { simulatedLayout, simulatedWeights } from './simulate';
import { FedAvg } from './strategies/fedavg';
import { NamedArray, TensorPredicate, UpdateEntry, UpdateSource } from './types';
import { EncodedUpdateSource } from './update-source';

/**
 * The fold-memory probe, run by `fold.memory.spec.ts` in a fresh `node --expose-gc` process:
 * inside a jest worker, a previous spec file's wasm heap (hundreds of MB of ArrayBuffer) can be
 * released during the measurement and read as the fold's memory going *down* (CI once saw 2.24×
 * against the 2.5× floor). A process of its own has nothing else to release.
 *
 * Usage: node fold-memory-probe.js SITES keep|drop → prints {"peak":…,"reads":…,"modelBytes":…}
 * (bytes; the probe turns on `--expose-gc` itself).
 *
 * Memory of the fold, measured as live ArrayBuffer bytes after a forced GC (garbage awaiting
 * collection is not memory the fold holds). The claim: sum (float64, 2×) + one update (1×) during
 * the fold and sum + global after it, so ≈ 3× the float32 model whatever the number of sites.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function liveArrayBuffers(): number {
  // Two synchronous major GCs: V8 frees ArrayBuffer backing stores in a sweep that can trail the
  // first collection.
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

/**
 * The baseline must not include memory that is about to go: the layout and global built at load
 * time leave garbage whose backing stores a finaliser may free after the first collections.
 * Collect and yield until the figure stops falling.
 */
async function settledLiveArrayBuffers(): Promise<number> {
  let last = liveArrayBuffers();
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = liveArrayBuffers();
    if (now >= last) return now;
    last = now;
  }
  return last;
}

const PARAMS = 1_000_000;
const layout = simulatedLayout(PARAMS);
const global = simulatedWeights(layout, new Rng(1), 0.1);

/** A blob store stand-in: each read produces a fresh encoded buffer, like reading a file. */
function blobStore(sites: number): { entries: UpdateEntry[]; load: (siteId: string) => Uint8Array } {
  const entries = Array.from({ length: sites }, (_, i) => ({
    siteId: `site-${String(i).padStart(3, '0')}`,
    kind: 'delta' as const,
    numSamples: 10 + i,
    deltaNorm: 1,
    metrics: {},
  }));
  const load = (siteId: string) => {
    const seed = Number(siteId.slice(5));
    const delta = layout.map((t, k) => {
      const values = new Float32Array(global[k].values.length);
      for (let i = 0; i < values.length; i++) values[i] = ((i * 31 + seed * 7) % 101) * 1e-4;
      return { name: t.name, shape: [...t.shape], values };
    });
    return encodeWeights(delta);
  };
  return { entries, load };
}

/** Wraps a source to sample live memory right after an update is read (the fold's peak). */
class MeasuringSource implements UpdateSource {
  peak = 0;
  reads = 0;
  constructor(
    private readonly inner: UpdateSource,
    private readonly baseline: number,
    private readonly retain?: NamedArray[][],
  ) {}
  entries() {
    return this.inner.entries();
  }
  async read(siteId: string, wanted: TensorPredicate) {
    const arrays = await this.inner.read(siteId, wanted);
    this.retain?.push(arrays);
    this.reads++;
    // Every read is the same steady state; sampling some keeps the forced GCs (slow) few.
    if (this.reads === 1 || this.reads % 7 === 0) {
      this.peak = Math.max(this.peak, liveArrayBuffers() - this.baseline);
    }
    return arrays;
  }
}

async function foldPeak(
  sites: number,
  leak: boolean,
): Promise<{ peak: number; reads: number; modelBytes: number }> {
  const { entries, load } = blobStore(sites);
  const baseline = await settledLiveArrayBuffers();
  const source = new MeasuringSource(new EncodedUpdateSource(entries, load), baseline, leak ? [] : undefined);
  let peak = 0;
  const result = await new FedAvg({ keepLocal: null }).aggregateFit(1, {
    stage: 'ssl',
    globalLayout: layoutOf(global),
    updates: source,
    loadGlobal: async () => {
      // Freshly decoded from the blob store: the global is only resident from here on.
      const copy = global.map((t) => ({
        name: t.name,
        shape: [...t.shape],
        values: new Float32Array(t.values),
      }));
      peak = liveArrayBuffers() - baseline;
      return copy;
    },
  });
  if (result.sites.length !== sites) throw new Error(`fold saw ${result.sites.length} of ${sites} sites`);
  return {
    peak: Math.max(peak, source.peak),
    reads: source.reads,
    modelBytes: PARAMS * Float32Array.BYTES_PER_ELEMENT,
  };
}

if (require.main === module) {
  const [sitesArg, mode] = process.argv.slice(2);
  const sites = Number(sitesArg);
  if (!Number.isInteger(sites) || sites < 1 || (mode !== 'keep' && mode !== 'drop')) {
    process.stderr.write(
      `usage: fold-memory-probe SITES keep|drop (got ${process.argv.slice(2).join(' ')})\n`,
    );
    process.exit(2);
  }
  foldPeak(sites, mode === 'keep').then(
    (result) => process.stdout.write(JSON.stringify(result) + '\n'),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}

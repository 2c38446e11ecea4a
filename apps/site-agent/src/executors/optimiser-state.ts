import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OptimizerState } from '../../../../libs/model/src/training';
import { OPTIMISER_NAMES, OptimiserName } from '../../../../libs/protocol/src';
import { decodeWeights, encodeWeights, NamedArray } from '../../../../libs/weights/src';

/**
 * Where a site keeps its optimiser moments between the rounds of one federated run. They are
 * site-local state like FedBN's kept norms: never sent, never aggregated. The state saved after
 * round r is what round r + 1 continues from; a retried round r continues from round r − 1's, so
 * a retry never applies the same round's moments twice.
 */
export interface OptimiserStates {
  /** The newest state saved for this run and stage before `round`, if any. */
  load(runId: string, stage: string, round: number): OptimizerState | undefined;
  save(runId: string, stage: string, round: number, state: OptimizerState): void;
}

/** In memory: the in-process simulator and tests. */
export class MemoryOptimiserStates implements OptimiserStates {
  private readonly states = new Map<string, Map<number, OptimizerState>>();

  load(runId: string, stage: string, round: number): OptimizerState | undefined {
    const byRound = this.states.get(`${runId}\n${stage}`);
    const before = [...(byRound?.keys() ?? [])].filter((r) => r < round).sort((a, b) => b - a)[0];
    return before === undefined ? undefined : byRound?.get(before);
  }

  save(runId: string, stage: string, round: number, state: OptimizerState): void {
    const key = `${runId}\n${stage}`;
    const byRound = this.states.get(key) ?? new Map<number, OptimizerState>();
    byRound.set(round, state);
    for (const r of byRound.keys()) if (r < round - 1) byRound.delete(r);
    this.states.set(key, byRound);
  }
}

/**
 * On disk in the agent's state directory, so that the moments survive an agent restart: one file
 * per (run, stage, round) in the weight codec's format (float32, exact), written atomically (temp
 * file + rename). Per run and stage the last two rounds are kept (a retry needs the one before);
 * of other runs only the newest `keepRuns`, so a site that takes part in many runs does not fill
 * its disk.
 */
export class FileOptimiserStates implements OptimiserStates {
  readonly dir: string;

  constructor(
    stateDir: string,
    private readonly keepRuns = 4,
  ) {
    this.dir = join(stateDir, 'optimiser');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  private keyOf(runId: string, stage: string): string {
    return createHash('sha256').update(`${runId}\n${stage}`).digest('hex').slice(0, 32);
  }

  private files(): { key: string; round: number; file: string }[] {
    return readdirSync(this.dir).flatMap((f) => {
      const m = /^([0-9a-f]{32})\.(\d+)\.weights$/.exec(f);
      return m ? [{ key: m[1], round: Number(m[2]), file: join(this.dir, f) }] : [];
    });
  }

  load(runId: string, stage: string, round: number): OptimizerState | undefined {
    const key = this.keyOf(runId, stage);
    const newest = this.files()
      .filter((f) => f.key === key && f.round < round)
      .sort((a, b) => b.round - a.round)[0];
    return newest ? stateFromArrays(decodeWeights(readFileSync(newest.file)), newest.file) : undefined;
  }

  save(runId: string, stage: string, round: number, state: OptimizerState): void {
    const key = this.keyOf(runId, stage);
    const file = join(this.dir, `${key}.${round}.weights`);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, encodeWeights(stateToArrays(state), 'float32'), { mode: 0o600 });
    renameSync(tmp, file);
    const all = this.files();
    for (const f of all) if (f.key === key && f.round < round - 1) rmSync(f.file, { force: true });
    const newestByKey = new Map<string, number>();
    for (const f of all) {
      if (f.key !== key)
        newestByKey.set(f.key, Math.max(newestByKey.get(f.key) ?? 0, statSync(f.file).mtimeMs));
    }
    const others = [...newestByKey].sort((a, b) => b[1] - a[1]);
    for (const [stale] of others.slice(Math.max(0, this.keepRuns - 1))) {
      for (const f of all) if (f.key === stale) rmSync(f.file, { force: true });
    }
  }
}

// Names in the file: `<kind>/steps` (the optimiser's count), `<kind>/steps/<param>` and
// `<kind>/<buffer>/<param>` (buffer 0 = m or velocity, 1 = v).
function stateToArrays(state: OptimizerState): NamedArray[] {
  const arrays: NamedArray[] = [
    { name: `${state.kind}/steps`, shape: [1], values: Float32Array.of(state.steps) },
  ];
  for (const p of state.params) {
    arrays.push({ name: `${state.kind}/steps/${p.name}`, shape: [1], values: Float32Array.of(p.steps) });
    p.buffers.forEach((values, k) =>
      arrays.push({ name: `${state.kind}/${k}/${p.name}`, shape: [values.length], values }),
    );
  }
  return arrays;
}

function stateFromArrays(arrays: NamedArray[], file: string): OptimizerState {
  const total = arrays.find((a) => /^[a-z]+\/steps$/.test(a.name));
  const kind = total?.name.split('/')[0];
  if (!total || !(OPTIMISER_NAMES as readonly string[]).includes(kind as string))
    throw new Error(`optimiser state ${file}: no known optimiser's step count`);
  const params = new Map<string, { name: string; steps: number; buffers: Float32Array[] }>();
  const prefix = `${kind}/steps/`;
  for (const a of arrays) {
    if (a.name.startsWith(prefix)) {
      const name = a.name.slice(prefix.length);
      params.set(name, { name, steps: a.values[0], buffers: [] });
    }
  }
  for (const a of arrays) {
    const m = new RegExp(`^${kind}/(\\d+)/(.+)$`).exec(a.name);
    if (!m) continue;
    const p = params.get(m[2]);
    if (!p) throw new Error(`optimiser state ${file}: ${a.name} has no step count`);
    p.buffers[Number(m[1])] = a.values;
  }
  return { kind: kind as OptimiserName, steps: total.values[0], params: [...params.values()] };
}

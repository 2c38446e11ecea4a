import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeWeights, encodeWeights, NamedArray } from '../../../libs/weights/src';

/**
 * The parameters that never leave the site (FedBN: normalisation layers), kept in the agent's
 * state directory between rounds and across restarts. Stored float32 in the weight codec's
 * format, written atomically (temp file + rename) so a crash never leaves half a file.
 */
export class LocalParamStore {
  readonly file: string;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.file = join(stateDir, 'local-params.weights');
  }

  load(): NamedArray[] {
    if (!existsSync(this.file)) return [];
    return decodeWeights(readFileSync(this.file));
  }

  /** Merges `arrays` into what is stored (same name → replaced). */
  save(arrays: readonly NamedArray[]): void {
    if (arrays.length === 0) return;
    const merged = new Map(this.load().map((a) => [a.name, a]));
    for (const a of arrays) merged.set(a.name, a);
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, encodeWeights([...merged.values()], 'float32'), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/**
 * The global weights with this site's kept-local tensors put back in their place (matching name
 * and shape only): what the site trains and evaluates from.
 */
export function overlayLocal(global: readonly NamedArray[], local: readonly NamedArray[]): NamedArray[] {
  const byName = new Map(local.map((a) => [a.name, a]));
  return global.map((g) => {
    const mine = byName.get(g.name);
    return mine && mine.values.length === g.values.length && sameShape(mine.shape, g.shape) ? mine : g;
  });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

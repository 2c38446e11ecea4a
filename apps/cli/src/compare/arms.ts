import { InputError } from '../../../../libs/common/src';
import { COMPARE_STRATEGIES, CompareStrategy } from './budget';

/** An arm id is its name, with `+ssl` when it was pre-trained by SSL. */
export function armId(arm: string, ssl: boolean): string {
  return ssl ? `${arm}+ssl` : arm;
}

export const ARM_KINDS = ['central', 'federated', 'local'] as const;
export type ArmKind = (typeof ARM_KINDS)[number];
export type SslMode = 'both' | 'on' | 'off';

/** One model to train per seed: its kind, SSL or not, and its strategy (federated) or site (local). */
export interface ArmSpec {
  kind: ArmKind;
  ssl: boolean;
  strategy?: CompareStrategy;
  site?: string;
  /** `central`, `federated-fedavg`, `local-<site>`. */
  name: string;
  /** The name with `+ssl` when SSL pre-trained: the id comparisons refer to. */
  id: string;
}

export interface ArmSelection {
  kinds: readonly ArmKind[];
  ssl: SslMode;
  strategies: readonly CompareStrategy[];
  /** The training sites, in order. */
  sites: readonly string[];
}

/** Parses `--arms central,federated,local`. */
export function parseArmKinds(text: string): ArmKind[] {
  return parseList(text, ARM_KINDS, '--arms');
}

/** Parses `--strategy fedavg,fedprox,fedbn`. */
export function parseStrategies(text: string): CompareStrategy[] {
  return parseList(text, COMPARE_STRATEGIES, '--strategy');
}

export function parseSslMode(text: string): SslMode {
  if (text === 'both' || text === 'on' || text === 'off') return text;
  throw new InputError(`--ssl must be both, on or off (got "${text}")`);
}

function parseList<T extends string>(text: string, allowed: readonly T[], option: string): T[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InputError(`${option}: give at least one of ${allowed.join(', ')}`);
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new InputError(`${option}: "${item}" is not one of ${allowed.join(', ')}`);
  }
  return [...new Set(items as T[])];
}

/** SSL settings asked for, SSL first. */
export function sslSettings(mode: SslMode): boolean[] {
  return mode === 'both' ? [true, false] : [mode === 'on'];
}

/** Every arm to train per seed, in a fixed order (the report's and the seed plumbing's). */
export function planArms(sel: ArmSelection): ArmSpec[] {
  const arms: ArmSpec[] = [];
  const add = (a: Omit<ArmSpec, 'id'>) => arms.push({ ...a, id: armId(a.name, a.ssl) });
  for (const ssl of sslSettings(sel.ssl)) {
    if (sel.kinds.includes('central')) add({ kind: 'central', ssl, name: 'central' });
    if (sel.kinds.includes('federated')) {
      for (const strategy of sel.strategies)
        add({ kind: 'federated', ssl, strategy, name: `federated-${strategy}` });
    }
    if (sel.kinds.includes('local')) {
      for (const site of sel.sites) add({ kind: 'local', ssl, site, name: `local-${site}` });
    }
  }
  return arms;
}

/** A paired comparison to make: `a − b`; `b` may be resolved per seed ("best local"). */
export interface PlannedComparison {
  question: 'federated − central' | 'federated − best local' | 'SSL − no-SSL';
  a: string;
  /** An arm id, or the local arms among which the best (highest pooled AUC) is taken per seed. */
  b: string | { bestOf: string[] };
}

/** The three questions of the comparison, for the arms trained. */
export function planComparisons(arms: readonly ArmSpec[]): PlannedComparison[] {
  const out: PlannedComparison[] = [];
  const ids = new Set(arms.map((a) => a.id));
  for (const fed of arms.filter((a) => a.kind === 'federated')) {
    const central = armId('central', fed.ssl);
    if (ids.has(central)) out.push({ question: 'federated − central', a: fed.id, b: central });
    const locals = arms.filter((a) => a.kind === 'local' && a.ssl === fed.ssl).map((a) => a.id);
    if (locals.length) out.push({ question: 'federated − best local', a: fed.id, b: { bestOf: locals } });
  }
  for (const withSsl of arms.filter((a) => a.ssl)) {
    const without = armId(withSsl.name, false);
    if (ids.has(without)) out.push({ question: 'SSL − no-SSL', a: withSsl.id, b: without });
  }
  return out;
}

/** Every pair the sites must score together so that any comparison can be made afterwards. */
export function pairsToScore(comparisons: readonly PlannedComparison[]): [string, string][] {
  const seen = new Map<string, [string, string]>();
  for (const c of comparisons) {
    for (const b of typeof c.b === 'string' ? [c.b] : c.b.bestOf) seen.set(`${c.a}\u0000${b}`, [c.a, b]);
  }
  return [...seen.values()];
}

/**
 * Seed of arm training for replicate `r` of base seed `base`: the same for every arm of a replicate,
 * so arms differ only by how they train (same initial weights, same shuffling streams).
 */
export function replicateSeeds(base: number, count: number): number[] {
  if (!Number.isInteger(count) || count < 1)
    throw new InputError(`--seeds must be a positive integer (got ${count})`);
  return Array.from({ length: count }, (_, r) => base + r);
}

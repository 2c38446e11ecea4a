import { cloneArrays, layoutOf } from '../../../weights/src';
import { AggregateFitResult, Strategy } from '../strategies/strategy';
import { InMemoryUpdateSource } from '../update-source';
import { NamedArray, TrainingStage, UpdateEntry, UpdateKind } from '../types';

/** Test-only helpers: small literal models and a one-call round. */
export function tensor(name: string, values: number[], shape: number[] = [values.length]): NamedArray {
  return { name, shape, values: Float32Array.from(values) };
}

export interface SiteUpdateSpec {
  siteId: string;
  numSamples: number;
  arrays: NamedArray[];
  kind?: UpdateKind;
  metrics?: Record<string, number>;
}

export function entryFor(update: SiteUpdateSpec): UpdateEntry {
  return {
    siteId: update.siteId,
    kind: update.kind ?? 'delta',
    numSamples: update.numSamples,
    deltaNorm: 1,
    metrics: update.metrics ?? {},
  };
}

/** Aggregates `updates` (in the given arrival order) against a copy of `global`. */
export function runRound(
  strategy: Strategy,
  stage: TrainingStage,
  global: NamedArray[],
  updates: SiteUpdateSpec[],
  round = 1,
): Promise<AggregateFitResult> {
  const source = new InMemoryUpdateSource(
    updates.map(entryFor),
    updates.map((u) => [u.siteId, u.arrays] as [string, NamedArray[]]),
  );
  return strategy.aggregateFit(round, {
    stage,
    globalLayout: layoutOf(global),
    updates: source,
    loadGlobal: async () => cloneArrays(global),
  });
}

export function valuesOf(arrays: NamedArray[], name: string): number[] {
  const found = arrays.find((a) => a.name === name);
  if (!found) throw new Error(`no tensor ${name}`);
  return [...found.values];
}

import { InputError, PhccError } from '../../../common/src';
import { compareSiteIds, foldOrder, foldUpdates } from '../fold';
import { elementCount, formatShape, shapesEqual } from '../named-arrays';
import { assertFlaglessPattern, STAGE_PARTS, uploadLayout, uploadPredicate } from '../parts';
import {
  NamedArray,
  SiteMetrics,
  TensorLayout,
  TrainingStage,
  UpdateEntry,
  UpdateKind,
  UPDATE_KINDS,
} from '../types';
import {
  AggregateEvaluateResult,
  AggregateFitResult,
  ConfigValue,
  EvaluateContext,
  EvaluateInstruction,
  EvaluateResult,
  FitContext,
  FitInstruction,
  FitRoundInput,
  Strategy,
} from './strategy';

/**
 * Options every strategy accepts.
 * - `updateKind` (default 'delta'): what sites send. Deltas are what clipping and noise act on.
 * - `keepLocal` (default null): tensors that never leave the site and are never aggregated.
 */
export interface BaseStrategyOptions {
  updateKind?: UpdateKind;
  keepLocal?: RegExp | null;
}

/**
 * What every strategy here shares: stage → parts selection, instructions, the sample-weighted
 * fold in site-id order, and evaluation averaging. A strategy only says how one tensor's folded
 * sum becomes the new global tensor (`finishTensor`), like Flower's `strategy_utils`.
 */
export abstract class FoldingStrategy implements Strategy {
  abstract readonly name: string;
  readonly updateKind: UpdateKind;
  protected readonly keepLocal: RegExp | null;

  constructor(options: BaseStrategyOptions = {}) {
    this.updateKind = options.updateKind ?? 'delta';
    if (!UPDATE_KINDS.includes(this.updateKind)) {
      throw new InputError(`updateKind must be one of ${UPDATE_KINDS.join(', ')} (got "${this.updateKind}")`);
    }
    this.keepLocal = options.keepLocal ?? null;
    assertFlaglessPattern(this.keepLocal, 'keepLocal');
  }

  get parameters(): Readonly<Record<string, ConfigValue | null>> {
    return {
      updateKind: this.updateKind,
      keepLocal: this.keepLocal?.source ?? null,
      proximalMu: this.proximalMu(),
    };
  }

  /** μ sent to the sites; 0 except for FedProx. */
  protected proximalMu(): number {
    return 0;
  }

  configureFit(round: number, context: FitContext): FitInstruction[] {
    return [...context.siteIds].sort(compareSiteIds).map((siteId) => ({
      siteId,
      round,
      stage: context.stage,
      parts: [...STAGE_PARTS[context.stage]],
      keepLocalPattern: this.keepLocal?.source ?? null,
      updateKind: this.updateKind,
      proximalMu: this.proximalMu(),
      config: { ...(context.config ?? {}) },
    }));
  }

  uploadLayout(globalLayout: readonly TensorLayout[], stage: TrainingStage): TensorLayout[] {
    return uploadLayout(globalLayout, STAGE_PARTS[stage], this.keepLocal);
  }

  async aggregateFit(round: number, input: FitRoundInput): Promise<AggregateFitResult> {
    const entries = input.updates.entries();
    if (entries.length === 0) throw new PhccError(`round ${round}: no updates to aggregate`, 'NO_UPDATES');
    for (const entry of entries) {
      if (entry.kind !== this.updateKind) {
        throw new PhccError(
          `round ${round}: site "${entry.siteId}" sent kind "${entry.kind}", the strategy expects "${this.updateKind}"`,
          'KIND_MISMATCH',
        );
      }
    }
    const layout = this.uploadLayout(input.globalLayout, input.stage);
    const wanted = uploadPredicate(STAGE_PARTS[input.stage], this.keepLocal);
    const sum = await foldUpdates(input.updates, entries, layout, wanted);

    // Only now is the global needed; it is overwritten tensor by tensor while the float64 sums are
    // released, so peak memory stays at sum (2×) + global (1×).
    const global = await input.loadGlobal();
    assertMatchesLayout(global, input.globalLayout);
    const folded = new Set(sum.names());
    this.beforeFinish(round);
    for (const tensor of global) {
      if (!folded.has(tensor.name)) continue;
      const tensorSum = sum.take(tensor.name);
      input.perturbSum?.(tensor.name, tensorSum);
      this.finishTensor(tensor, tensorSum, sum.totalWeight);
    }
    const ordered = foldOrder(entries);
    return { weights: global, metrics: weightedFitMetrics(ordered), sites: ordered.map((e) => e.siteId) };
  }

  /** Hook before the first `finishTensor` of a round (FedAdam counts its steps here). */
  protected beforeFinish(_round: number): void {}

  /**
   * Turns one tensor's Σ nᵢ·xᵢ (float64) and Σ nᵢ into the new global values, written in place
   * into `global.values`. For 'delta' rounds xᵢ are deltas; for 'weights' rounds, full weights.
   */
  protected abstract finishTensor(global: NamedArray, sum: Float64Array, totalWeight: number): void;

  configureEvaluate(round: number, context: EvaluateContext): EvaluateInstruction[] {
    return [...context.siteIds].sort(compareSiteIds).map((siteId) => ({
      siteId,
      round,
      keepLocalPattern: this.keepLocal?.source ?? null,
      config: { ...(context.config ?? {}) },
    }));
  }

  aggregateEvaluate(_round: number, results: readonly EvaluateResult[]): AggregateEvaluateResult {
    const ordered = [...results].sort((a, b) => compareSiteIds(a.siteId, b.siteId));
    const perSite: Record<string, SiteMetrics> = {};
    for (const result of ordered) {
      if (!(result.numExamples > 0)) {
        throw new PhccError(
          `site "${result.siteId}" evaluated ${result.numExamples} examples`,
          'BAD_SAMPLE_COUNT',
        );
      }
      if (perSite[result.siteId]) {
        throw new PhccError(`site "${result.siteId}" reported twice`, 'DUPLICATE_UPDATE');
      }
      perSite[result.siteId] = { ...result.metrics };
    }
    const metrics = weightedMeans(ordered.map((r) => ({ weight: r.numExamples, metrics: r.metrics })));
    metrics.num_sites = ordered.length;
    metrics.num_examples = ordered.reduce((total, r) => total + r.numExamples, 0);
    return { metrics, perSite };
  }

  exportState(): NamedArray[] {
    return [];
  }

  importState(state: readonly NamedArray[]): void {
    if (state.length > 0) {
      throw new InputError(`strategy ${this.name} keeps no server state (got ${state.length} tensors)`);
    }
  }
}

/** The loaded global must be the model the round was configured for (any tensor order). */
function assertMatchesLayout(global: readonly NamedArray[], layout: readonly TensorLayout[]): void {
  const mismatch = (why: string) =>
    new PhccError(`loaded global weights do not match the round's layout: ${why}`, 'GLOBAL_MISMATCH');
  if (global.length !== layout.length) {
    throw mismatch(`${global.length} tensors, layout has ${layout.length}`);
  }
  const expected = new Map(layout.map((t) => [t.name, t.shape]));
  for (const tensor of global) {
    const shape = expected.get(tensor.name);
    if (!shape) throw mismatch(`unexpected tensor "${tensor.name}"`);
    if (!shapesEqual(tensor.shape, shape) || tensor.values.length !== elementCount(shape)) {
      throw mismatch(
        `"${tensor.name}" has shape ${formatShape(tensor.shape)}, expected ${formatShape(shape)}`,
      );
    }
    expected.delete(tensor.name);
  }
}

/** Sample-weighted fit metrics plus counts, from the entries in fold order (so bit-stable too). */
function weightedFitMetrics(ordered: readonly UpdateEntry[]): SiteMetrics {
  const metrics = weightedMeans(ordered.map((e) => ({ weight: e.numSamples, metrics: e.metrics })));
  metrics.num_sites = ordered.length;
  metrics.num_samples = ordered.reduce((total, e) => total + e.numSamples, 0);
  return metrics;
}

/** Weighted mean of each metric over the parties that reported it (finite values only). */
export function weightedMeans(parties: readonly { weight: number; metrics: SiteMetrics }[]): SiteMetrics {
  const sums = new Map<string, { weighted: number; weight: number }>();
  for (const party of parties) {
    for (const [key, value] of Object.entries(party.metrics)) {
      if (!Number.isFinite(value)) continue;
      const acc = sums.get(key) ?? { weighted: 0, weight: 0 };
      acc.weighted += party.weight * value;
      acc.weight += party.weight;
      sums.set(key, acc);
    }
  }
  const means: SiteMetrics = {};
  for (const key of [...sums.keys()].sort()) {
    const acc = sums.get(key);
    if (acc && acc.weight > 0) means[key] = acc.weighted / acc.weight;
  }
  return means;
}

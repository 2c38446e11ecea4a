import { PhccError } from '../../common/src';
import { elementCount, formatShape, shapesEqual } from './named-arrays';
import { NamedArray, TensorLayout, TensorPredicate, UpdateEntry, UpdateSource } from './types';

/**
 * Site ids compared by UTF-16 code units — never `localeCompare`, whose order depends on the
 * machine's ICU locale and would make the fold order (hence the bits) machine-dependent.
 */
export function compareSiteIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The entries in the order the fold reads them; one update per site. */
export function foldOrder(entries: readonly UpdateEntry[]): UpdateEntry[] {
  const ordered = [...entries].sort((a, b) => compareSiteIds(a.siteId, b.siteId));
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i].siteId === ordered[i - 1].siteId) {
      throw new PhccError(`site "${ordered[i].siteId}" has two updates in one round`, 'DUPLICATE_UPDATE');
    }
  }
  return ordered;
}

/**
 * Running Σ wᵢ·xᵢ over updates, one update at a time, in float64.
 *
 * Memory: 8 bytes per parameter = 2× a float32 model. float64 keeps the sum exact to ~1e-16
 * relative, so the single rounding to float32 at the end dominates the error whatever the number
 * of sites. Floating-point addition is not associative, so bit-identical results need a fixed
 * order of `add` calls: `foldUpdates` reads sites in `compareSiteIds` order.
 */
export class WeightedSum {
  private readonly sums = new Map<string, Float64Array>();
  private readonly shapes = new Map<string, readonly number[]>();
  private weightTotal = 0;
  private updates = 0;

  constructor(layout: readonly TensorLayout[]) {
    for (const tensor of layout) {
      if (this.sums.has(tensor.name)) {
        throw new PhccError(`tensor "${tensor.name}" appears twice in the layout`, 'DUPLICATE_TENSOR');
      }
      this.sums.set(tensor.name, new Float64Array(elementCount(tensor.shape)));
      this.shapes.set(tensor.name, tensor.shape);
    }
  }

  get totalWeight(): number {
    return this.weightTotal;
  }

  get count(): number {
    return this.updates;
  }

  names(): string[] {
    return [...this.shapes.keys()];
  }

  /** Adds `weight` × every tensor. The arrays must match the layout exactly (the gate checked it). */
  add(arrays: readonly NamedArray[], weight: number): void {
    if (!(weight > 0) || !Number.isFinite(weight)) {
      throw new PhccError(`fold weight must be a finite number > 0 (got ${weight})`, 'BAD_WEIGHT');
    }
    if (arrays.length !== this.shapes.size) {
      throw new PhccError(
        `update has ${arrays.length} tensors, the fold expects ${this.shapes.size}`,
        'NAME_MISMATCH',
      );
    }
    for (const tensor of arrays) {
      const sum = this.sums.get(tensor.name);
      const shape = this.shapes.get(tensor.name);
      if (!sum || !shape) {
        throw new PhccError(
          `tensor "${tensor.name}" is not part of the fold (or was already taken)`,
          'NAME_MISMATCH',
        );
      }
      if (!shapesEqual(tensor.shape, shape) || tensor.values.length !== sum.length) {
        throw new PhccError(
          `tensor "${tensor.name}" has shape ${formatShape(tensor.shape)}, the fold expects ${formatShape(shape)}`,
          'SHAPE_MISMATCH',
        );
      }
      const x = tensor.values;
      for (let i = 0; i < sum.length; i++) sum[i] += weight * x[i];
    }
    this.weightTotal += weight;
    this.updates++;
  }

  /**
   * Hands over one tensor's sum and forgets it, so that finishing tensor by tensor frees the
   * float64 sums while the float32 result is written.
   */
  take(name: string): Float64Array {
    const sum = this.sums.get(name);
    if (!sum) {
      throw new PhccError(`tensor "${name}" is not part of the fold (or was already taken)`, 'NAME_MISMATCH');
    }
    this.sums.delete(name);
    return sum;
  }
}

/**
 * Reads every entry's update from the source, one at a time in site-id order, and folds it in
 * with weight = its sample count. Peak memory: the sum (2× float32 model bytes) + one update (1×).
 */
export async function foldUpdates(
  source: UpdateSource,
  entries: readonly UpdateEntry[],
  layout: readonly TensorLayout[],
  wanted: TensorPredicate,
): Promise<WeightedSum> {
  const sum = new WeightedSum(layout);
  for (const entry of foldOrder(entries)) {
    sum.add(await source.read(entry.siteId, wanted), entry.numSamples);
  }
  return sum;
}

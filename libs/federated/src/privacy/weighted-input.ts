import { InputError, PhccError } from '../../../common/src';
import { NamedArray, TensorLayout } from '../types';
import { decodeFixedPoint, encodeFixedPoint, FixedPoint } from './fixed-point';

/**
 * What a site feeds into secure aggregation: its update's tensors, each value multiplied by the
 * site's weight w ∈ (0, 1], concatenated in layout order, then a trailer of scalars — w itself
 * first (so the server learns Σw and can divide), then any extra per-site scalars a strategy
 * sums (the adaptive-clipping bit). Only the sum of these vectors is ever revealed, so the
 * weighted average Σ w·x / Σ w is the only way the coordinator sees the update.
 *
 * w is the site's sample count divided by the plan's cap on it (`maxWeight`), so that |w·x| is
 * bounded by the same `maxAbs` as x and the fixed-point overflow bound holds.
 */
export interface WeightedLayout {
  tensors: readonly TensorLayout[];
  /** Names of the extra trailer scalars after the weight, in order. */
  extras: readonly string[];
}

export function weightedVectorLength(layout: WeightedLayout): number {
  return layout.tensors.reduce((n, t) => n + size(t.shape), 0) + 1 + layout.extras.length;
}

/** Encodes one site's update (in layout order, names checked) with its weight and extras. */
export function encodeWeightedUpdate(
  arrays: readonly NamedArray[],
  weight: number,
  extras: readonly number[],
  layout: WeightedLayout,
  fp: FixedPoint,
): Float64Array {
  if (!(weight > 0 && weight <= 1))
    throw new InputError(`a site's aggregation weight must be in (0, 1] (got ${weight})`);
  if (fp.maxAbs < 1) throw new InputError('the fixed-point range must include the weight (maxAbs ≥ 1)');
  if (extras.length !== layout.extras.length) {
    throw new InputError(
      `expected ${layout.extras.length} extra scalars (${layout.extras.join(', ')}), got ${extras.length}`,
    );
  }
  if (arrays.length !== layout.tensors.length) {
    throw new PhccError(
      `the update has ${arrays.length} tensors; the round's layout has ${layout.tensors.length}`,
      'NAME_MISMATCH',
    );
  }
  const out = new Float64Array(weightedVectorLength(layout));
  let offset = 0;
  layout.tensors.forEach((t, i) => {
    const a = arrays[i];
    if (a.name !== t.name || a.values.length !== size(t.shape)) {
      throw new PhccError(
        `tensor ${i} is "${a.name}" (${a.values.length} values); the layout expects "${t.name}"`,
        'NAME_MISMATCH',
      );
    }
    encodeFixedPoint(a.values, fp, out, offset, weight);
    offset += a.values.length;
  });
  encodeFixedPoint([weight, ...extras], fp, out, offset);
  return out;
}

/** The unmasked sum → the weighted mean of the tensors, Σw, and the summed extras. */
export function decodeWeightedSum(
  sum: Float64Array,
  layout: WeightedLayout,
  fp: FixedPoint,
): { arrays: NamedArray[]; totalWeight: number; extras: Record<string, number> } {
  if (sum.length !== weightedVectorLength(layout)) {
    throw new PhccError(
      `the sum has ${sum.length} elements; the layout needs ${weightedVectorLength(layout)}`,
      'SECAGG_LENGTH',
    );
  }
  const decoded = decodeFixedPoint(sum, fp);
  let offset = 0;
  const sizes = layout.tensors.map((t) => size(t.shape));
  const totalWeight = decoded[sizes.reduce((a, b) => a + b, 0)];
  if (!(totalWeight > 0))
    throw new PhccError(`the summed weight is ${totalWeight}; nothing to average`, 'SECAGG_EMPTY');
  const arrays = layout.tensors.map((t, i) => {
    const values = new Float32Array(sizes[i]);
    for (let j = 0; j < values.length; j++) values[j] = decoded[offset + j] / totalWeight;
    offset += sizes[i];
    return { name: t.name, shape: [...t.shape], values };
  });
  const extras: Record<string, number> = {};
  layout.extras.forEach((name, i) => (extras[name] = decoded[offset + 1 + i]));
  return { arrays, totalWeight, extras };
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

import { WeightCodecError } from './errors';
import { compareNames, describeShape, NamedArray } from './format';
import { shapeSize } from './header';

/**
 * Arithmetic on whole models held as named arrays: what strategies, update filters and checks
 * need (deltas, weighted sums, norms) without tfjs. Models reach 25M parameters and every round
 * touches each of them several times, so every function loops over the Float32Arrays directly,
 * and those that produce arrays accept an `out` to write into (which may be one of the inputs,
 * and is returned as is) instead of allocating a new model each call. Binary operations pair tensors by name, not by
 * position, after checking that both sides have the same layout.
 */

/** A tensor's place in a model without its values. */
export interface ArrayLayout {
  name: string;
  shape: number[];
}

export function parameterCount(arrays: readonly NamedArray[]): number {
  let count = 0;
  for (const array of arrays) count += array.values.length;
  return count;
}

/** Names and shapes (copied), e.g. to pass as a decode expectation or to rebuild from a flat vector. */
export function layoutOf(arrays: readonly NamedArray[]): ArrayLayout[] {
  return arrays.map(({ name, shape }) => ({ name, shape: [...shape] }));
}

/** The same arrays in canonical (encoding) order: sorted by name. */
export function sortByName<T extends { name: string }>(arrays: readonly T[]): T[] {
  return [...arrays].sort((a, b) => compareNames(a.name, b.name));
}

/** Concatenates the values in the given order into `out` (or a new array of the right length). */
export function flatten(arrays: readonly NamedArray[], out?: Float32Array): Float32Array {
  const count = parameterCount(arrays);
  if (out && out.length !== count) {
    throw new WeightCodecError(
      `flatten: output has ${out.length} values, the arrays hold ${count}`,
      'LENGTH_MISMATCH',
    );
  }
  const flat = out ?? new Float32Array(count);
  let position = 0;
  for (const array of arrays) {
    flat.set(array.values, position);
    position += array.values.length;
  }
  return flat;
}

/**
 * Splits a flat vector back into tensors following `layout`'s order. The values are views into
 * `flat` (no copy): writing to one writes to the other.
 */
export function unflatten(flat: Float32Array, layout: readonly ArrayLayout[]): NamedArray[] {
  let position = 0;
  const arrays = layout.map(({ name, shape }) => {
    const size = shapeSize(shape);
    const values = flat.subarray(position, position + size);
    position += size;
    return { name, shape: [...shape], values };
  });
  if (position !== flat.length) {
    throw new WeightCodecError(
      `unflatten: the layout holds ${position} values, the vector ${flat.length}`,
      'LENGTH_MISMATCH',
    );
  }
  return arrays;
}

/** Euclidean norm over all values of all tensors (accumulated in float64); NaN/Inf propagate. */
export function l2Norm(arrays: readonly NamedArray[]): number {
  let sum = 0;
  for (const { values } of arrays) {
    for (let i = 0; i < values.length; i++) sum += values[i] * values[i];
  }
  return Math.sqrt(sum);
}

/** The first NaN or ±Inf, for a finite-values check that can say where the problem is. */
export function findNonFinite(
  arrays: readonly NamedArray[],
): { name: string; index: number; value: number } | undefined {
  for (const { name, values } of arrays) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      // Any arithmetic with NaN or Inf gives NaN: one subtraction tests both.
      if (v - v !== 0) return { name, index: i, value: v };
    }
  }
  return undefined;
}

/**
 * Throws unless `a` and `b` hold the same tensor names with the same shapes (and the right
 * number of values), in any order. `what` names the two sides in the message.
 */
export function assertSameLayout(
  a: readonly NamedArray[],
  b: readonly NamedArray[],
  what: [string, string] = ['first', 'second'],
): void {
  pairByName(a, b, what);
}

/** a − b, e.g. a site's update as a delta from the global model. Result in `a`'s order. */
export function subtract(
  a: readonly NamedArray[],
  b: readonly NamedArray[],
  out?: NamedArray[],
): NamedArray[] {
  return combine(a, b, out, (x, y, z) => {
    for (let i = 0; i < z.length; i++) z[i] = x[i] - y[i];
  });
}

/** a + b, e.g. applying an aggregated delta to the global model. Result in `a`'s order. */
export function add(a: readonly NamedArray[], b: readonly NamedArray[], out?: NamedArray[]): NamedArray[] {
  return combine(a, b, out, (x, y, z) => {
    for (let i = 0; i < z.length; i++) z[i] = x[i] + y[i];
  });
}

/** factor × a, e.g. norm clipping (`out` = `a` scales in place). */
export function scale(a: readonly NamedArray[], factor: number, out?: NamedArray[]): NamedArray[] {
  const target = out ? pairByName(a, out, ['input', 'output']) : zerosLike(a);
  a.forEach((array, t) => {
    const x = array.values;
    const z = target[t].values;
    for (let i = 0; i < z.length; i++) z[i] = x[i] * factor;
  });
  return out ?? target;
}

/**
 * target += factor × source, in place: the weighted sum at the heart of FedAvg without a
 * temporary model per site. Returns `target`.
 */
export function addScaledInPlace(
  target: NamedArray[],
  source: readonly NamedArray[],
  factor: number,
): NamedArray[] {
  const paired = pairByName(target, source, ['target', 'source']);
  target.forEach((array, t) => {
    const z = array.values;
    const x = paired[t].values;
    for (let i = 0; i < z.length; i++) z[i] += factor * x[i];
  });
  return target;
}

/** Zero-filled arrays with `a`'s layout, e.g. an accumulator for a weighted sum. */
export function zerosLike(a: readonly NamedArray[]): NamedArray[] {
  return a.map(({ name, shape, values }) => ({
    name,
    shape: [...shape],
    values: new Float32Array(values.length),
  }));
}

/** A deep copy: separate values, so in-place arithmetic on it leaves the original alone. */
export function cloneArrays(a: readonly NamedArray[]): NamedArray[] {
  return a.map(({ name, shape, values }) => ({ name, shape: [...shape], values: values.slice() }));
}

type ElementWise = (x: Float32Array, y: Float32Array, z: Float32Array) => void;

function combine(
  a: readonly NamedArray[],
  b: readonly NamedArray[],
  out: NamedArray[] | undefined,
  apply: ElementWise,
): NamedArray[] {
  const pairedB = pairByName(a, b, ['first', 'second']);
  const target = out ? pairByName(a, out, ['input', 'output']) : zerosLike(a);
  a.forEach((array, t) => apply(array.values, pairedB[t].values, target[t].values));
  return out ?? target;
}

/**
 * `b` reordered to follow `a`, after checking the layouts match. Positions are tried first
 * (both sides usually come in the same order), so the map is only built when they differ.
 */
function pairByName(
  a: readonly NamedArray[],
  b: readonly NamedArray[],
  [aLabel, bLabel]: [string, string],
): NamedArray[] {
  const aByName = indexOwn(a, aLabel);
  const bByName = indexOwn(b, bLabel);
  let paired: NamedArray[];
  if (a.length === b.length && a.every((array, i) => array.name === b[i].name)) {
    paired = b as NamedArray[];
  } else {
    const missing = a.filter((array) => !bByName.has(array.name)).map((array) => array.name);
    const extra = b.filter((array) => !aByName.has(array.name)).map((array) => array.name);
    if (missing.length > 0 || extra.length > 0) {
      const parts = [];
      if (missing.length > 0) parts.push(`${bLabel} lacks ${missing.slice(0, 5).join(', ')}`);
      if (extra.length > 0) parts.push(`${bLabel} has extra ${extra.slice(0, 5).join(', ')}`);
      throw new WeightCodecError(
        `${aLabel} and ${bLabel} weights differ in tensors: ${parts.join('; ')}`,
        'NAME_MISMATCH',
        missing[0] ?? extra[0],
      );
    }
    paired = a.map((array) => bByName.get(array.name) as NamedArray);
  }
  a.forEach((array, i) => {
    const other = paired[i];
    if (array.shape.length !== other.shape.length || array.shape.some((dim, d) => dim !== other.shape[d])) {
      throw new WeightCodecError(
        `tensor "${array.name}" has shape ${describeShape(array.shape)} in the ${aLabel} weights but ` +
          `${describeShape(other.shape)} in the ${bLabel}`,
        'SHAPE_MISMATCH',
        array.name,
      );
    }
  });
  return paired;
}

/** Checks one side on its own (unique names, values matching shapes) and indexes it by name. */
function indexOwn(arrays: readonly NamedArray[], label: string): Map<string, NamedArray> {
  const byName = new Map<string, NamedArray>();
  for (const array of arrays) {
    const { name, shape, values } = array;
    if (byName.has(name)) {
      throw new WeightCodecError(`${label} weights hold tensor "${name}" twice`, 'DUPLICATE_NAME', name);
    }
    if (shapeSize(shape) !== values.length) {
      throw new WeightCodecError(
        `${label} weights: tensor "${name}" has ${values.length} values but shape ${describeShape(shape)}`,
        'LENGTH_MISMATCH',
        name,
      );
    }
    byName.set(name, array);
  }
  return byName;
}

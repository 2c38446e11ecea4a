import { PhccError } from '../../common/src';
import { NamedArray } from './types';

/** Number of elements of a tensor of this shape (1 for a scalar, shape []). */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

export function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function byName(arrays: readonly NamedArray[]): Map<string, NamedArray> {
  const map = new Map<string, NamedArray>();
  for (const array of arrays) {
    if (map.has(array.name)) throw new PhccError(`tensor "${array.name}" appears twice`, 'DUPLICATE_TENSOR');
    map.set(array.name, array);
  }
  return map;
}

/**
 * Σ (a − b)² over every element of every tensor of `a`, accumulated in float64. `b` supplies the
 * reference tensor by name (omitted → zero, i.e. the squared norm of `a`).
 */
export function squaredDistance(a: readonly NamedArray[], b?: ReadonlyMap<string, NamedArray>): number {
  let total = 0;
  for (const tensor of a) {
    const x = tensor.values;
    const ref = b?.get(tensor.name);
    if (b && !ref) throw new PhccError(`no reference tensor "${tensor.name}"`, 'NAME_MISMATCH');
    if (ref && ref.values.length !== x.length) {
      throw new PhccError(
        `tensor "${tensor.name}" has ${x.length} values, reference ${ref.values.length}`,
        'SHAPE_MISMATCH',
      );
    }
    if (ref) {
      const y = ref.values;
      for (let i = 0; i < x.length; i++) {
        const d = x[i] - y[i];
        total += d * d;
      }
    } else {
      for (let i = 0; i < x.length; i++) total += x[i] * x[i];
    }
  }
  return total;
}

import {
  add,
  addScaledInPlace,
  assertSameLayout,
  cloneArrays,
  findNonFinite,
  flatten,
  l2Norm,
  layoutOf,
  parameterCount,
  scale,
  sortByName,
  subtract,
  unflatten,
  zerosLike,
} from './arrays';
import { NamedArray } from './format';

const model = (k: number[], b: number[]): NamedArray[] => [
  { name: 'w', shape: [2, 2], values: Float32Array.from(k) },
  { name: 'b', shape: [2], values: Float32Array.from(b) },
];

describe('named-array arithmetic', () => {
  it('counts, flattens and unflattens in the given order', () => {
    const m = model([1, 2, 3, 4], [5, 6]);
    expect(parameterCount(m)).toBe(6);
    const flat = flatten(m);
    expect(Array.from(flat)).toEqual([1, 2, 3, 4, 5, 6]);
    const back = unflatten(flat, layoutOf(m));
    expect(back).toEqual(m);
    back[1].values[0] = 50; // views into the flat vector
    expect(flat[4]).toBe(50);
    const reused = new Float32Array(6);
    expect(flatten(m, reused)).toBe(reused);
    expect(() => flatten(m, new Float32Array(5))).toThrow(/5 values.*6/);
    expect(() => unflatten(new Float32Array(7), layoutOf(m))).toThrow(/6 values, the vector 7/);
  });

  it('computes the L2 norm over all tensors in float64', () => {
    expect(l2Norm(model([3, 0, 0, 0], [0, 4]))).toBe(5);
    expect(l2Norm([])).toBe(0);
    expect(l2Norm(model([NaN, 0, 0, 0], [0, 0]))).toBeNaN();
    // 4M values of 1e-4: a float32 accumulator would drift visibly from 0.2.
    const many: NamedArray[] = [{ name: 'x', shape: [4e6], values: new Float32Array(4e6).fill(1e-4) }];
    expect(l2Norm(many)).toBeCloseTo(Math.sqrt(4e6) * Math.fround(1e-4), 9);
  });

  it('finds the first non-finite value and where it is', () => {
    expect(findNonFinite(model([1, 2, 3, 4], [5, 6]))).toBeUndefined();
    expect(findNonFinite(model([1, 2, 3, 4], [5, -Infinity]))).toEqual({
      name: 'b',
      index: 1,
      value: -Infinity,
    });
    const nan = findNonFinite(model([1, NaN, 3, 4], [5, 6]));
    expect(nan?.name).toBe('w');
    expect(nan?.index).toBe(1);
  });

  it('subtracts, adds and scales, pairing tensors by name', () => {
    const a = model([1, 2, 3, 4], [5, 6]);
    const b = [...model([0.5, 0.5, 1, 1], [2, 2])].reverse();
    const delta = subtract(a, b);
    expect(delta.map((t) => t.name)).toEqual(['w', 'b']);
    expect(Array.from(delta[0].values)).toEqual([0.5, 1.5, 2, 3]);
    expect(Array.from(delta[1].values)).toEqual([3, 4]);
    const sum = add(delta, b);
    expect(sum).toEqual(a);
    expect(Array.from(scale(a, 2)[1].values)).toEqual([10, 12]);
    expect(a[1].values[0]).toBe(5); // inputs untouched
  });

  it('writes into `out` (which may alias an input) instead of allocating', () => {
    const a = model([1, 2, 3, 4], [5, 6]);
    const b = model([1, 1, 1, 1], [1, 1]);
    const out = subtract(a, b, a);
    expect(out).toBe(a);
    expect(Array.from(a[0].values)).toEqual([0, 1, 2, 3]);
    const wValues = a[0].values;
    scale(a, 0.5, a);
    expect(a[0].values).toBe(wValues);
    expect(Array.from(a[0].values)).toEqual([0, 0.5, 1, 1.5]);
    const acc = zerosLike(a);
    addScaledInPlace(acc, b, 0.25);
    addScaledInPlace(acc, a, 2);
    expect(Array.from(acc[0].values)).toEqual([0.25, 1.25, 2.25, 3.25]);
    expect(Array.from(acc[1].values)).toEqual([4.25, 5.25]);
    const copy = cloneArrays(acc);
    copy[0].values[0] = 99;
    expect(acc[0].values[0]).toBe(0.25);
  });

  it('rejects different layouts, naming the tensor', () => {
    const a = model([1, 2, 3, 4], [5, 6]);
    expect(() => assertSameLayout(a, [...a].reverse())).not.toThrow();
    expect(() => assertSameLayout(a, [a[0]])).toThrow(
      expect.objectContaining({ code: 'NAME_MISMATCH', tensor: 'b' }),
    );
    expect(() => assertSameLayout(a, [...a, { name: 'c', shape: [], values: new Float32Array(1) }])).toThrow(
      /extra c/,
    );
    const reshaped = [a[0], { name: 'b', shape: [1, 2], values: a[1].values }];
    expect(() => subtract(a, reshaped)).toThrow(
      expect.objectContaining({
        code: 'SHAPE_MISMATCH',
        message: expect.stringMatching(/"b" has shape \[2\]/),
      }),
    );
    const short = [a[0], { name: 'b', shape: [2], values: new Float32Array(3) }];
    expect(() => add(a, short)).toThrow(expect.objectContaining({ code: 'LENGTH_MISMATCH', tensor: 'b' }));
    expect(() => add(a, [a[0], a[0]])).toThrow(expect.objectContaining({ code: 'DUPLICATE_NAME' }));
    expect(() => scale(a, 2, [a[0]])).toThrow(/output/);
  });

  it('sorts by name into the encoding order', () => {
    expect(sortByName(model([1, 2, 3, 4], [5, 6])).map((t) => t.name)).toEqual(['b', 'w']);
  });

  it('handles a 10M-parameter delta, norm and weighted sum in well under a second each', () => {
    const n = 10_000_000;
    const a: NamedArray[] = [{ name: 'x', shape: [n], values: new Float32Array(n).fill(2) }];
    const b: NamedArray[] = [{ name: 'x', shape: [n], values: new Float32Array(n).fill(1) }];
    const start = performance.now();
    const delta = subtract(a, b);
    const norm = l2Norm(delta);
    addScaledInPlace(a, delta, -1);
    expect(norm).toBeCloseTo(Math.sqrt(n), 6);
    expect(a[0].values[n - 1]).toBe(1);
    expect(performance.now() - start).toBeLessThan(4000); // ~0.2 s idle; generous for loaded CI
  });
});

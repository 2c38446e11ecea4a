import { InputError } from '../../common/src';

/**
 * Which way a score points. '<' (the default, as pROC's `direction = "<"`): controls score lower
 * than cases, i.e. a higher score means the positive class. '>': a lower score means positive.
 */
export type Direction = '<' | '>';

/**
 * Scores split by class and oriented so that higher always means positive; every algorithm in
 * this library works on this form, so direction is handled in exactly one place.
 */
export interface SplitScores {
  /** Oriented scores of the positive cases (label 1), in input order. */
  cases: Float64Array;
  /** Oriented scores of the negative controls (label 0), in input order. */
  controls: Float64Array;
  /** Maps an oriented score back to the caller's scale (identity for '<', negation for '>'). */
  direction: Direction;
}

/**
 * Checks labels (0/1) and scores (finite numbers) of equal length and splits them by class.
 * `minPerClass` is 1 for an AUC and 2 for anything with a variance (DeLong, bootstrap).
 * Errors name the offending index so a caller can map it back to its own row numbering.
 */
export function splitScores(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  direction: Direction = '<',
  minPerClass = 1,
  what = 'scores',
): SplitScores {
  if (labels.length !== scores.length) {
    throw new InputError(`${what}: ${labels.length} labels but ${scores.length} scores`);
  }
  if (direction !== '<' && direction !== '>') {
    throw new InputError(`direction must be '<' or '>' (got "${String(direction)}")`);
  }
  let nPos = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label !== 0 && label !== 1) {
      throw new InputError(`${what}: label at index ${i} is ${label}; labels must be 0 or 1`);
    }
    if (!Number.isFinite(scores[i])) {
      throw new InputError(`${what}: score at index ${i} is ${scores[i]}; scores must be finite numbers`);
    }
    nPos += label;
  }
  const nNeg = labels.length - nPos;
  if (nPos < minPerClass || nNeg < minPerClass) {
    throw new InputError(
      `${what}: ${nPos} positive and ${nNeg} negative cases; at least ${minPerClass} of each class are needed`,
    );
  }
  const sign = direction === '<' ? 1 : -1;
  const cases = new Float64Array(nPos);
  const controls = new Float64Array(nNeg);
  let p = 0;
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) cases[p++] = sign * scores[i];
    else controls[n++] = sign * scores[i];
  }
  return { cases, controls, direction };
}

/** A sorted copy (typed-array sort is numeric and native: ~10× faster than an index sort). */
export function sortedCopy(values: Float64Array): Float64Array {
  return new Float64Array(values).sort();
}

/** First index whose value is ≥ v in an ascending array. */
export function lowerBound(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is > v in an ascending array. */
export function upperBound(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

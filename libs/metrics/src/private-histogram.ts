import { InputError } from '../../common/src';
import { qnorm } from './distributions';
import { ScoreHistogram } from './pooled';

/**
 * Score histograms a site may release without exposing single patients, and the pooled AUC
 * computed from exactly what was released.
 *
 * With ~30 test patients and 1,000 bins every patient sits alone in a bin, so the fine histogram
 * is the list of per-patient (score, label) pairs. `kAnonymousHistogram` merges adjacent fine
 * bins (adaptive resolution) until every released bin holds at least k patients, or none;
 * boundaries stay on the fine grid. What a bin still reveals: that between its two edges lie
 * this many cases and controls; a patient's score is known only to the bin's width.
 */
export interface IntervalHistogram {
  /** m + 1 increasing edges from 0 to 1; bin b is [edges[b], edges[b+1]), the last one includes 1. */
  edges: number[];
  pos: number[];
  neg: number[];
  site?: string;
}

export const DEFAULT_MIN_BIN_COUNT = 5;

/**
 * Merges a fine histogram's bins left to right until each merged bin holds ≥ k patients; a
 * remainder below k joins the last bin. Refuses a site with fewer than k patients in all (it can
 * release nothing k-anonymous).
 */
export function kAnonymousHistogram(
  h: ScoreHistogram,
  k = DEFAULT_MIN_BIN_COUNT,
  site?: string,
): IntervalHistogram {
  const where = site ? `site ${site}` : 'histogram';
  if (!Number.isInteger(k) || k < 1)
    throw new InputError(`${where}: minimum bin count k must be a positive integer (got ${k})`);
  const total = h.pos.reduce((a, b) => a + b, 0) + h.neg.reduce((a, b) => a + b, 0);
  if (total < k)
    throw new InputError(`${where}: ${total} patients in all, fewer than k = ${k}; nothing can be released`);
  const edges = [0];
  const pos: number[] = [];
  const neg: number[] = [];
  let p = 0;
  let n = 0;
  for (let b = 0; b < h.bins; b++) {
    p += h.pos[b];
    n += h.neg[b];
    if (p + n >= k) {
      edges.push((b + 1) / h.bins);
      pos.push(p);
      neg.push(n);
      p = 0;
      n = 0;
    }
  }
  if (p + n > 0) {
    pos[pos.length - 1] += p;
    neg[neg.length - 1] += n;
  }
  edges[edges.length - 1] = 1;
  return { edges, pos, neg, ...(site ? { site } : {}) };
}

/** A fine (equal-width) histogram as an interval histogram, for pooling with merged ones. */
export function toIntervalHistogram(h: ScoreHistogram & { site?: string }): IntervalHistogram {
  return {
    edges: Array.from({ length: h.bins + 1 }, (_, b) => b / h.bins),
    pos: [...h.pos],
    neg: [...h.neg],
    ...(h.site ? { site: h.site } : {}),
  };
}

export interface ReleasedPooledAuc {
  /** Pairs with disjoint intervals counted exactly, overlapping pairs as ½. */
  auc: number;
  /** |exact pooled AUC − auc| ≤ this: ½ · overlapping pairs / all pairs. */
  maxBinningError: number;
  /** DeLong-type standard error of `auc` (two-sample U-statistic with kernel 0, ½, 1). */
  standardError: number;
  /** CI of level `level` around `auc`, widened on each side by maxBinningError, clamped to [0, 1]. */
  ci: [number, number];
  level: number;
  nPos: number;
  nNeg: number;
}

interface Interval {
  lo: number;
  hi: number;
  count: number;
}

/**
 * The pooled AUC of all sites' released histograms (each may have its own edges): a (case,
 * control) pair counts 1 when the case's interval lies wholly above the control's, 0 wholly
 * below, ½ when they overlap. The exact AUC of the underlying scores lies within
 * ±maxBinningError of it; the CI is the DeLong interval of this estimator widened by that bound,
 * so it covers what an exact-score CI would, at the stated level, to within the binning error.
 */
export function pooledAucFromReleased(
  histograms: readonly IntervalHistogram[],
  level = 0.95,
): ReleasedPooledAuc {
  if (histograms.length === 0) throw new InputError('pooled AUC: no released histograms');
  const cases: Interval[] = [];
  const controls: Interval[] = [];
  histograms.forEach((h, s) => {
    const where = `site ${h.site ?? `#${s + 1}`}`;
    const m = h.edges.length - 1;
    if (m < 1 || h.pos.length !== m || h.neg.length !== m)
      throw new InputError(`${where}: ${m + 1} edges need ${m} pos and neg counts`);
    if (h.edges[0] !== 0 || h.edges[m] !== 1 || h.edges.some((e, i) => i > 0 && !(e > h.edges[i - 1]))) {
      throw new InputError(`${where}: edges must rise strictly from 0 to 1`);
    }
    for (let b = 0; b < m; b++) {
      for (const [name, counts, into] of [
        ['pos', h.pos, cases],
        ['neg', h.neg, controls],
      ] as const) {
        const c = counts[b];
        if (!Number.isInteger(c) || c < 0)
          throw new InputError(`${where}: ${name}[${b}] = ${c} is not a count`);
        // The last bin includes 1: treat its upper edge as open above 1 so [x, 1] compares right.
        if (c > 0) into.push({ lo: h.edges[b], hi: b === m - 1 ? Infinity : h.edges[b + 1], count: c });
      }
    }
  });
  const nPos = cases.reduce((a, c) => a + c.count, 0);
  const nNeg = controls.reduce((a, c) => a + c.count, 0);
  if (nPos === 0 || nNeg === 0)
    throw new InputError(`pooled AUC: ${nPos} cases and ${nNeg} controls released; both classes are needed`);
  if (!(level > 0 && level < 1)) throw new InputError(`level must be in (0, 1) (got ${level})`);

  // Per case interval: controls wholly below (hi ≤ lo) and wholly above (lo ≥ hi); per control the mirror.
  const controlHis = cumulative(controls, (c) => c.hi);
  const controlLos = cumulative(controls, (c) => c.lo);
  const caseHis = cumulative(cases, (c) => c.hi);
  const caseLos = cumulative(cases, (c) => c.lo);
  let twiceU = 0;
  let overlapPairs = 0;
  const v10: number[] = [];
  for (const c of cases) {
    const below = countAtMost(controlHis, c.lo);
    const above = nNeg - countBelow(controlLos, c.hi);
    const overlap = nNeg - below - above;
    twiceU += c.count * (2 * below + overlap);
    overlapPairs += c.count * overlap;
    v10.push((below + overlap / 2) / nNeg);
  }
  const v01: number[] = [];
  for (const c of controls) {
    const casesAbove = nPos - countBelow(caseLos, c.hi);
    const casesBelow = countAtMost(caseHis, c.lo);
    v01.push((casesAbove + (nPos - casesAbove - casesBelow) / 2) / nPos);
  }
  const auc = twiceU / (2 * nPos * nNeg);
  const s10 = nPos > 1 ? cases.reduce((s, c, i) => s + c.count * (v10[i] - auc) ** 2, 0) / (nPos - 1) : 0;
  const s01 = nNeg > 1 ? controls.reduce((s, c, j) => s + c.count * (v01[j] - auc) ** 2, 0) / (nNeg - 1) : 0;
  const standardError = Math.sqrt(s10 / nPos + s01 / nNeg);
  const maxBinningError = (0.5 * overlapPairs) / (nPos * nNeg);
  const z = qnorm(1 - (1 - level) / 2);
  return {
    auc,
    maxBinningError,
    standardError,
    ci: [
      Math.max(0, auc - z * standardError - maxBinningError),
      Math.min(1, auc + z * standardError + maxBinningError),
    ],
    level,
    nPos,
    nNeg,
  };
}

/** Sorted keys with the running count of intervals up to each. */
function cumulative(
  intervals: Interval[],
  key: (i: Interval) => number,
): { keys: number[]; counts: number[] } {
  const sorted = [...intervals].sort((a, b) => key(a) - key(b));
  const keys: number[] = [];
  const counts: number[] = [];
  let run = 0;
  for (const i of sorted) {
    run += i.count;
    keys.push(key(i));
    counts.push(run);
  }
  return { keys, counts };
}

/** Count of intervals whose key ≤ x. */
function countAtMost(c: { keys: number[]; counts: number[] }, x: number): number {
  let lo = 0;
  let hi = c.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (c.keys[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 0 : c.counts[lo - 1];
}

/** Count of intervals whose key < x. */
function countBelow(c: { keys: number[]; counts: number[] }, x: number): number {
  let lo = 0;
  let hi = c.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (c.keys[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 0 : c.counts[lo - 1];
}

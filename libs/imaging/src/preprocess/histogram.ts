/**
 * A fixed-size histogram whose range grows as values arrive: the streaming quantile sketch behind
 * site normalisation. Memory stays at `bins` counts however many patients pass through, the
 * result is deterministic (no sampling), and quantiles are exact to one bin width.
 */
export class StreamingHistogram {
  private readonly counts: Float64Array;
  private lo = 0;
  private width = 0;
  private total = 0;

  constructor(readonly bins = 4096) {
    if (!Number.isInteger(bins) || bins < 2 || bins % 2 !== 0)
      throw new Error('bins must be an even integer ≥ 2');
    this.counts = new Float64Array(bins);
  }

  get count(): number {
    return this.total;
  }

  /** Adds `values[i]` where `include` is unset or `include[i]` is non-zero. */
  addAll(values: ArrayLike<number>, include?: ArrayLike<number>): void {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < values.length; i++) {
      if (include && !include[i]) continue;
      const x = values[i];
      if (x < min) min = x;
      if (x > max) max = x;
    }
    if (min > max) return;
    this.cover(min, max);
    const { lo, width, bins, counts } = this;
    for (let i = 0; i < values.length; i++) {
      if (include && !include[i]) continue;
      const b = Math.min(bins - 1, Math.floor((values[i] - lo) / width));
      counts[b]++;
    }
    this.total += include ? countSet(include, values.length) : values.length;
  }

  /** The q-quantile (0 ≤ q ≤ 1), linear within the bin; NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const target = q * this.total;
    let seen = 0;
    for (let b = 0; b < this.bins; b++) {
      const c = this.counts[b];
      if (c > 0 && seen + c >= target) return this.lo + (b + (target - seen) / c) * this.width;
      seen += c;
    }
    return this.lo + this.bins * this.width;
  }

  /** Widens the range (doubling the bin width, merging bin pairs) until [min, max] fits. */
  private cover(min: number, max: number): void {
    if (this.width === 0) {
      const span = max - min;
      // A little headroom so the maximum lands inside the last bin; a constant batch gets unit-ish bins.
      this.width = span > 0 ? (span * (1 + 1e-6)) / this.bins : Math.max(Math.abs(min) * 1e-6, 1e-6);
      this.lo = min;
      return;
    }
    while (min < this.lo) this.grow(true);
    while (max >= this.lo + this.bins * this.width) this.grow(false);
  }

  private grow(downward: boolean): void {
    const { bins, counts } = this;
    const merged = new Float64Array(bins);
    const shift = downward ? bins / 2 : 0;
    for (let b = 0; b < bins; b++) merged[shift + (b >> 1)] += counts[b];
    counts.set(merged);
    if (downward) this.lo -= bins * this.width;
    this.width *= 2;
  }
}

function countSet(include: ArrayLike<number>, n: number): number {
  let c = 0;
  for (let i = 0; i < n; i++) if (include[i]) c++;
  return c;
}

/**
 * Splits each batch across replicas in proportion to their measured speed. A synchronous step
 * waits for its slowest replica, and cores are rarely equal: on this project's 2-vCPU VMs one
 * vCPU runs ≈ 1.35× slower than the other whenever both are busy (measured with two identical
 * processes), and hospital machines share cores with other services. An equal split wastes
 * the fast core's time; a split by speed makes the shards finish together.
 *
 * Speeds are ms per item, smoothed over steps so one hiccup does not swing the split. Shard
 * sizes only change which items a replica sees: the combined gradient is the same up to float
 * rounding, which is why `equal` exists for runs that must repeat bit for bit.
 */
export type ShardBalance = 'speed' | 'equal';

export class ShardBalancer {
  private readonly msPerItem: (number | undefined)[];

  constructor(
    readonly replicas: number,
    readonly mode: ShardBalance = 'speed',
    /** Weight of the newest measurement in the running average. */
    private readonly smoothing = 0.3,
  ) {
    this.msPerItem = new Array<number | undefined>(replicas).fill(undefined);
  }

  /**
   * Shard boundaries for `total` items over the first `n` replicas: shard i is
   * [bounds[i], bounds[i+1]). Every shard gets at least one item (callers use n ≤ total).
   */
  bounds(total: number, n = this.replicas): number[] {
    if (n < 1 || n > this.replicas) throw new Error(`cannot split over ${n} of ${this.replicas} replicas`);
    if (total < n) throw new Error(`batch of ${total} cannot feed ${n} replicas`);
    const equal = Array.from({ length: n + 1 }, (_, i) => Math.round((i * total) / n));
    const known = this.msPerItem.slice(0, n);
    if (this.mode === 'equal' || known.some((ms) => ms === undefined || !(ms > 0))) return equal;
    const speeds = (known as number[]).map((ms) => 1 / ms);
    const sum = speeds.reduce((a, b) => a + b, 0);
    const sizes = largestRemainder(
      speeds.map((s) => (total * s) / sum),
      total,
    );
    const bounds = [0];
    for (const size of sizes) bounds.push(bounds[bounds.length - 1] + size);
    return bounds;
  }

  /** Feeds back how long replica `i` took for `items` items. */
  record(i: number, items: number, ms: number): void {
    if (items <= 0 || !(ms > 0) || !Number.isFinite(ms)) return;
    const sample = ms / items;
    const prev = this.msPerItem[i];
    this.msPerItem[i] = prev === undefined ? sample : prev + this.smoothing * (sample - prev);
  }

  /** Relative speeds so far (fastest = 1), for logs and benchmarks; undefined before any step. */
  relativeSpeeds(): number[] | undefined {
    if (this.msPerItem.some((ms) => ms === undefined)) return undefined;
    const fastest = Math.min(...(this.msPerItem as number[]));
    return (this.msPerItem as number[]).map((ms) => fastest / ms);
  }
}

/** Integer sizes ≥ 1 summing to `total`, closest to `ideal` (largest-remainder rounding). */
function largestRemainder(ideal: number[], total: number): number[] {
  const sizes = ideal.map((x) => Math.max(1, Math.floor(x)));
  let left = total - sizes.reduce((a, b) => a + b, 0);
  const byRemainder = ideal.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r);
  for (let k = 0; left > 0; k = (k + 1) % sizes.length, left--) sizes[byRemainder[k].i]++;
  // Floors lifted to 1 may overshoot: take the excess from the largest shards.
  while (left < 0) {
    const largest = sizes.indexOf(Math.max(...sizes));
    sizes[largest]--;
    left++;
  }
  return sizes;
}

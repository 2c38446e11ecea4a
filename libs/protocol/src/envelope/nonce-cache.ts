/**
 * Remembers (signer, nonce) pairs for as long as their timestamps could still pass the freshness
 * window, so a captured message cannot be played again. Memory is bounded: when full, the oldest
 * entry is dropped and its timestamp becomes a floor — anything signed at or before the floor is
 * refused, because we could no longer tell whether it is a replay (fail closed, never open).
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  private floorMs = -Infinity;

  constructor(
    private readonly retainMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** 'fresh' when never seen; does not record it (see `record`). */
  check(signer: string, nonce: string, timestampMs: number, nowMs: number): 'fresh' | 'seen' | 'too-old' {
    this.expire(nowMs);
    if (this.seen.has(key(signer, nonce))) return 'seen';
    if (timestampMs <= this.floorMs) return 'too-old';
    return 'fresh';
  }

  record(signer: string, nonce: string, timestampMs: number, nowMs: number): void {
    this.expire(nowMs);
    this.seen.set(key(signer, nonce), timestampMs);
    while (this.seen.size > this.maxEntries) {
      const [oldestKey, oldestTs] = this.seen.entries().next().value as [string, number];
      this.seen.delete(oldestKey);
      this.floorMs = Math.max(this.floorMs, oldestTs);
    }
  }

  get size(): number {
    return this.seen.size;
  }

  private expire(nowMs: number): void {
    // Entries are in arrival order, which is close to timestamp order; stop at the first keeper.
    for (const [k, ts] of this.seen) {
      if (ts + this.retainMs >= nowMs) break;
      this.seen.delete(k);
    }
  }
}

function key(signer: string, nonce: string): string {
  return signer + '\u0000' + nonce;
}

/**
 * Bounds what one misbehaving caller can write to the audit log. Refusals (bad token, bad
 * handshake, rejected message) are keyed by who and what; up to `perWindow` per key and window are
 * recorded in full, the rest are counted, and the first refusal recorded after that carries the
 * count — so the log says how many were left out, and a flood cannot grow it without bound.
 */
export class RefusalThrottle {
  private readonly windows = new Map<string, { start: number; recorded: number; suppressed: number }>();

  constructor(
    private readonly perWindow = 100,
    private readonly windowMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  /** Whether to record this refusal, and how many of the same key were left out before it. */
  admit(key: string, now = Date.now()): { record: boolean; suppressedBefore: number } {
    let window = this.windows.get(key);
    if (window && now - window.start >= this.windowMs) {
      // A new window: the first refusal in it reports what the last one left out.
      const suppressedBefore = window.suppressed;
      window = { start: now, recorded: 1, suppressed: 0 };
      this.windows.set(key, window);
      return { record: true, suppressedBefore };
    }
    if (!window) {
      this.evictIfFull(now);
      this.windows.set(key, { start: now, recorded: 1, suppressed: 0 });
      return { record: true, suppressedBefore: 0 };
    }
    if (window.recorded < this.perWindow) {
      window.recorded++;
      return { record: true, suppressedBefore: 0 };
    }
    window.suppressed++;
    return { record: false, suppressedBefore: 0 };
  }

  private evictIfFull(now: number): void {
    if (this.windows.size < this.maxKeys) return;
    for (const [key, window] of this.windows) {
      if (now - window.start >= this.windowMs && window.suppressed === 0) this.windows.delete(key);
    }
    // Still full (a flood of distinct callers): drop the oldest; its count is lost, the cap holds.
    while (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as string);
  }
}

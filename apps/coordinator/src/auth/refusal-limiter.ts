/**
 * Per-source limit on refused requests: a source (client address) refused `limit` times within
 * `windowMs` is answered 429 without its token being looked at until the window has passed, so
 * guessing tokens costs a minute per `limit` guesses. Memory stays bounded under a flood of sources.
 */
export class RefusalLimiter {
  private readonly windows = new Map<string, { start: number; refusals: number }>();

  constructor(
    readonly limit = 20,
    readonly windowMs = 60_000,
    private readonly maxSources = 10_000,
  ) {}

  /** Milliseconds until `source` may try again, or 0 when it is not blocked. */
  blockedFor(source: string, now = Date.now()): number {
    const window = this.windows.get(source);
    if (!window || now - window.start >= this.windowMs) return 0;
    return window.refusals >= this.limit ? window.start + this.windowMs - now : 0;
  }

  /** Counts one refusal of `source`. */
  refused(source: string, now = Date.now()): void {
    const window = this.windows.get(source);
    if (window && now - window.start < this.windowMs) {
      window.refusals++;
      return;
    }
    if (!window && this.windows.size >= this.maxSources) this.evict(now);
    this.windows.set(source, { start: now, refusals: 1 });
  }

  private evict(now: number): void {
    for (const [source, window] of this.windows) {
      if (now - window.start >= this.windowMs) this.windows.delete(source);
    }
    // Still full: forget the oldest windows; the cap on memory wins over a few forgotten counts.
    while (this.windows.size >= this.maxSources)
      this.windows.delete(this.windows.keys().next().value as string);
  }
}

import { REFUSAL_WINDOW_MS, REFUSALS_PER_WINDOW } from './request-limits';

/**
 * Counts refusals (bad or missing tokens) per source address in fixed windows; an address over
 * its budget is answered 429 for the rest of the window, before any other work. Hand-written
 * rather than @nestjs/throttler because it must run before the body parsers and the Nest router
 * (a guard runs after both), and it counts refusals only: an admin's ordinary traffic is never
 * limited. Memory is bounded by `maxAddresses`.
 */
export class RefusalLimiter {
  private readonly windows = new Map<string, { start: number; refusals: number }>();

  constructor(
    private readonly perWindow = REFUSALS_PER_WINDOW,
    private readonly windowMs = REFUSAL_WINDOW_MS,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Seconds until `address` may try again, or 0 when it is not blocked. */
  blockedFor(address: string, now = Date.now()): number {
    const window = this.windows.get(address);
    if (!window || now - window.start >= this.windowMs || window.refusals < this.perWindow) return 0;
    return Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000));
  }

  /** Notes one refusal of `address`. */
  refused(address: string, now = Date.now()): void {
    const window = this.windows.get(address);
    if (window && now - window.start < this.windowMs) {
      window.refusals++;
      return;
    }
    if (!window && this.windows.size >= this.maxAddresses) this.evict(now);
    this.windows.set(address, { start: now, refusals: 1 });
  }

  private evict(now: number): void {
    for (const [address, window] of this.windows) {
      if (now - window.start >= this.windowMs) this.windows.delete(address);
    }
    // A flood of distinct addresses: forget the oldest; the map stays bounded.
    while (this.windows.size >= this.maxAddresses) {
      this.windows.delete(this.windows.keys().next().value as string);
    }
  }
}

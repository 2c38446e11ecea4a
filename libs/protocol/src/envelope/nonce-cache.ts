/**
 * How far ahead of our clock a message may be dated. The past window (clock skew, 5 min) bounds
 * how long a nonce must be remembered; a message dated far ahead would be remembered for that
 * much longer, which let one site fill a shared cache (issue #18 row 12). Clocks synchronised by
 * NTP differ by milliseconds; 30 s is generous.
 */
export const MAX_FUTURE_MS = 30_000;

/** Nonces remembered per signer: ≈ 33 messages a second for the whole 5-minute window. */
export const NONCES_PER_SIGNER = 10_000;

/**
 * Remembers (signer, nonce) pairs for as long as their timestamps could still pass the freshness
 * window, so a captured message cannot be played again. State is kept per signer, so a flood from
 * one site (even validly signed) touches only its own entries: memory is bounded per signer, and
 * when one signer's share is full its oldest entry is dropped and its timestamp becomes that
 * signer's floor — anything it signed at or before the floor is refused, because we could no
 * longer tell whether it is a replay (fail closed, never open, and never for another site).
 */
export class NonceCache {
  private readonly bySigner = new Map<string, { seen: Map<string, number>; floorMs: number }>();

  constructor(
    private readonly retainMs: number,
    private readonly maxEntriesPerSigner = NONCES_PER_SIGNER,
  ) {}

  /** 'fresh' when never seen; does not record it (see `record`). */
  check(signer: string, nonce: string, timestampMs: number, nowMs: number): 'fresh' | 'seen' | 'too-old' {
    const state = this.bySigner.get(signer);
    if (!state) return 'fresh';
    this.expire(state, nowMs);
    if (state.seen.has(nonce)) return 'seen';
    if (timestampMs <= state.floorMs) return 'too-old';
    return 'fresh';
  }

  record(signer: string, nonce: string, timestampMs: number, nowMs: number): void {
    let state = this.bySigner.get(signer);
    if (!state) {
      state = { seen: new Map(), floorMs: -Infinity };
      this.bySigner.set(signer, state);
    }
    this.expire(state, nowMs);
    state.seen.set(nonce, timestampMs);
    while (state.seen.size > this.maxEntriesPerSigner) {
      const [oldestNonce, oldestTs] = state.seen.entries().next().value as [string, number];
      state.seen.delete(oldestNonce);
      state.floorMs = Math.max(state.floorMs, oldestTs);
    }
  }

  /** Nonces remembered, over all signers. */
  get size(): number {
    let total = 0;
    for (const state of this.bySigner.values()) total += state.seen.size;
    return total;
  }

  private expire(state: { seen: Map<string, number> }, nowMs: number): void {
    // Entries are in arrival order, which is close to timestamp order; stop at the first keeper.
    for (const [nonce, ts] of state.seen) {
      if (ts + this.retainMs >= nowMs) break;
      state.seen.delete(nonce);
    }
  }
}

import { randomInt } from 'node:crypto';

/** Exponential reconnection backoff with jitter (so that sites restarting together do not stampede). */
export interface BackoffOptions {
  /** First delay; default 1 s. */
  initialDelayMs?: number;
  /** Cap; default 60 s. */
  maxDelayMs?: number;
  /** Each delay is scaled by a random factor in [1 − jitter, 1 + jitter]; default 0.5. */
  jitter?: number;
}

export function resolveBackoff(options: BackoffOptions = {}): Required<BackoffOptions> {
  return {
    initialDelayMs: options.initialDelayMs ?? 1_000,
    maxDelayMs: options.maxDelayMs ?? 60_000,
    jitter: Math.min(Math.max(options.jitter ?? 0.5, 0), 1),
  };
}

/** Delay before attempt `attempt` (0-based): min(max, initial·2^attempt) ± jitter. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const { initialDelayMs, maxDelayMs, jitter } = resolveBackoff(options);
  const base = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt, 30));
  // Jitter need not be reproducible (it only spreads reconnects), so a CSPRNG is fine here.
  const factor = 1 - jitter + (2 * jitter * randomInt(0, 1_000_001)) / 1_000_000;
  return Math.round(Math.min(maxDelayMs, base * factor));
}

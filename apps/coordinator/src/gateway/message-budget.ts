import { TRANSFER_EVENTS } from '../../../../libs/protocol/src';

/** Messages a site may send at once, then per second (docs/PROTOCOL.md §7, `RATE_LIMITED`). */
export const SITE_MESSAGE_BURST = 200;
export const SITE_MESSAGES_PER_SECOND = 50;

/**
 * Events not counted: a transfer's chunks are bounded by the size its `transfer:begin` announced
 * (itself counted), and a large update is legitimately hundreds of chunks in a few seconds.
 */
const UNCOUNTED: ReadonlySet<string> = new Set([TRANSFER_EVENTS.chunk]);

/**
 * One token bucket per site for the messages it sends the coordinator, so that no site, however
 * fast it signs valid messages, can crowd out the others (the replay cache is per site too). Pure
 * apart from the clock it is given; memory is one entry per site that sent something.
 */
export class SiteMessageBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst = SITE_MESSAGE_BURST,
    private readonly perSecond = SITE_MESSAGES_PER_SECOND,
  ) {}

  /** Takes one message of `event` from `siteId`'s budget; false when the budget is spent. */
  admit(siteId: string, event: string, now = Date.now()): boolean {
    if (UNCOUNTED.has(event)) return true;
    const bucket = this.buckets.get(siteId) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    this.buckets.set(siteId, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

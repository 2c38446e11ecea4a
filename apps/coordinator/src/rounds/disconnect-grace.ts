import type { SiteState } from '../../../../libs/protocol/src';

/** How long a site that disconnected mid-round keeps its task by default. */
export const DEFAULT_DISCONNECT_GRACE_MS = 10_000;

/** What a site's status after reconnecting says about the task the round waits for. */
export type ReconnectVerdict = 'keep' | 'drop';

/**
 * An agent sends a status right after every welcome, naming the task it is carrying out. `idle`
 * means it holds none — a restarted process, whose task died with the old one — so waiting longer
 * is pointless; `error` about this task means it failed. Anything else means the task is running,
 * uploading, or queued behind the task named (a task still waiting in the round was delivered and
 * acknowledged: one whose transfer failed was dropped at dispatch).
 */
export function reconnectVerdict(
  status: { state: SiteState; taskId?: string },
  taskId: string,
): ReconnectVerdict {
  if (status.state === 'idle') return 'drop';
  if (status.state === 'error' && status.taskId === taskId) return 'drop';
  return 'keep';
}

/**
 * The sites of one round attempt that disconnected and are not dropped yet. A socket can drop for
 * seconds (a proxy, Wi-Fi, a laptop lid) while the agent trains on and delivers its update after
 * reconnecting; dropping the site at once would throw that work away. Each site gets a timer that
 * drops it at min(disconnect + grace, round deadline), unless its status after reconnecting says it
 * still holds the task (see `reconnectVerdict`). A killed agent simply never comes back: its timer
 * drops it, so a quorum of the others closes the round after the grace, not at the deadline.
 */
export class DisconnectGrace {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly graceMs: number) {}

  /** Starts (or restarts) the site's grace; `drop` runs if it ends undecided. Returns when it ends. */
  start(siteId: string, nowMs: number, deadlineMs: number, drop: () => void): number {
    this.cancel(siteId);
    const endsAt = Math.min(nowMs + this.graceMs, deadlineMs);
    const timer = setTimeout(
      () => {
        this.timers.delete(siteId);
        drop();
      },
      Math.max(0, endsAt - nowMs),
    );
    timer.unref();
    this.timers.set(siteId, timer);
    return endsAt;
  }

  isPending(siteId: string): boolean {
    return this.timers.has(siteId);
  }

  /** Ends the site's grace without dropping it; false if none was pending. */
  cancel(siteId: string): boolean {
    const timer = this.timers.get(siteId);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(siteId);
    return true;
  }

  /** The attempt is over: no timer may outlive it. */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

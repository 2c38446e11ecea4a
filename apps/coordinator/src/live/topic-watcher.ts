import { diffEntities, EntityState, entityState, LiveEntity, LiveMessage } from './live-entities';

export type LiveListener = (message: LiveMessage) => void;

/**
 * One watcher per watched topic, shared by all its listeners: while at least one listens it
 * loads the topic's entities every `intervalMs` and sends each listener a snapshot first, then
 * only differences (nothing when nothing changed). With no listener it stops and forgets, so an
 * idle coordinator reads nothing. However many browsers watch a run, the store is read once a tick.
 */
export class TopicWatcher {
  private readonly listeners = new Map<LiveListener, { synced: boolean }>();
  private state?: EntityState;
  private timer?: NodeJS.Timeout;
  private loading = false;

  constructor(
    private readonly load: () => Promise<LiveEntity[]>,
    private readonly intervalMs: number,
    private readonly onIdle: () => void = () => undefined,
  ) {}

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Starts listening; the returned function stops. */
  subscribe(listener: LiveListener): () => void {
    this.listeners.set(listener, { synced: false });
    if (this.state) this.sync(listener);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      void this.tick();
    }
    return () => this.unsubscribe(listener);
  }

  /** Loads once now and sends what changed (also what the interval calls). */
  async tick(): Promise<void> {
    if (this.loading) return; // a slow store: skip a beat rather than pile up reads
    this.loading = true;
    try {
      const next = entityState(await this.load());
      if (!this.listeners.size) return;
      const change = this.state ? diffEntities(this.state, next) : undefined;
      this.state = next;
      for (const [listener, status] of this.listeners) {
        if (!status.synced) this.sync(listener);
        else if (change && (change.upserts.length || change.removals.length)) {
          listener({ type: 'change', ...change });
        }
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      for (const listener of this.listeners.keys()) listener({ type: 'error', message });
    } finally {
      this.loading = false;
    }
  }

  /** Stops every listener's stream (shutdown). */
  close(): void {
    this.listeners.clear();
    this.stop();
  }

  private sync(listener: LiveListener): void {
    listener({ type: 'snapshot', entities: [...this.state!.values()].map((s) => s.entity) });
    this.listeners.set(listener, { synced: true });
  }

  private unsubscribe(listener: LiveListener): void {
    this.listeners.delete(listener);
    if (!this.listeners.size) {
      this.stop();
      this.onIdle();
    }
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.state = undefined;
  }
}

import { Inject, Injectable, OnModuleDestroy, ServiceUnavailableException } from '@nestjs/common';
import { BlobStore } from '../models/blob-store';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { ConnectedSites } from '../sites/connected-sites';
import { siteView } from '../sites/site-view';
import { LiveEntity } from './live-entities';
import { RunEntitiesLoader, RunsListLoader } from './topic-loaders';
import { LiveListener, TopicWatcher } from './topic-watcher';

/** How often a watched topic is read: fresh enough for rounds that take seconds to hours. */
export const LIVE_INTERVAL_MS = 1_000;
/** Open streams a coordinator serves at most (a dashboard tab holds one). */
export const MAX_LIVE_STREAMS = 200;

/**
 * The dashboard's live topics — `runs`, `sites`, `run:<id>` — each served by one shared watcher
 * that exists only while someone listens. Replacing a watcher by an in-process event bus means
 * feeding `LiveListener`s the same snapshot/change messages; the HTTP side does not change.
 */
@Injectable()
export class LiveEventsService implements OnModuleDestroy {
  private readonly watchers = new Map<string, TopicWatcher>();
  private readonly closers = new Set<() => void>();

  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
    private readonly connected: ConnectedSites,
  ) {}

  /** Listens to a topic; `onClose` runs if the coordinator shuts down first. Returns the unsubscriber. */
  subscribe(topic: string, listener: LiveListener, onClose: () => void): () => void {
    this.assertCapacity();
    let watcher = this.watchers.get(topic);
    if (!watcher) {
      watcher = new TopicWatcher(this.loaderOf(topic), LIVE_INTERVAL_MS, () => this.watchers.delete(topic));
      this.watchers.set(topic, watcher);
    }
    const unsubscribe = watcher.subscribe(listener);
    this.closers.add(onClose);
    return () => {
      this.closers.delete(onClose);
      unsubscribe();
    };
  }

  /** Refuses a new stream when MAX_LIVE_STREAMS are open (checked before a response starts). */
  assertCapacity(): void {
    if (this.closers.size >= MAX_LIVE_STREAMS) {
      throw new ServiceUnavailableException(
        `${MAX_LIVE_STREAMS} live streams are open; close a dashboard tab`,
      );
    }
  }

  onModuleDestroy(): void {
    // Open streams would keep the HTTP server from closing: end them before it closes.
    for (const close of [...this.closers]) close();
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private loaderOf(topic: string): () => Promise<LiveEntity[]> {
    if (topic === 'runs') {
      const loader = new RunsListLoader(this.store);
      return () => loader.load();
    }
    if (topic === 'sites') {
      return async () =>
        (await this.store.sites.list()).map((site) => ({
          kind: 'site' as const,
          key: site.id,
          value: siteView(site, this.connected.get(site.id), this.connected.lastSeen(site.id)),
        }));
    }
    const loader = new RunEntitiesLoader(topic.replace(/^run:/, ''), this.store, this.blobs);
    return () => loader.load();
  }
}

import { Inject, Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { ConnectedSites } from '../sites/connected-sites';
import { ACTIVE_METRIC } from '../failover/standby-server';

/** Prefix of every metric this coordinator exports. */
const PREFIX = 'phcc_';

/** Round durations: from seconds (tiny test rounds) to the longest deadline a plan allows. */
const ROUND_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
/** Folding (aggregating) a round: milliseconds for the tiny model, seconds for the full one. */
const FOLD_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const seconds = (iso: string) => Date.parse(iso) / 1000;

/**
 * The coordinator's Prometheus metrics, in a registry of its own (two coordinators in one test
 * process never mix). Most are read from the store when Prometheus scrapes (runs, rounds and
 * updates by state, round durations, bytes received, last update per site), so they are right
 * after a restart and need no hook in the round engine. What only the engine sees as it happens
 * is counted through the methods below (fold time, refusals that never became a row, bytes
 * sent, store errors, a site's last message).
 */
@Injectable()
export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly storeErrors: Counter<'operation'>;
  private readonly refusals: Counter<'code'>;
  private readonly transfer: Counter<'direction'>;
  private readonly fold: Histogram<'stage'>;
  private readonly lastSeen: Gauge<'site'>;

  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly connected: ConnectedSites,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    this.storeErrors = new Counter({
      name: `${PREFIX}store_errors_total`,
      help: 'Failed store operations (queries of a scrape included), by operation',
      labelNames: ['operation'],
      registers,
    });
    this.refusals = new Counter({
      name: `${PREFIX}update_refusals_total`,
      help: 'Site messages and updates refused before they were stored, by reason code (engine-reported)',
      labelNames: ['code'],
      registers,
    });
    this.transfer = new Counter({
      name: `${PREFIX}transfer_bytes_total`,
      help: 'Model bytes over the site connections: in = updates received, out = tasks sent (engine-reported)',
      labelNames: ['direction'],
      registers,
    });
    this.fold = new Histogram({
      name: `${PREFIX}fold_duration_seconds`,
      help: "Time to fold a round's updates into the global model (engine-reported)",
      labelNames: ['stage'],
      buckets: FOLD_BUCKETS,
      registers,
    });
    this.lastSeen = new Gauge({
      name: `${PREFIX}site_last_seen_timestamp_seconds`,
      help: 'When each site last connected or sent a status or update (unix seconds)',
      labelNames: ['site'],
      registers,
      collect: () => {
        for (const c of this.connected.list()) {
          this.lastSeen.set({ site: c.siteId }, seconds(c.lastStatus?.at ?? c.connectedAt));
        }
      },
    });
    this.storeGauges(registers);
  }

  /** Seconds the engine took to fold a round. */
  observeFold(stage: string, secondsTaken: number): void {
    this.fold.observe({ stage }, secondsTaken);
  }

  /** A message or update refused before it became an `updates` row (bad signature, replay, size…). */
  countRefusal(code: string): void {
    this.refusals.inc({ code });
  }

  /** Model bytes moved: 'in' from a site, 'out' to a site. */
  countBytes(direction: 'in' | 'out', bytes: number): void {
    this.transfer.inc({ direction }, bytes);
  }

  /** A store operation that threw. */
  countStoreError(operation: string): void {
    this.storeErrors.inc({ operation });
  }

  /** A message from a site arrived now. */
  siteSeen(siteId: string, at = new Date()): void {
    this.lastSeen.set({ site: siteId }, at.getTime() / 1000);
  }

  /** The Prometheus text exposition of every metric. */
  async scrape(): Promise<string> {
    return this.registry.metrics();
  }

  private storeGauges(registers: Registry[]): void {
    const fromStore = async (operation: string, read: () => Promise<void>) => {
      try {
        await read();
      } catch {
        this.countStoreError(`metrics.${operation}`);
      }
    };
    const runs: Gauge<'state'> = new Gauge({
      name: `${PREFIX}runs`,
      help: 'Runs by state',
      labelNames: ['state'],
      registers,
      collect: () =>
        fromStore('runs', async () => {
          runs.reset();
          for (const r of await this.store.stats.runsByState()) runs.set({ state: r.state }, r.count);
        }),
    });
    const rounds: Gauge<'state'> = new Gauge({
      name: `${PREFIX}rounds`,
      help: 'Rounds by state, all runs',
      labelNames: ['state'],
      registers,
      collect: () =>
        fromStore('rounds', async () => {
          rounds.reset();
          for (const r of await this.store.stats.roundsByState()) rounds.set({ state: r.state }, r.count);
        }),
    });
    const updateBytes: Gauge<'status'> = new Gauge({
      name: `${PREFIX}update_bytes_received`,
      help: 'Bytes of the site updates stored, by status',
      labelNames: ['status'],
      registers,
      collect: () =>
        fromStore('update_bytes', async () => {
          updateBytes.reset();
          for (const u of await this.store.stats.updatesByOutcome())
            updateBytes.inc({ status: u.status }, u.bytes);
        }),
    });
    const updates: Gauge<'status' | 'reason'> = new Gauge({
      name: `${PREFIX}updates`,
      help: 'Site updates stored, by status (accepted, aggregated, rejected) and refusal reason',
      labelNames: ['status', 'reason'],
      registers,
      collect: () =>
        fromStore('updates', async () => {
          updates.reset();
          for (const u of await this.store.stats.updatesByOutcome()) {
            updates.inc({ status: u.status, reason: u.reason ?? '' }, u.count);
          }
        }),
    });
    const duration: Histogram<'stage'> = new Histogram({
      name: `${PREFIX}round_duration_seconds`,
      help: 'Wall time of finished rounds, start to end, all runs',
      labelNames: ['stage'],
      buckets: ROUND_BUCKETS,
      registers,
      collect: () =>
        fromStore('round_durations', async () => {
          duration.reset();
          for (const r of await this.store.stats.finishedRounds()) {
            duration.observe({ stage: r.stage }, Math.max(0, seconds(r.endedAt) - seconds(r.startedAt)));
          }
        }),
    });
    const lastUpdate: Gauge<'site'> = new Gauge({
      name: `${PREFIX}site_last_update_timestamp_seconds`,
      help: "When each site's latest update arrived (unix seconds)",
      labelNames: ['site'],
      registers,
      collect: () =>
        fromStore('last_update', async () => {
          for (const s of await this.store.stats.lastUpdatePerSite())
            lastUpdate.set({ site: s.siteId }, seconds(s.at));
        }),
    });
    const connectedSites: Gauge = new Gauge({
      name: `${PREFIX}connected_sites`,
      help: 'Sites connected to the /sites gateway now',
      registers,
      collect: () => connectedSites.set(this.connected.list().length),
    });
    const active: Gauge = new Gauge({ ...ACTIVE_METRIC, registers });
    // This registry exists only in a coordinator that runs: on PostgreSQL, one that holds the lock.
    active.set(1);
    const up: Gauge = new Gauge({
      name: `${PREFIX}store_up`,
      help: '1 when the store answered a query during this scrape',
      registers,
      collect: async () => {
        const ok = await this.store.ping();
        if (!ok) this.countStoreError('ping');
        up.set(ok ? 1 : 0);
      },
    });
  }
}

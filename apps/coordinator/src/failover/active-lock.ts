import { Client } from 'pg';
import { Log, PhccError } from '../../../../libs/common/src';
import { redactUrl } from '../persistence/postgres/postgres-store';

/**
 * The advisory-lock key every coordinator of one database competes for ('phcc' in ASCII). Advisory
 * locks are per database, so consortia on separate databases of one server never meet here.
 */
export const ACTIVE_LOCK_KEY = 0x70686363;

/** How often a standby asks for the lock. */
export const STANDBY_POLL_MS = 1_000;

/**
 * How often the active checks that its lock session is alive. Together with the query timeout it
 * bounds how long a coordinator cut off from the database keeps running (it exits once the check
 * fails), which must stay below the time PostgreSQL takes to notice the dead session and let a
 * standby in (its TCP keepalive settings: deploy/README.md, "Failover").
 */
export const LOCK_HEARTBEAT_MS = 2_000;
const LOCK_QUERY_TIMEOUT_MS = 5_000;

export interface ActiveLockOptions {
  log: Log;
  /** Called once when the lock is held by another coordinator and this one starts to wait. */
  onWaiting?: () => void;
  pollMs?: number;
  heartbeatMs?: number;
  /** Aborting gives up waiting (the standby was asked to stop): acquire() rejects. */
  signal?: AbortSignal;
}

/**
 * Which coordinator of a PostgreSQL database is the active one: the holder of a session-level
 * advisory lock on a connection of its own. PostgreSQL releases the lock when that session ends,
 * so a coordinator that crashes, is SIGKILLed or loses its host lets a waiting standby in without
 * anyone's help, and no lease clock can drift. The holder checks the session every few seconds and
 * reports its loss (`lost`): a coordinator that can no longer prove it is the only active one must
 * stop at once (fencing), before a standby takes over the runs it drives.
 */
export class ActiveLock {
  /** Settles (never rejects) with the reason when the lock's session is gone. */
  readonly lost: Promise<Error>;
  private heartbeat: NodeJS.Timeout | undefined;
  private released = false;
  private reportLoss!: (err: Error) => void;

  private constructor(
    private readonly client: Client,
    heartbeatMs: number,
  ) {
    this.lost = new Promise((resolve) => (this.reportLoss = resolve));
    const lose = (err: Error) => {
      if (this.released) return;
      clearInterval(this.heartbeat);
      this.reportLoss(err);
    };
    client.on('error', (err) => lose(new Error(`the active lock's database session failed: ${err.message}`)));
    client.on('end', () => lose(new Error("the active lock's database session ended")));
    this.heartbeat = setInterval(() => {
      client
        .query('SELECT 1')
        .catch((err: Error) => lose(new Error(`the active lock's database session failed: ${err.message}`)));
    }, heartbeatMs);
    this.heartbeat.unref();
  }

  /**
   * Resolves once this process holds the lock. While another coordinator holds it, asks again every
   * `pollMs`; a session that fails while waiting (the database restarting) is opened again.
   */
  static async acquire(url: string, options: ActiveLockOptions): Promise<ActiveLock> {
    const pollMs = options.pollMs ?? STANDBY_POLL_MS;
    let waiting = false;
    let lastFailure = '';
    for (;;) {
      if (options.signal?.aborted) throw new PhccError('gave up waiting for the active lock', 'ABORTED');
      const client = new Client({
        connectionString: url,
        keepAlive: true,
        connectionTimeoutMillis: 10_000,
        query_timeout: LOCK_QUERY_TIMEOUT_MS,
        application_name: 'phcc-fed coordinator (active lock)',
      });
      // Until the lock is taken, a failing session is handled by the loop below, not by a crash.
      const ignore = () => undefined;
      client.on('error', ignore);
      try {
        await client.connect();
        for (;;) {
          const result = await client.query<{ held: boolean }>('SELECT pg_try_advisory_lock($1) AS held', [
            ACTIVE_LOCK_KEY,
          ]);
          if (result.rows[0]?.held) {
            client.off('error', ignore);
            return new ActiveLock(client, options.heartbeatMs ?? LOCK_HEARTBEAT_MS);
          }
          if (!waiting) {
            waiting = true;
            options.log.info({ lock: ACTIVE_LOCK_KEY }, 'another coordinator is active: standing by');
            options.onWaiting?.();
          }
          await sleep(pollMs, options.signal);
        }
      } catch (err) {
        await client.end().catch(() => undefined);
        if (options.signal?.aborted) throw new PhccError('gave up waiting for the active lock', 'ABORTED');
        const message = (err as Error).message;
        // A database that is not there at the first try is a wrong URL or login: fail like the store does.
        if (!waiting) {
          throw new PhccError(`cannot open database ${redactUrl(url)}: ${message}`, 'DB_OPEN', 2);
        }
        if (message !== lastFailure)
          options.log.warn({ err: message }, 'standby lost its database session; retrying');
        lastFailure = message;
        await sleep(pollMs, options.signal).catch(() => undefined);
      }
    }
  }

  /** Gives the lock up (a clean shutdown): a standby becomes active within its poll interval. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.heartbeat);
    try {
      await this.client.query('SELECT pg_advisory_unlock($1)', [ACTIVE_LOCK_KEY]);
    } catch {
      // The session is going away anyway, and with it the lock.
    }
    await this.client.end().catch(() => undefined);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

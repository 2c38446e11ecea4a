import { Client } from 'pg';
import { silentLog } from '../../../../libs/common/src';
import { freePort } from '../../../../test/support/coordinator-process';
import { PostgresServer } from '../../../../test/support/postgres-server';
import { ACTIVE_LOCK_KEY, ActiveLock } from './active-lock';

// A real PostgreSQL server (started once): advisory locks are its semantics, not ours to fake.
jest.setTimeout(60_000);

let postgres: PostgresServer;
let databases = 0;
const held: ActiveLock[] = [];

beforeAll(async () => {
  postgres = await PostgresServer.start();
}, 120_000);

afterAll(async () => {
  await Promise.all(held.map((lock) => lock.release()));
  await postgres?.stop();
});

const acquire = async (url: string, extra: Partial<Parameters<typeof ActiveLock.acquire>[1]> = {}) => {
  const lock = await ActiveLock.acquire(url, { log: silentLog, pollMs: 100, heartbeatMs: 200, ...extra });
  held.push(lock);
  return lock;
};

/** Whether `promise` is still pending after `ms`. */
const pendingAfter = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), ms))]);

describe('ActiveLock (PostgreSQL advisory lock)', () => {
  it('lets one coordinator in; the second waits until the first releases', async () => {
    const url = await postgres.createDatabase(`lock${++databases}`);
    const first = await acquire(url);
    let waiting = 0;
    const second = acquire(url, { onWaiting: () => waiting++ });
    expect(await pendingAfter(second, 600)).toBe(true);
    expect(waiting).toBe(1);
    await first.release();
    await expect(second).resolves.toBeInstanceOf(ActiveLock);
    expect(waiting).toBe(1);
  });

  it('reports the loss of its session, and a standby takes over (a killed coordinator)', async () => {
    const url = await postgres.createDatabase(`lock${++databases}`);
    const first = await acquire(url, { heartbeatMs: 100 });
    const second = acquire(url);
    expect(await pendingAfter(second, 400)).toBe(true);
    // What PostgreSQL does when the holder's process dies: its backend ends, and the lock with it.
    const admin = new Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted`,
        [ACTIVE_LOCK_KEY],
      );
    } finally {
      await admin.end();
    }
    await expect(first.lost).resolves.toBeInstanceOf(Error);
    await expect(second).resolves.toBeInstanceOf(ActiveLock);
  });

  it('holds the lock per database: coordinators of another database are not blocked', async () => {
    const one = await acquire(await postgres.createDatabase(`lock${++databases}`));
    const other = await acquire(await postgres.createDatabase(`lock${++databases}`));
    expect(one).not.toBe(other);
  });

  it('gives up waiting when aborted', async () => {
    const url = await postgres.createDatabase(`lock${++databases}`);
    await acquire(url);
    const abort = new AbortController();
    const waiter = acquire(url, { signal: abort.signal });
    expect(await pendingAfter(waiter, 300)).toBe(true);
    abort.abort();
    await expect(waiter).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('fails with one line naming the database when it cannot connect at all', async () => {
    const url = `postgresql://phcc:secret@127.0.0.1:${await freePort()}/nowhere`;
    const error = await ActiveLock.acquire(url, { log: silentLog }).catch((err: Error) => err);
    expect(error).toMatchObject({ code: 'DB_OPEN' });
    expect((error as Error).message).toContain('/nowhere');
    expect((error as Error).message).not.toContain('secret');
  });
});

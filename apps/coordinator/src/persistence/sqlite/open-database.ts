import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { PhccError, PRIVATE_DIR_MODE } from '../../../../../libs/common/src';

export type SqliteDatabase = Database.Database;

/**
 * Opens (creating if needed) the coordinator's SQLite file with the settings a long-running
 * server wants: WAL so readers (REST status) never wait on the writer (rounds), foreign keys on,
 * and a busy timeout so a second process on the same file waits instead of failing at once.
 *
 * Before anything is served the file is checked: a 0-byte file (a failed copy, a full disk) is
 * refused rather than taken as a new database, and `PRAGMA quick_check` must pass, so damage is
 * one line and exit 2 at start instead of 500s later. A new file is created 0600 (SQLite gives
 * its -wal and -shm files the database's mode).
 */
export function openSqlite(file: string): SqliteDatabase {
  const fail = (reason: string, code = 'DB_OPEN') => new PhccError(`database ${file}: ${reason}`, code, 2);
  let db: SqliteDatabase;
  try {
    if (file !== ':memory:') refuseEmptyFile(file);
    // Created owner-only; SQLite gives the -wal and -shm files the database file's mode.
    const umask = process.umask(0o077);
    try {
      db = new Database(file);
    } finally {
      process.umask(umask);
    }
  } catch (err) {
    if (err instanceof PhccError) throw err;
    throw fail(`cannot open (${(err as Error).message})`);
  }
  try {
    const problems = (db.pragma('quick_check') as { quick_check: string }[]).map((r) => r.quick_check);
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw fail(
        `failed its integrity check (${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''}); restore it from a backup`,
        'DB_CORRUPT',
      );
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    db.close();
    if (err instanceof PhccError) throw err;
    // SQLITE_NOTADB, SQLITE_CORRUPT…: not a database we can trust.
    throw fail(
      `is not a usable SQLite database (${(err as Error).message}); restore it from a backup`,
      'DB_CORRUPT',
    );
  }
  return db;
}

/** Refuses a 0-byte file; creates a missing file's folder owner-only. */
function refuseEmptyFile(file: string): void {
  let size: number | undefined;
  try {
    size = statSync(file).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (size === 0) {
    throw new PhccError(
      `database ${file}: the file is empty (0 bytes), which is not a database; delete it to start a new one or restore it from a backup`,
      'DB_EMPTY',
      2,
    );
  }
  if (size === undefined) mkdirSync(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
}

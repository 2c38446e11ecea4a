import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PhccError } from '../../../../../libs/common/src';
import { Migration } from './migrations';

export type SqliteDatabase = Database.Database;

/**
 * Opens (creating if needed) the coordinator's SQLite file with the settings a long-running
 * server wants: WAL so readers (REST status) never wait on the writer (rounds), foreign keys on,
 * and a busy timeout so a second process on the same file waits instead of failing at once.
 */
export function openSqlite(file: string): SqliteDatabase {
  let db: SqliteDatabase;
  try {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    db = new Database(file);
  } catch (err) {
    throw new PhccError(`cannot open database ${file}: ${(err as Error).message}`, 'DB_OPEN', 2);
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * Applies every migration newer than the database, each in its own transaction, and refuses a
 * database written by a newer build (its schema is unknown to us). Returns the versions applied now.
 */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[]): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
      (r) => r.version,
    ),
  );
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...applied].filter((v) => !known.has(v));
  if (unknown.length) {
    throw new PhccError(
      `database schema has migration(s) ${unknown.join(', ')} that this build does not know: it was written by a newer phcc-fed`,
      'DB_TOO_NEW',
      2,
    );
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const appliedNow: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    })();
    appliedNow.push(m.version);
  }
  return appliedNow;
}

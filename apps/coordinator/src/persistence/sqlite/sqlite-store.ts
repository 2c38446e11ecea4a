import Database from 'better-sqlite3';
import { CamelCasePlugin, Kysely, SqliteDialect } from 'kysely';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { PhccError } from '../../../../../libs/common/src';
import { KyselyStore } from '../kysely-store';
import { migrateStore } from '../migrate';
import { STORE_MIGRATIONS, StoreMigration } from '../migrations';
import { StoreSchema } from '../schema';

/**
 * The default store: one SQLite file (or `:memory:` in tests). `open` is synchronous (callers
 * construct it inline); the migrations run before the first query, through Kysely's driver
 * start-up. `openStore` (open-store.ts) awaits them, so a coordinator fails at start, not later.
 */
export class SqliteStore extends KyselyStore {
  private constructor(
    db: Kysely<StoreSchema>,
    private readonly raw: Database.Database,
    readonly file: string,
  ) {
    super('sqlite', db);
  }

  static open(file: string, migrations: readonly StoreMigration[] = STORE_MIGRATIONS): SqliteStore {
    const raw = openSqlite(file);
    // The Migrator gets a Kysely of its own on the same connection: the store's Kysely waits
    // for it in its driver's start-up, which must not wait on itself.
    const migrator = new Kysely<unknown>({ dialect: new SqliteDialect({ database: raw }) });
    const db = new Kysely<StoreSchema>({
      dialect: new SqliteDialect({
        database: async () => {
          await migrateStore(migrator, 'sqlite', migrations);
          return raw;
        },
      }),
      plugins: [new CamelCasePlugin()],
    });
    return new SqliteStore(db, raw, file);
  }

  override async close(): Promise<void> {
    await super.close();
    // Kysely closes the connection only if it was ever used.
    if (this.raw.open) this.raw.close();
  }

  /** SQLite's journal mode, for tests and /health details. */
  journalMode(): string {
    return String(this.raw.pragma('journal_mode', { simple: true }));
  }
}

/**
 * Opens (creating if needed) the coordinator's SQLite file with the settings a long-running
 * server wants: WAL so readers (REST status) never wait on the writer (rounds), foreign keys on,
 * and a busy timeout so a second process on the same file waits instead of failing at once. The
 * file is created 0600 in a 0700 folder (it holds the admin token's hash and the audit log);
 * SQLite gives its -wal and -shm files the database file's mode.
 */
function openSqlite(file: string): Database.Database {
  let db: Database.Database;
  try {
    if (file !== ':memory:') {
      const dir = dirname(file);
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
    }
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

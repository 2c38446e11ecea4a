import Database from 'better-sqlite3';
import { CamelCasePlugin, Kysely, SqliteDialect } from 'kysely';
import { KyselyStore } from '../kysely-store';
import { migrateStore } from '../migrate';
import { STORE_MIGRATIONS, StoreMigration } from '../migrations';
import { StoreSchema } from '../schema';
import { openSqlite } from './open-database';

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

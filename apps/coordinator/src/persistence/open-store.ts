import { isPostgresUrl } from './db-url';
import { PostgresStore } from './postgres/postgres-store';
import { KyselyStore } from './kysely-store';
import { SqliteStore } from './sqlite/sqlite-store';

/**
 * Opens the store a `--db` value names and applies pending migrations before returning, so a
 * database that cannot be opened or migrated stops the coordinator at start.
 */
export async function openStore(db: string): Promise<KyselyStore> {
  if (isPostgresUrl(db)) return PostgresStore.open(db);
  const store = SqliteStore.open(db);
  try {
    await store.migrations();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

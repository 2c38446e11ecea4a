import { Kysely, Migration, MigrationProvider, Migrator, sql } from 'kysely';
import { PhccError } from '../../../../libs/common/src';
import { kyselyMigrations, migrationVersion, STORE_MIGRATIONS, StoreMigration } from './migrations';
import { StoreDialect } from './schema';

/** Kysely's own bookkeeping table (its Migrator's default name). */
const MIGRATION_TABLE = 'kysely_migration';
/** Where the hand-written SQLite migrator of phcc-fed 0.1 recorded its versions. */
const LEGACY_MIGRATION_TABLE = 'schema_migrations';

class ListProvider implements MigrationProvider {
  constructor(private readonly migrations: Record<string, Migration>) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return this.migrations;
  }
}

async function tableNames(db: Kysely<unknown>): Promise<Set<string>> {
  return new Set((await db.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name));
}

/** Names Kysely recorded as applied (none on a new database). */
export async function appliedMigrationNames(db: Kysely<unknown>): Promise<string[]> {
  if (!(await tableNames(db)).has(MIGRATION_TABLE)) return [];
  const rows = await sql<{
    name: string;
  }>`SELECT name FROM ${sql.table(MIGRATION_TABLE)} ORDER BY name`.execute(db);
  return rows.rows.map((r) => r.name);
}

/**
 * Brings a database to the newest schema with Kysely's Migrator (each pending migration in a
 * transaction, a lock table against two coordinators migrating at once) and refuses one written
 * by a newer build, whose schema is unknown to us. Returns the versions applied now.
 */
export async function migrateStore(
  db: Kysely<unknown>,
  dialect: StoreDialect,
  migrations: readonly StoreMigration[] = STORE_MIGRATIONS,
): Promise<number[]> {
  const known = new Set(migrations.map((m) => m.name));
  const unknown = (await appliedMigrationNames(db)).filter((name) => !known.has(name));
  if (unknown.length) {
    throw new PhccError(
      `database schema has migration(s) ${unknown.map(migrationVersion).join(', ')} that this build does not know: it was written by a newer phcc-fed`,
      'DB_TOO_NEW',
      2,
    );
  }
  await adoptLegacySqlite(db, migrations);
  const { error, results } = await new Migrator({
    db,
    provider: new ListProvider(kyselyMigrations(dialect, migrations)),
  }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new PhccError(
      `database migration ${failed ?? ''} failed: ${(error as Error).message ?? String(error)}`,
      'DB_MIGRATE',
      1,
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => migrationVersion(r.migrationName));
}

/**
 * A SQLite file from phcc-fed 0.1 has its schema from the same statements, recorded in
 * `schema_migrations`: those versions are marked applied in Kysely's table (as no-ops) so the
 * Migrator continues after them instead of creating the tables again.
 */
async function adoptLegacySqlite(db: Kysely<unknown>, migrations: readonly StoreMigration[]): Promise<void> {
  const tables = await tableNames(db);
  if (!tables.has(LEGACY_MIGRATION_TABLE) || tables.has(MIGRATION_TABLE)) return;
  const legacy = await sql<{
    version: number;
  }>`SELECT version FROM ${sql.table(LEGACY_MIGRATION_TABLE)}`.execute(db);
  const versions = new Set(legacy.rows.map((r) => Number(r.version)));
  const noop: Record<string, Migration> = {};
  for (const m of migrations) if (versions.has(m.version)) noop[m.name] = { up: async () => undefined };
  const { error } = await new Migrator({ db, provider: new ListProvider(noop) }).migrateToLatest();
  if (error) throw error;
}

import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import { Pool, types } from 'pg';
import { PhccError } from '../../../../../libs/common/src';
import { KyselyStore } from '../kysely-store';
import { migrateStore } from '../migrate';
import { STORE_MIGRATIONS, StoreMigration } from '../migrations';
import { StoreSchema } from '../schema';

/** PostgreSQL's type id of int8 (COUNT(*), SUM of integers). */
const INT8_OID = 20;

/**
 * The store on PostgreSQL, for a consortium that runs its coordinator beside a managed database
 * (backups, replicas). Same queries and migrations as SQLite (kysely-repositories.ts, migrations.ts).
 */
export class PostgresStore extends KyselyStore {
  private constructor(db: Kysely<StoreSchema>) {
    super('postgres', db);
  }

  /** Connects, migrates, and returns the store; a wrong URL or refused login fails here. */
  static async open(
    url: string,
    migrations: readonly StoreMigration[] = STORE_MIGRATIONS,
  ): Promise<PostgresStore> {
    const pool = new Pool({
      connectionString: url,
      max: 10,
      connectionTimeoutMillis: 10_000,
      // Counts arrive as numbers, as they do from SQLite (they never approach 2^53).
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID
            ? Number
            : types.getTypeParser(oid, format as 'text')) as typeof types.getTypeParser,
      },
    });
    // An idle client losing its server is reported here instead of crashing the process.
    pool.on('error', () => undefined);
    const db = new Kysely<StoreSchema>({
      dialect: new PostgresDialect({ pool }),
      plugins: [new CamelCasePlugin()],
    });
    try {
      await migrateStore(db.withoutPlugins() as Kysely<unknown>, 'postgres', migrations);
    } catch (err) {
      await db.destroy();
      if (err instanceof PhccError) throw err;
      throw new PhccError(`cannot open database ${redactUrl(url)}: ${(err as Error).message}`, 'DB_OPEN', 2);
    }
    return new PostgresStore(db);
  }
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgresql://…';
  }
}

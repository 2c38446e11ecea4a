import { CoordinatorStore } from '../repositories';
import { SQLITE_MIGRATIONS } from './migrations';
import { migrate, openSqlite, SqliteDatabase } from './open-database';
import {
  SqliteAuditRepository,
  SqliteEvaluationsRepository,
  SqliteMetricsRepository,
  SqliteRoundsRepository,
  SqliteRunsRepository,
  SqliteSettingsRepository,
  SqliteSitesRepository,
  SqliteStrategyStatesRepository,
  SqliteTasksRepository,
  SqliteUpdatesRepository,
} from './sqlite-repositories';

/** The default store: one SQLite file (or `:memory:` in tests), migrated on open. */
export class SqliteStore implements CoordinatorStore {
  readonly kind = 'sqlite';
  readonly sites;
  readonly runs;
  readonly rounds;
  readonly tasks;
  readonly updates;
  readonly metrics;
  readonly evaluations;
  readonly strategyStates;
  readonly audit;
  readonly settings;

  private constructor(
    private readonly db: SqliteDatabase,
    readonly file: string,
  ) {
    this.sites = new SqliteSitesRepository(db);
    this.runs = new SqliteRunsRepository(db);
    this.rounds = new SqliteRoundsRepository(db);
    this.tasks = new SqliteTasksRepository(db);
    this.updates = new SqliteUpdatesRepository(db);
    this.metrics = new SqliteMetricsRepository(db);
    this.evaluations = new SqliteEvaluationsRepository(db);
    this.strategyStates = new SqliteStrategyStatesRepository(db);
    this.audit = new SqliteAuditRepository(db);
    this.settings = new SqliteSettingsRepository(db);
  }

  static open(file: string): SqliteStore {
    const db = openSqlite(file);
    try {
      migrate(db, SQLITE_MIGRATIONS);
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteStore(db, file);
  }

  async migrations(): Promise<number[]> {
    return (
      this.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]
    ).map((r) => r.version);
  }

  async ping(): Promise<boolean> {
    try {
      return (this.db.prepare('SELECT 1 AS one').get() as { one: number }).one === 1;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** SQLite's journal mode, for tests and /health details. */
  journalMode(): string {
    return String(this.db.pragma('journal_mode', { simple: true }));
  }
}

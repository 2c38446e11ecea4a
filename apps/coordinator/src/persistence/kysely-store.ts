import { Kysely, sql } from 'kysely';
import {
  KyselyAuditRepository,
  KyselyEvaluationsRepository,
  KyselyMetricsRepository,
  KyselyRetentionRepository,
  KyselyStatsRepository,
  KyselyRoundsRepository,
  KyselyRunsRepository,
  KyselySettingsRepository,
  KyselySitesRepository,
  KyselyStrategyStatesRepository,
  KyselyTasksRepository,
  KyselyUpdatesRepository,
} from './kysely-repositories';
import { appliedMigrationNames } from './migrate';
import { migrationVersion } from './migrations';
import { CoordinatorStore } from './repositories';
import { StoreDialect, StoreSchema } from './schema';

/**
 * The CoordinatorStore on Kysely: one set of queries for SQLite and PostgreSQL. Subclasses only
 * open the connection and migrate (sqlite/sqlite-store.ts, postgres/postgres-store.ts).
 */
export abstract class KyselyStore implements CoordinatorStore {
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
  readonly stats;
  readonly retention;
  private closed = false;

  protected constructor(
    readonly kind: StoreDialect,
    /** The query builder itself, for the few readers that aggregate (metrics, retention). */
    readonly db: Kysely<StoreSchema>,
  ) {
    this.sites = new KyselySitesRepository(db);
    this.runs = new KyselyRunsRepository(db);
    this.rounds = new KyselyRoundsRepository(db);
    this.tasks = new KyselyTasksRepository(db);
    this.updates = new KyselyUpdatesRepository(db);
    this.metrics = new KyselyMetricsRepository(db);
    this.evaluations = new KyselyEvaluationsRepository(db);
    this.strategyStates = new KyselyStrategyStatesRepository(db);
    this.audit = new KyselyAuditRepository(db);
    this.settings = new KyselySettingsRepository(db);
    this.stats = new KyselyStatsRepository(db);
    this.retention = new KyselyRetentionRepository(db);
  }

  async migrations(): Promise<number[]> {
    return (await appliedMigrationNames(this.db.withoutPlugins() as Kysely<unknown>)).map(migrationVersion);
  }

  async ping(): Promise<boolean> {
    try {
      const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(this.db);
      return Number(rows[0]?.one) === 1;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.destroy();
  }
}

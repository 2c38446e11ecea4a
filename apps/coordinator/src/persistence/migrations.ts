import { Kysely, Migration as KyselyMigration, sql } from 'kysely';
import { StoreDialect } from './schema';

/**
 * Numbered schema migrations for both stores, run by Kysely's Migrator (migrate.ts) in order,
 * recorded in `kysely_migration` under the names below. Never edit a released migration: add the
 * next number. Plain SQL, one statement per entry (better-sqlite3 prepares one at a time); the
 * few words that differ between SQLite and PostgreSQL come from `words(dialect)`.
 */
export interface StoreMigration {
  version: number;
  /** Kysely's migration name: the zero-padded version sorts in order. */
  name: string;
  statements(dialect: StoreDialect): string[];
}

function words(dialect: StoreDialect) {
  return dialect === 'sqlite'
    ? { id: 'INTEGER PRIMARY KEY AUTOINCREMENT', real: 'REAL' }
    : { id: 'SERIAL PRIMARY KEY', real: 'DOUBLE PRECISION' };
}

/** The database refuses to change or delete audit rows, not only the code. */
function appendOnlyAudit(dialect: StoreDialect): string[] {
  if (dialect === 'sqlite') {
    return [
      `CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
         BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
      `CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
         BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
    ];
  }
  return [
    `CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$`,
    `CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
    `CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`,
  ];
}

export const STORE_MIGRATIONS: readonly StoreMigration[] = [
  {
    version: 1,
    name: '0001_initial_schema',
    statements: (dialect) => {
      const w = words(dialect);
      return [
        `CREATE TABLE sites (
          id             TEXT PRIMARY KEY,
          public_key     TEXT NOT NULL,
          fingerprint    TEXT NOT NULL,
          enrolled_at    TEXT NOT NULL,
          revoked_at     TEXT,
          revoked_reason TEXT
        )`,
        `CREATE TABLE runs (
          id          TEXT PRIMARY KEY,
          name        TEXT NOT NULL,
          plan_json   TEXT NOT NULL,
          plan_digest TEXT NOT NULL,
          state       TEXT NOT NULL CHECK (state IN ('created','running','completed','failed','stopped')),
          created_at  TEXT NOT NULL,
          started_at  TEXT,
          ended_at    TEXT,
          reason      TEXT
        )`,
        `CREATE INDEX runs_by_state ON runs (state)`,
        `CREATE TABLE rounds (
          run_id        TEXT NOT NULL REFERENCES runs (id),
          stage         TEXT NOT NULL,
          round         INTEGER NOT NULL,
          state         TEXT NOT NULL CHECK (state IN ('dispatched','collecting','aggregating','done','failed')),
          input_digest  TEXT,
          output_digest TEXT,
          started_at    TEXT NOT NULL,
          deadline_at   TEXT NOT NULL,
          ended_at      TEXT,
          reason        TEXT,
          PRIMARY KEY (run_id, stage, round)
        )`,
        `CREATE TABLE tasks (
          id         TEXT PRIMARY KEY,
          run_id     TEXT NOT NULL,
          stage      TEXT NOT NULL,
          round      INTEGER NOT NULL,
          site_id    TEXT NOT NULL REFERENCES sites (id),
          state      TEXT NOT NULL CHECK (state IN ('pending','sent','received','rejected','timed-out')),
          created_at TEXT NOT NULL,
          attempts   INTEGER NOT NULL DEFAULT 0,
          FOREIGN KEY (run_id, stage, round) REFERENCES rounds (run_id, stage, round)
        )`,
        `CREATE INDEX tasks_by_round ON tasks (run_id, stage, round)`,
        `CREATE TABLE updates (
          id            ${w.id},
          task_id       TEXT NOT NULL REFERENCES tasks (id),
          run_id        TEXT NOT NULL,
          stage         TEXT NOT NULL,
          round         INTEGER NOT NULL,
          site_id       TEXT NOT NULL,
          digest        TEXT NOT NULL,
          signature     TEXT NOT NULL,
          bytes         INTEGER NOT NULL,
          n_samples     INTEGER NOT NULL,
          encoding      TEXT NOT NULL,
          status        TEXT NOT NULL CHECK (status IN ('accepted','rejected','aggregated')),
          reject_reason TEXT,
          received_at   TEXT NOT NULL
        )`,
        `CREATE INDEX updates_by_round ON updates (run_id, stage, round)`,
        `CREATE TABLE metrics (
          id          ${w.id},
          run_id      TEXT NOT NULL REFERENCES runs (id),
          stage       TEXT,
          round       INTEGER,
          site_id     TEXT,
          name        TEXT NOT NULL,
          value       ${w.real} NOT NULL,
          recorded_at TEXT NOT NULL
        )`,
        `CREATE INDEX metrics_by_run ON metrics (run_id)`,
        `CREATE TABLE evaluation_results (
          id           ${w.id},
          run_id       TEXT NOT NULL REFERENCES runs (id),
          model_digest TEXT NOT NULL,
          model_of     TEXT NOT NULL,
          site_id      TEXT NOT NULL,
          n            INTEGER NOT NULL,
          n_positive   INTEGER NOT NULL,
          auc          ${w.real},
          auc_low      ${w.real},
          auc_high     ${w.real},
          histograms   TEXT,
          recorded_at  TEXT NOT NULL
        )`,
        `CREATE INDEX evaluation_results_by_run ON evaluation_results (run_id)`,
        `CREATE TABLE audit_log (
          id      ${w.id},
          at      TEXT NOT NULL,
          actor   TEXT NOT NULL,
          action  TEXT NOT NULL,
          target  TEXT,
          outcome TEXT NOT NULL,
          detail  TEXT
        )`,
        `CREATE INDEX audit_log_by_action ON audit_log (action)`,
        ...appendOnlyAudit(dialect),
        `CREATE TABLE settings (
          key   TEXT PRIMARY KEY,
          value TEXT NOT NULL
        )`,
      ];
    },
  },
  {
    version: 2,
    name: '0002_evaluation_rounds_strategy_state',
    statements: () => [
      // Which evaluation round produced a result (final = evaluate/0, every-k = evaluate/k·j,
      // cross-site = evaluate/10000+i; see rounds/run-schedule.ts). Before this migration only the
      // final evaluation existed, so existing rows are that one.
      `ALTER TABLE evaluation_results ADD COLUMN stage TEXT`,
      `ALTER TABLE evaluation_results ADD COLUMN round INTEGER`,
      `UPDATE evaluation_results SET stage = 'evaluate', round = 0`,
      // A strategy's server state (FedAdam's m, v, step) after a training round, as a blob in the
      // blob store: what a restarted coordinator restores before the run's next round.
      `CREATE TABLE strategy_states (
        run_id       TEXT NOT NULL REFERENCES runs (id),
        stage        TEXT NOT NULL,
        round        INTEGER NOT NULL,
        strategy     TEXT NOT NULL,
        state_digest TEXT NOT NULL,
        tensors      INTEGER NOT NULL,
        recorded_at  TEXT NOT NULL,
        PRIMARY KEY (run_id, stage, round)
      )`,
    ],
  },
  {
    version: 3,
    name: '0003_round_order_update_retention',
    statements: (dialect) => [
      // Rounds were ordered by SQLite's rowid after started_at; PostgreSQL has none, so the order
      // of insertion within a run is a column of its own.
      `ALTER TABLE rounds ADD COLUMN seq INTEGER`,
      dialect === 'sqlite'
        ? `UPDATE rounds SET seq = rowid`
        : `UPDATE rounds SET seq = o.n FROM (
             SELECT run_id, stage, round, row_number() OVER (PARTITION BY run_id ORDER BY started_at, stage, round) AS n
             FROM rounds) o
           WHERE rounds.run_id = o.run_id AND rounds.stage = o.stage AND rounds.round = o.round`,
      // Retention deletes folded updates' blobs; the row (digest, signature) stays as evidence.
      `ALTER TABLE updates ADD COLUMN blob_deleted_at TEXT`,
      `CREATE INDEX updates_by_status ON updates (status)`,
    ],
  },
];

/** The migrations in the shape Kysely's Migrator runs, for one dialect. */
export function kyselyMigrations(
  dialect: StoreDialect,
  migrations: readonly StoreMigration[] = STORE_MIGRATIONS,
): Record<string, KyselyMigration> {
  return Object.fromEntries(
    migrations.map((m) => [
      m.name,
      {
        up: async (db: Kysely<unknown>) => {
          for (const statement of m.statements(dialect)) await sql.raw(statement).execute(db);
        },
      },
    ]),
  );
}

/** The version number in a migration name ('0003_…' → 3). */
export function migrationVersion(name: string): number {
  return Number(name.slice(0, name.indexOf('_')));
}

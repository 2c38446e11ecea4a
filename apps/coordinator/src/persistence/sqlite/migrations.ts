/**
 * Numbered schema migrations for the SQLite store, applied in order at start inside one
 * transaction each and recorded in `schema_migrations`. Never edit a released migration: add the
 * next number. Kept in TypeScript (not .sql files) so `tsc` ships them in dist/ with no copy step.
 * Types are chosen to map 1:1 onto PostgreSQL (TEXT, INTEGER/BIGINT, REAL/DOUBLE PRECISION).
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE sites (
  id             TEXT PRIMARY KEY,
  public_key     TEXT NOT NULL,
  fingerprint    TEXT NOT NULL,
  enrolled_at    TEXT NOT NULL,
  revoked_at     TEXT,
  revoked_reason TEXT
);

CREATE TABLE runs (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  plan_json   TEXT NOT NULL,
  plan_digest TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('created','running','completed','failed','stopped')),
  created_at  TEXT NOT NULL,
  started_at  TEXT,
  ended_at    TEXT,
  reason      TEXT
);
CREATE INDEX runs_by_state ON runs (state);

CREATE TABLE rounds (
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
);

CREATE TABLE tasks (
  id         TEXT PRIMARY KEY,
  run_id     TEXT NOT NULL,
  stage      TEXT NOT NULL,
  round      INTEGER NOT NULL,
  site_id    TEXT NOT NULL REFERENCES sites (id),
  state      TEXT NOT NULL CHECK (state IN ('pending','sent','received','rejected','timed-out')),
  created_at TEXT NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  FOREIGN KEY (run_id, stage, round) REFERENCES rounds (run_id, stage, round)
);
CREATE INDEX tasks_by_round ON tasks (run_id, stage, round);

CREATE TABLE updates (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
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
);
CREATE INDEX updates_by_round ON updates (run_id, stage, round);

CREATE TABLE metrics (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id      TEXT NOT NULL REFERENCES runs (id),
  stage       TEXT,
  round       INTEGER,
  site_id     TEXT,
  name        TEXT NOT NULL,
  value       REAL NOT NULL,
  recorded_at TEXT NOT NULL
);
CREATE INDEX metrics_by_run ON metrics (run_id);

CREATE TABLE evaluation_results (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id       TEXT NOT NULL REFERENCES runs (id),
  model_digest TEXT NOT NULL,
  model_of     TEXT NOT NULL,
  site_id      TEXT NOT NULL,
  n            INTEGER NOT NULL,
  n_positive   INTEGER NOT NULL,
  auc          REAL,
  auc_low      REAL,
  auc_high     REAL,
  histograms   TEXT,
  recorded_at  TEXT NOT NULL
);
CREATE INDEX evaluation_results_by_run ON evaluation_results (run_id);

CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      TEXT NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT,
  outcome TEXT NOT NULL,
  detail  TEXT
);
CREATE INDEX audit_log_by_action ON audit_log (action);

-- The audit log is append-only, enforced by the database itself and not only by the code.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'evaluation round numbers, strategy server state',
    sql: `
-- Which evaluation round produced a result (final = evaluate/0, every-k = evaluate/k·j, cross-site
-- = evaluate/10000+i; see rounds/run-schedule.ts). Before this migration only the final
-- evaluation existed, so existing rows are that one.
ALTER TABLE evaluation_results ADD COLUMN stage TEXT;
ALTER TABLE evaluation_results ADD COLUMN round INTEGER;
UPDATE evaluation_results SET stage = 'evaluate', round = 0;

-- A strategy's server state (FedAdam's m, v, step) after a training round, as a blob in the blob
-- store: what a restarted coordinator restores before the run's next round.
CREATE TABLE strategy_states (
  run_id       TEXT NOT NULL REFERENCES runs (id),
  stage        TEXT NOT NULL,
  round        INTEGER NOT NULL,
  strategy     TEXT NOT NULL,
  state_digest TEXT NOT NULL,
  tensors      INTEGER NOT NULL,
  recorded_at  TEXT NOT NULL,
  PRIMARY KEY (run_id, stage, round)
);
`,
  },
];

export * from './records';
export * from './repositories';
export { KyselyStore } from './kysely-store';
export { SqliteStore } from './sqlite/sqlite-store';
export { PostgresStore, redactUrl } from './postgres/postgres-store';
export { isPostgresUrl } from './db-url';
export { openStore } from './open-store';
export { STORE_MIGRATIONS } from './migrations';
export type { StoreMigration } from './migrations';

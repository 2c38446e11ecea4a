export * from './records';
export * from './repositories';
export { SqliteStore } from './sqlite/sqlite-store';
export { SQLITE_MIGRATIONS } from './sqlite/migrations';
export type { Migration } from './sqlite/migrations';

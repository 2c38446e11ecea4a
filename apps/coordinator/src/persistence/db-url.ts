/**
 * `postgres://` or `postgresql://` URLs name a PostgreSQL database; anything else is a SQLite
 * file (or ':memory:'). Kept free of imports so the CLI can tell them apart without loading drivers.
 */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

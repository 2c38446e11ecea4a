/**
 * Column ↔ field mapping shared by the SQLite repositories: snake_case columns become camelCase
 * fields and SQL NULL becomes an absent field, so records never carry `null`.
 */
export type Row = Record<string, unknown>;

export function fromRow<T>(row: Row): T {
  const out: Row = {};
  for (const [column, value] of Object.entries(row)) {
    if (value === null || value === undefined) continue;
    out[column.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())] = value;
  }
  return out as T;
}

/** Named parameters for a statement: every field of `fields` (absent ones as NULL). */
export function toParams(fields: Record<string, unknown>, names: readonly string[]): Row {
  const out: Row = {};
  for (const name of names) out[name] = fields[name] ?? null;
  return out;
}

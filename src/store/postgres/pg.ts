import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import type { PgDatabase } from 'drizzle-orm/pg-core';

/** The pool or a transaction on it: what every repo is built over, so one repo serves both. */
export type Pg = PgDatabase<NodePgQueryResultHKT>;

/** Whether a guarded write (a WHERE on the status, ON CONFLICT DO NOTHING) changed a row. */
export function tookEffect(result: { rowCount: number | null }): boolean {
  return (result.rowCount ?? 0) > 0;
}

/** `coalesce(sum(x), 0)` as a number: PostgreSQL sums integers into a bigint, which node-postgres reads as a string. */
export function sumOf(expression: SQLWrapper): SQL<number> {
  return sql`coalesce(sum(${expression}), 0)`.mapWith(Number);
}

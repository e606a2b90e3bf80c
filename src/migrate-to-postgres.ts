import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { getTableColumns, getTableName, is, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { SQLiteTable } from 'drizzle-orm/sqlite-core';
import pg from 'pg';
import * as pgSchema from '../db/pg/schema.js';
import * as sqliteSchema from '../db/schema.js';
import { ConfigError, loadConfig, loadEnvFile } from './config.js';
import { postgresProblem, withoutPassword } from './doctor/postgres-check.js';
import { describeStore } from './store/open.js';
import { openPostgresStore } from './store/postgres/index.js';
import type { Pg } from './store/postgres/pg.js';

/**
 * `npm run migrate-to-postgres`: copies the SQLite database (DATA_DIR/clipbot.db) into the PostgreSQL database that
 * DATABASE_URL names, to run several bot processes on one database (design.md §8). The bot must be stopped: what it
 * writes to SQLite once the copy has begun is not copied. The SQLite file is only read (it stays as it was, the way
 * back), and the target must be empty: this never merges two databases.
 *
 * Every table goes over with its ids (but queued_members, derived from the jobs: a view on PostgreSQL), in one
 * PostgreSQL transaction that commits only after the copy is verified (row counts per table, and the ledger per
 * account, in total and per kind, equal on both sides); any difference or error rolls it back and leaves no row in
 * the target (only the schema, which the bot would have created anyway).
 */

/** Rows per INSERT: at about 40 columns (jobs), well under PostgreSQL's 65,535 parameters per statement. */
const BATCH_ROWS = 500;

/** SQLite tables derived from others by triggers, which PostgreSQL computes as views: nothing to copy. */
const DERIVED_TABLES = new Set(['queued_members']);

// db/migrations sits beside the code in both layouts: src → db, dist/src → dist/db.
const SQLITE_JOURNAL = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../db/migrations/meta/_journal.json',
);

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** What both sides hold, compared before the copy commits. */
export interface Summary {
  /** Rows per table. */
  rows: Record<string, number>;
  /** Sum of the ledger's amounts per account (user id). */
  balances: Record<string, number>;
  /** Ledger entries per kind. */
  kinds: Record<string, number>;
  /** Sum of every ledger amount. */
  total: number;
}

export interface MigrationResult {
  source: string;
  /** The target as it may be shown: no password. */
  target: string;
  copied: Summary;
}

/** One table of the schema, as SQLite and PostgreSQL declare it. */
interface TablePair {
  name: string;
  from: SQLiteTable;
  to: PgTable;
}

export async function migrateToPostgres(
  config: { dataDir: string; DATABASE_URL?: string | undefined },
  now = Date.now(),
): Promise<MigrationResult> {
  const url = config.DATABASE_URL;
  if (!url) {
    throw new MigrationError(
      'DATABASE_URL is not set: set it (in .env or the environment) to the PostgreSQL database to copy into, e.g. postgres://clipbot:password@localhost:5432/clipbot',
    );
  }
  const source = path.join(config.dataDir, 'clipbot.db');
  if (!fs.existsSync(source)) throw new MigrationError(`there is no SQLite database at ${source}: check DATA_DIR`);
  const target = describeStore({ ...config, DATABASE_URL: url });
  const tables = tablesInCopyOrder();

  const sqlite = new Database(source, { readonly: true, fileMustExist: true });
  try {
    sqlite.pragma('busy_timeout = 5000');
    assertSchemaCurrent(sqlite, source);
    assertNoBotRunning(sqlite, source, now);
    await createSchema(url, target);
    return { source, target, copied: await copyInto(url, target, sqlite, tables) };
  } finally {
    sqlite.close();
  }
}

async function copyInto(url: string, target: string, sqlite: Database.Database, tables: TablePair[]): Promise<Summary> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {}); // a dropped connection fails the query in flight, which reports it
  await connect(client, url, target);
  // One read transaction: every table is read from the same moment of the SQLite database.
  sqlite.exec('BEGIN');
  try {
    return await copyAll(sqlite, drizzle({ client }), tables, target);
  } catch (error) {
    if (error instanceof MigrationError) throw error;
    throw new MigrationError(
      `the copy failed (${withoutPassword(rootCause(error), url)}); it was rolled back, nothing was committed to ${target}`,
    );
  } finally {
    sqlite.exec('COMMIT');
    await client.end().catch(() => {});
  }
}

async function copyAll(sqlite: Database.Database, db: Pg, tables: TablePair[], target: string): Promise<Summary> {
  const names = tables.map((t) => t.name);
  const expected = await summarise(async (text) => sqlite.prepare<[], Record<string, unknown>>(text).all(), names);
  return db.transaction(async (tx) => {
    // A bot started on PostgreSQL meanwhile waits until the copy is in (or rolled back) instead of writing beside it.
    await tx.execute(sql.raw(`LOCK TABLE ${names.map(quoted).join(', ')} IN EXCLUSIVE MODE`));
    await assertEmpty(tx, names, target);
    for (const table of tables) await copyTable(sqlite, tx, table);
    await resetIdentities(tx, tables);
    const copied = await summarise(async (text) => (await tx.execute(sql.raw(text))).rows, names);
    const differences = compare(expected, copied);
    if (differences.length) {
      throw new MigrationError(
        `the copy does not match the SQLite database (${differences.join('; ')}); it was rolled back, nothing was committed to ${target}`,
      );
    }
    return copied;
  });
}

/**
 * Every table of db/pg/schema.ts paired with its twin in db/schema.ts, each after the tables its foreign keys
 * point to. A table on one side only is a schema out of step: refused rather than silently left behind.
 */
export function tablesInCopyOrder(): TablePair[] {
  const sqliteTables = new Map<string, SQLiteTable>();
  for (const v of Object.values(sqliteSchema))
    if (is(v, SQLiteTable) && !DERIVED_TABLES.has(getTableName(v))) sqliteTables.set(getTableName(v), v);
  const pgTables: PgTable[] = Object.values(pgSchema).filter((v) => is(v, PgTable));
  const unmatched = [
    ...pgTables.map(getTableName).filter((name) => !sqliteTables.has(name)),
    ...[...sqliteTables.keys()].filter((name) => !pgTables.some((t) => getTableName(t) === name)),
  ];
  if (unmatched.length)
    throw new MigrationError(
      `the SQLite and PostgreSQL schemas differ (${unmatched.join(', ')}): this clipbot cannot copy them`,
    );
  return inForeignKeyOrder(pgTables).map((to) => ({
    name: getTableName(to),
    from: sqliteTables.get(getTableName(to))!,
    to,
  }));
}

function inForeignKeyOrder(tables: PgTable[]): PgTable[] {
  const ordered: PgTable[] = [];
  const visiting = new Set<PgTable>();
  const visit = (table: PgTable) => {
    if (ordered.includes(table)) return;
    if (visiting.has(table))
      throw new MigrationError(`the foreign keys of ${getTableName(table)} form a cycle: no copy order exists`);
    visiting.add(table);
    for (const key of getTableConfig(table).foreignKeys) {
      const referenced = key.reference().foreignTable;
      if (referenced !== table) visit(referenced);
    }
    ordered.push(table);
  };
  tables.forEach(visit);
  return ordered;
}

/** The SQLite database must have exactly this clipbot's migrations: its tables are then exactly db/schema.ts's. */
function assertSchemaCurrent(sqlite: Database.Database, source: string): void {
  const known = (JSON.parse(fs.readFileSync(SQLITE_JOURNAL, 'utf8')) as { entries: { when: number }[] }).entries;
  const newest = known.at(-1)?.when ?? 0;
  const hasTable = sqlite
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
    .get();
  const applied = hasTable
    ? ((sqlite.prepare('SELECT max(created_at) AS last FROM __drizzle_migrations').get() as { last: number | null })
        .last ?? 0)
    : 0;
  if (applied > newest)
    throw new MigrationError(
      `${source} was migrated by a newer clipbot than this one: run the newer clipbot's migrate-to-postgres`,
    );
  if (applied < newest) {
    throw new MigrationError(
      `${source} was last used by an older clipbot: start this version of the bot on it once (it brings the database up to date), stop it, then run this again`,
    );
  }
}

/** A running bot renews its lease in `workers`; one that stopped removed its row (a killed one's lease runs out). */
function assertNoBotRunning(sqlite: Database.Database, source: string, now: number): void {
  const live = sqlite
    .prepare<[number], { id: string; leaseUntil: number }>(
      'SELECT id, lease_until AS leaseUntil FROM workers WHERE lease_until > ?',
    )
    .get(now);
  if (live) {
    throw new MigrationError(
      `a bot is running on ${source} (worker ${live.id}, lease until ${new Date(live.leaseUntil).toISOString()}): stop it first (if it was killed, wait until its lease runs out)`,
    );
  }
}

/** openPostgresStore brings the schema up to date (creating it in a new database), as the bot does at start. */
async function createSchema(url: string, target: string): Promise<void> {
  try {
    await (await openPostgresStore(url, { max: 1 })).close();
  } catch (error) {
    throw failureOf(error, url, target);
  }
}

async function connect(client: pg.Client, url: string, target: string): Promise<void> {
  try {
    await client.connect();
  } catch (error) {
    throw failureOf(error, url, target);
  }
}

function failureOf(error: unknown, url: string, target: string): MigrationError {
  const problem = postgresProblem(error, url);
  return new MigrationError(`cannot use ${target}: ${problem.reason} → ${problem.fix}`);
}

async function assertEmpty(tx: Pg, names: string[], target: string): Promise<void> {
  const held: string[] = [];
  for (const name of names) {
    const { rows } = await tx.execute(sql.raw(`SELECT count(*) AS n FROM ${quoted(name)}`));
    const n = Number(rows[0]?.n);
    if (n > 0) held.push(`${n} in ${name}`);
  }
  if (held.length) {
    throw new MigrationError(
      `${target} already holds rows (${held.join(', ')}): this copies only into an empty database and never merges; name a new, empty database in DATABASE_URL`,
    );
  }
}

/** Reads the table in rowid order and inserts it in batches; drizzle's column mappings convert each value (0/1 to boolean, JSON text to jsonb). */
async function copyTable(sqlite: Database.Database, tx: Pg, table: TablePair): Promise<void> {
  for (const batch of batches(rowsOf(sqlite, table.from), BATCH_ROWS)) {
    await tx.insert(table.to).values(batch);
  }
}

/** The table's rows as drizzle reads them (keys and values of db/schema.ts's types), which is what the PostgreSQL table takes. */
function* rowsOf(sqlite: Database.Database, table: SQLiteTable): Generator<Record<string, unknown>> {
  const columns = Object.entries(getTableColumns(table));
  const statement = sqlite.prepare<[], Record<string, unknown>>(
    `SELECT * FROM ${quoted(getTableName(table))} ORDER BY rowid`,
  );
  for (const raw of statement.iterate()) {
    yield Object.fromEntries(
      columns.map(([key, column]) => [
        key,
        raw[column.name] === null ? null : column.mapFromDriverValue(raw[column.name]),
      ]),
    );
  }
}

function* batches<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/** Ids were copied as they were: each identity's next value must come after the largest one, or the bot's next insert collides. */
async function resetIdentities(tx: Pg, tables: TablePair[]): Promise<void> {
  for (const { name, to } of tables) {
    for (const column of getTableConfig(to).columns.filter((c) => c.generatedIdentity)) {
      await tx.execute(
        sql.raw(
          `SELECT setval(pg_get_serial_sequence('${quoted(name)}', '${column.name}'), coalesce(max(${quoted(column.name)}), 0) + 1, false) FROM ${quoted(name)}`,
        ),
      );
    }
  }
}

/** The same queries on both sides (plain SQL both understand); counts and sums come back as numbers or as bigint strings. */
async function summarise(
  query: (text: string) => Promise<Record<string, unknown>[]>,
  names: string[],
): Promise<Summary> {
  const rows: Record<string, number> = {};
  for (const name of names) rows[name] = Number((await query(`SELECT count(*) AS n FROM ${quoted(name)}`))[0]?.n);
  const byKey = async (text: string) =>
    Object.fromEntries((await query(text)).map((r) => [String(r.key), Number(r.value)]));
  const balances = await byKey('SELECT user_id AS key, sum(amount) AS value FROM ledger_entries GROUP BY user_id');
  const kinds = await byKey('SELECT kind AS key, count(*) AS value FROM ledger_entries GROUP BY kind');
  const total = Number((await query('SELECT coalesce(sum(amount), 0) AS total FROM ledger_entries'))[0]?.total);
  return { rows, balances, kinds, total };
}

/** Each figure that differs, as "what: the SQLite value, the PostgreSQL value". */
export function compare(sqliteSide: Summary, pgSide: Summary): string[] {
  const differences: string[] = [];
  const each = (what: string, a: Record<string, number>, b: Record<string, number>) => {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[key] !== b[key]) differences.push(`${what} ${key}: ${a[key] ?? 0} in SQLite, ${b[key] ?? 0} in PostgreSQL`);
    }
  };
  each('rows in', sqliteSide.rows, pgSide.rows);
  each('balance of account', sqliteSide.balances, pgSide.balances);
  each('ledger entries of kind', sqliteSide.kinds, pgSide.kinds);
  if (sqliteSide.total !== pgSide.total)
    differences.push(`ledger total: ${sqliteSide.total} in SQLite, ${pgSide.total} in PostgreSQL`);
  return differences;
}

/**
 * The driver's own words: drizzle wraps a PostgreSQL error in one whose message quotes the whole statement and its
 * parameters (up to a batch of rows), which is no help to an owner.
 */
function rootCause(error: unknown): string {
  let cause = error;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  const code = (cause as { code?: unknown }).code;
  return `${cause instanceof Error ? cause.message : String(cause)}${typeof code === 'string' ? `, ${code}` : ''}`;
}

const quoted = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

function report(result: MigrationResult): string {
  const width = Math.max(...Object.keys(result.copied.rows).map((name) => name.length));
  const entries = Object.values(result.copied.kinds).reduce((a, b) => a + b, 0);
  return [
    `Copied ${result.source} into ${result.target}, in one transaction, ids kept:`,
    ...Object.entries(result.copied.rows).map(([name, n]) => `  ${name.padEnd(width)}  ${n}`),
    `Verified: every table's row count, and the ledger (${entries} entries, ${result.copied.total} credits in total, per account and per kind) are equal on both sides.`,
    '',
    `Next: keep DATABASE_URL (as used here) in .env, and start the bot: npm start. It now runs on PostgreSQL.`,
    `${result.source} was not changed; keep it as a backup (without DATABASE_URL the bot would use it again, without what happened since).`,
  ].join('\n');
}

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    loadEnvFile();
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  process.stdout.write(
    'Copying the SQLite database into PostgreSQL. The bot must be stopped: what it writes from now on would not be copied.\n',
  );
  try {
    process.stdout.write(`${report(await migrateToPostgres(config))}\n`);
  } catch (error) {
    if (!(error instanceof MigrationError)) throw error;
    process.stderr.write(`Migration failed: ${error.message}\n`);
    process.exit(1);
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url))) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `Migration failed: ${error instanceof Error ? error.message : String(error)}; nothing was committed\n`,
    );
    process.exit(1);
  });
}

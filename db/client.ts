import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { sql } from 'drizzle-orm';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { startCheckpointer, type Checkpointer } from './checkpointer.js';
import * as schema from './schema.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };
/** The database or a transaction on it: what a function that may run inside a transaction takes. */
export type DbLike = BaseSQLiteDatabase<'sync', Database.RunResult, typeof schema>;

const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface OpenDbOptions {
  /** Checkpoint the WAL from a worker thread (db/checkpointer.ts); `onFailure` hears that it stopped. */
  backgroundCheckpoints?: { onFailure(error: Error): void };
}

/** Opens (creating if needed) the database at `file` (or `:memory:`) and applies every migration. */
export function openDb(file: string, options: OpenDbOptions = {}): Db {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new Database(file);
  cacheStatements(sqlite);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // Two processes (or a restart racing a dying one) wait for the lock instead of failing at once.
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder });
  if (options.backgroundCheckpoints && file !== ':memory:')
    checkpointInBackground(sqlite, file, options.backgroundCheckpoints.onFailure);
  return db as Db;
}

/** SQLite's automatic checkpoint, every 1,000 WAL pages. */
const DEFAULT_AUTOCHECKPOINT = 1000;

function checkpointInBackground(sqlite: Database.Database, file: string, onFailure: (error: Error) => void): void {
  // A backstop ten times SQLite's default: this connection checkpoints only when the thread does not keep up.
  sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT * 10}`);
  const checkpointer = startCheckpointer(file, {
    onFailure(error) {
      if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
      onFailure(error);
    },
  });
  checkpointers.set(sqlite, checkpointer);
  const close = sqlite.close.bind(sqlite);
  sqlite.close = () => {
    void checkpointer.stop();
    return close();
  };
}

const checkpointers = new WeakMap<Database.Database, Checkpointer>();

/** Closes the database and waits for its checkpoint thread (if any) to close its connection too. */
export async function closeDb(db: Db): Promise<void> {
  if (db.$client.open) db.$client.close();
  await checkpointers.get(db.$client)?.stop();
}

/**
 * A drizzle query built once per connection (placeholders for its parameters) instead of on every call: for the
 * queries intake and the runners make thousands of times a second, building the SQL cost more than running it.
 * Keyed by drizzle's session, which a database shares with its transactions, so a query prepared outside a
 * transaction also serves inside one (one SQLite connection: the statement runs in the open transaction).
 */
export function preparedPerDb<Q>(build: (db: DbLike) => Q): (db: DbLike) => Q {
  const built = new WeakMap<object, Q>();
  return (db) => {
    const key = (db as unknown as { session?: object }).session ?? db;
    let query = built.get(key);
    if (!query) built.set(key, (query = build(db)));
    return query;
  };
}

/**
 * A placeholder where drizzle's types want a plain value (an update's `set`): drizzle binds it when the prepared
 * query runs, through the column's encoder, as it does for placeholders in inserts and filters.
 */
export function slot<T>(name: string): T {
  return sql.placeholder(name) as unknown as T;
}

/**
 * drizzle prepares a fresh SQLite statement for every query it runs, and compiling the SQL was a sixth of the
 * engine's time under load. The same few hundred query texts repeat, so compiled statements are kept and reused.
 * A reused statement is handed out in its default mode: drizzle switches statements to raw (array) rows itself
 * when it wants them, and expects plain object rows otherwise.
 */
function cacheStatements(sqlite: Database.Database, max = 500): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const cache = new Map<string, Database.Statement>();
  sqlite.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (statement && !statement.busy) {
      if (statement.reader) statement.raw(false).pluck(false).expand(false);
      return statement;
    }
    statement = prepare(source);
    if (cache.size >= max) cache.delete(cache.keys().next().value!);
    cache.set(source, statement);
    return statement;
  }) as typeof sqlite.prepare;
}

import path from 'node:path';
import Database from 'better-sqlite3';
import { asc } from 'drizzle-orm';
import { drizzle as sqliteDrizzle } from 'drizzle-orm/better-sqlite3';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Db } from '../../db/client.js';
import * as pgSchema from '../../db/pg/schema.js';
import * as schema from '../../db/schema.js';
import type { Store } from '../../src/core/store.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import {
  emptyPostgresDatabase,
  freshPostgresDatabase,
  postgresAvailable,
  withPostgresClient,
  type TestDatabase,
} from './postgres.js';

/**
 * The store a test runs on: SQLite in a temp directory by default, PostgreSQL (a fresh database per store) when
 * `CLIPBOT_TEST_STORE=postgres`, so the same engine, core and property tests prove both adapters (.ci/run runs both).
 */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.CLIPBOT_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

if (TEST_STORE === 'postgres' && !(await postgresAvailable())) {
  throw new Error('CLIPBOT_TEST_STORE=postgres but no PostgreSQL answers on 127.0.0.1:5432');
}

/** Raw rows, which the port has no operation for: what tests assert the ledger's and the jobs' invariants on. */
export interface StoreRows {
  /** Oldest first. */
  jobs(): Promise<schema.Job[]>;
  /** In the order they were written. */
  ledger(): Promise<schema.LedgerEntry[]>;
  users(): Promise<schema.User[]>;
  webhookDeliveries(): Promise<(typeof schema.webhookDeliveries.$inferSelect)[]>;
  /** In the order they were written. */
  auditLog(): Promise<(typeof schema.auditLog.$inferSelect)[]>;
  communities(): Promise<(typeof schema.communities.$inferSelect)[]>;
  blocklistTerms(): Promise<(typeof schema.blocklistTerms.$inferSelect)[]>;
}

/** Rows of a SQLite database through a drizzle handle (the store's current one, or a read-only one on a bot's file). */
export function sqliteRows(dbOf: () => Db): StoreRows {
  return {
    jobs: async () => dbOf().select().from(schema.jobs).orderBy(asc(schema.jobs.createdAt)).all(),
    ledger: async () => dbOf().select().from(schema.ledgerEntries).orderBy(asc(schema.ledgerEntries.id)).all(),
    users: async () => dbOf().select().from(schema.users).orderBy(asc(schema.users.id)).all(),
    webhookDeliveries: async () => dbOf().select().from(schema.webhookDeliveries).all(),
    auditLog: async () => dbOf().select().from(schema.auditLog).orderBy(asc(schema.auditLog.id)).all(),
    communities: async () => dbOf().select().from(schema.communities).all(),
    blocklistTerms: async () => dbOf().select().from(schema.blocklistTerms).all(),
  };
}

/**
 * Rows of the SQLite file a running bot writes, each read through a read-only connection of its own, opened for the
 * read and closed after it (WAL lets both work; no connection of the test outlives a restart of the bot).
 */
function sqliteFileRows(file: string): StoreRows {
  const eachRead =
    <T>(read: (rows: StoreRows) => Promise<T>) =>
    async (): Promise<T> => {
      const sqlite = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return await read(sqliteRows(() => sqliteDrizzle(sqlite, { schema }) as unknown as Db));
      } finally {
        sqlite.close();
      }
    };
  return {
    jobs: eachRead((rows) => rows.jobs()),
    ledger: eachRead((rows) => rows.ledger()),
    users: eachRead((rows) => rows.users()),
    webhookDeliveries: eachRead((rows) => rows.webhookDeliveries()),
    auditLog: eachRead((rows) => rows.auditLog()),
    communities: eachRead((rows) => rows.communities()),
    blocklistTerms: eachRead((rows) => rows.blocklistTerms()),
  };
}

/** Rows of a PostgreSQL database through a pool of the test's own; `end()` closes it. */
export function postgresRows(url: string): StoreRows & { end(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // pool.end() resolves once its connections are told to close, not once they have: a database dropped with (force)
  // right after can still reach one with "terminating connection", which the pool re-emits as 'error' (and an
  // 'error' nobody listens to ends the test run). Nothing is lost: a query's own error still rejects its promise.
  pool.on('error', () => {});
  const db = drizzle({ client: pool, schema: pgSchema });
  return {
    // The PostgreSQL schema's row types are those of db/schema.ts (src/store/postgres checks that they are equal).
    jobs: async () => (await db.select().from(pgSchema.jobs).orderBy(asc(pgSchema.jobs.createdAt))) as schema.Job[],
    ledger: async () => db.select().from(pgSchema.ledgerEntries).orderBy(asc(pgSchema.ledgerEntries.id)),
    users: async () => db.select().from(pgSchema.users).orderBy(asc(pgSchema.users.id)),
    webhookDeliveries: async () => db.select().from(pgSchema.webhookDeliveries),
    auditLog: async () => db.select().from(pgSchema.auditLog).orderBy(asc(pgSchema.auditLog.id)),
    communities: async () => db.select().from(pgSchema.communities),
    blocklistTerms: async () => db.select().from(pgSchema.blocklistTerms),
    end: () => pool.end(),
  };
}

export interface TestStore {
  readonly store: Store;
  readonly rows: StoreRows;
  /** Closes the store and opens it again on the same data, as a restarted process would. */
  reopen(): Promise<Store>;
  /** Closes the store (if still open) and removes its data. */
  cleanup(): Promise<void>;
}

/** A migrated, empty store of the test's own; SQLite's file goes in `dir`. */
export async function openTestStore(dir: string): Promise<TestStore> {
  if (TEST_STORE === 'postgres') return openPostgresTestStore(await takeDatabase());
  const file = path.join(dir, 'clipbot.db');
  let store = openSqliteStore(file);
  return {
    get store() {
      return store;
    },
    rows: sqliteRows(() => store.drizzle),
    async reopen() {
      if (store.isOpen()) await store.close();
      store = openSqliteStore(file);
      return store;
    },
    async cleanup() {
      if (store.isOpen()) await store.close();
    },
  };
}

/**
 * Databases a closed test store gave back, emptied when taken again: a property test opens a store per run, and
 * emptying one (tens of milliseconds) is far quicker than creating and migrating a new one. Whatever is left at the
 * end of the run is dropped by test/global-setup.ts.
 */
const spareDatabases: TestDatabase[] = [];

async function takeDatabase(): Promise<TestDatabase> {
  const spare = spareDatabases.pop();
  if (!spare) return freshPostgresDatabase();
  await emptyPostgresDatabase(spare.name);
  return spare;
}

/** Where a whole bot (`startClipbot`) keeps its state in a test, and the test's view of its rows. */
export interface BotStore {
  /** Settings that point the bot at it (none for SQLite: its file goes in DATA_DIR). */
  readonly env: Record<string, string>;
  readonly rows: StoreRows;
  /** Storage failing under the running bot: from now on every insert into `table` is refused with `reason`. */
  refuseInserts(table: string, reason: string): Promise<void>;
  /** Gives the store back once the bot has stopped (the PostgreSQL database goes back to the spares). */
  release(): Promise<void>;
}

/** The store for a bot running on `dataDir`: its SQLite file there, or a PostgreSQL database of its own. */
export async function botTestStore(dataDir: string): Promise<BotStore> {
  if (TEST_STORE === 'sqlite') {
    const file = path.join(dataDir, 'clipbot.db');
    return {
      env: {},
      rows: sqliteFileRows(file),
      async refuseInserts(table, reason) {
        const sqlite = new Database(file);
        try {
          sqlite.exec(
            `CREATE TRIGGER ${table}_refused BEFORE INSERT ON ${table} BEGIN SELECT RAISE(ABORT, '${reason}'); END;`,
          );
        } finally {
          sqlite.close();
        }
      },
      release: async () => {},
    };
  }
  const database = await takeDatabase();
  const rows = postgresRows(database.url);
  let released = false;
  // A database with a trigger of the test's is not emptied for the next one, but dropped.
  let altered = false;
  return {
    env: { DATABASE_URL: database.url },
    rows,
    async refuseInserts(table, reason) {
      altered = true;
      await withPostgresClient(database.name, (client) =>
        client.query(
          `CREATE FUNCTION ${table}_refused() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${reason}'; END $$;
           CREATE TRIGGER ${table}_refused BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_refused();`,
        ),
      );
    },
    async release() {
      if (released) return;
      released = true;
      await rows.end();
      if (altered) await database.drop();
      else spareDatabases.push(database);
    },
  };
}

async function openPostgresTestStore(database: TestDatabase): Promise<TestStore> {
  let store: Store = await openPostgresStore(database.url, { max: 4 });
  const rows = postgresRows(database.url);
  let released = false;
  return {
    get store() {
      return store;
    },
    rows,
    async reopen() {
      if (store.isOpen()) await store.close();
      store = await openPostgresStore(database.url, { max: 4 });
      return store;
    },
    async cleanup() {
      if (released) return;
      released = true;
      if (store.isOpen()) await store.close();
      await rows.end();
      spareDatabases.push(database);
    },
  };
}

/**
 * How long a property test (60 runs, each on an emptied store) may take: on PostgreSQL every operation is a round
 * trip, and a busy machine makes that several times slower. A bound on hanging, not a speed requirement.
 */
export const PROPERTY_TIMEOUT_MS = 180_000;

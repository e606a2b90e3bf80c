import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * PostgreSQL for tests: the server on 127.0.0.1:5432 (trust auth), one new database per user of it.
 *
 * When no server answers, tests that need one are skipped, unless `CLIPBOT_REQUIRE_POSTGRES=1` (set by `.ci/run`),
 * where a missing server is a failure: CI must not pass by skipping the PostgreSQL half of the suite.
 */

export const POSTGRES_SERVER = 'postgres://postgres@127.0.0.1:5432';

/** Runs `use` on a connection to `database`, closed afterwards. */
export async function withPostgresClient<T>(database: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${POSTGRES_SERVER}/${database}`, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function serverAnswers(): Promise<boolean> {
  try {
    await withPostgresClient('postgres', (client) => client.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

/** Whether the PostgreSQL tests run here; throws when they must (CLIPBOT_REQUIRE_POSTGRES=1) and cannot. */
export async function postgresAvailable(): Promise<boolean> {
  const answers = await serverAnswers();
  if (!answers && process.env.CLIPBOT_REQUIRE_POSTGRES === '1') {
    throw new Error(`CLIPBOT_REQUIRE_POSTGRES=1 but no PostgreSQL answers at ${POSTGRES_SERVER}`);
  }
  return answers;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

const runPrefix = () => `clipbot_test_${process.env.CLIPBOT_TEST_RUN ?? 'manual'}_`;

/** A new, empty database of the caller's own; `drop()` removes it (closing whatever is still connected). */
export async function freshPostgresDatabase(): Promise<TestDatabase> {
  const name = `${runPrefix()}${randomBytes(6).toString('hex')}`;
  await withPostgresClient('postgres', (client) => client.query(`create database ${name}`));
  return {
    name,
    url: `${POSTGRES_SERVER}/${name}`,
    drop: async () => {
      await withPostgresClient('postgres', (client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/** Empties every table of `database` (DELETE: far faster than TRUNCATE on small tables; foreign keys off meanwhile). */
export async function emptyPostgresDatabase(database: string): Promise<void> {
  await withPostgresClient(database, async (client) => {
    const { rows } = await client.query<{ name: string }>(
      `select quote_ident(tablename) as name from pg_tables where schemaname = 'public'`,
    );
    await client.query(
      `begin; set local session_replication_role = replica; ${rows.map((r) => `delete from ${r.name};`).join(' ')} commit`,
    );
  });
}

/** Drops every database of the test run `run` still there (test/global-setup.ts, at the end of a run). */
export async function dropRunDatabases(run: string): Promise<void> {
  await withPostgresClient('postgres', async (client) => {
    const { rows } = await client.query<{ name: string }>(
      `select datname as name from pg_database where datname like $1`,
      [`clipbot_test_${run}_%`],
    );
    for (const { name } of rows) await client.query(`drop database if exists ${name} with (force)`);
  });
}

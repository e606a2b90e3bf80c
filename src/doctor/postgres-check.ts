import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Config } from '../config.js';
import { describeStore } from '../store/open.js';
import { fail, ok, type CheckResult } from './check.js';

/** The doctor waits this long for PostgreSQL to connect and to answer each query. */
export const POSTGRES_TIMEOUT_MS = 5_000;

// db/pg-migrations sits beside the code in both layouts: src/doctor → db, dist/src/doctor → dist/db.
const JOURNAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../db/pg-migrations/meta/_journal.json');

/**
 * The Database line when DATABASE_URL is set: connects to PostgreSQL and compares the migrations drizzle recorded
 * (`drizzle.__drizzle_migrations`) with the ones this code ships, as the SQLite check does with its file. Nothing
 * is written: a new database gets its schema at the first start. Only `describeStore` names the database, so the
 * password never shows.
 */
export async function checkPostgresDatabase(
  config: Pick<Config, 'dataDir'> & { DATABASE_URL: string },
): Promise<CheckResult> {
  const title = 'Database';
  const name = describeStore(config);
  const client = new pg.Client({
    connectionString: config.DATABASE_URL,
    connectionTimeoutMillis: POSTGRES_TIMEOUT_MS,
    query_timeout: POSTGRES_TIMEOUT_MS,
  });
  // A connection dropped after connecting would otherwise be an unhandled 'error' event.
  client.on('error', () => {});
  try {
    await client.connect();
    const version =
      (await client.query<{ server_version: string }>('show server_version')).rows[0]?.server_version ?? '?';
    const answers = `${name} answers (PostgreSQL ${version.split(' ')[0]})`;
    const applied = await lastAppliedMigration(client);
    const known = shippedMigrations();
    if (applied > (known.at(-1)?.when ?? 0)) {
      return fail(
        title,
        `${name} was migrated by a newer clipbot than this one`,
        'run the newer clipbot, or point DATABASE_URL at a database of this version',
      );
    }
    if (applied === 0) return ok(title, `${answers}; its tables are created at the first start`);
    const pending = known.filter((m) => m.when > applied).length;
    return ok(
      title,
      `${answers}; ${pending ? `${pending} migration(s) to apply at the next start` : 'migrations are current'}`,
    );
  } catch (error) {
    const problem = postgresProblem(error, config.DATABASE_URL);
    return fail(title, `${name}: ${problem.reason}`, problem.fix);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The `when` of the newest migration drizzle applied to this database; 0 when it has none (a new database). */
async function lastAppliedMigration(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ present: boolean }>(
    `select to_regclass('drizzle.__drizzle_migrations') is not null as present`,
  );
  if (!rows[0]?.present) return 0;
  const last = (
    await client.query<{ last: string | null }>('select max(created_at) as last from drizzle.__drizzle_migrations')
  ).rows[0]?.last;
  return Number(last ?? 0);
}

function shippedMigrations(): { when: number; tag: string }[] {
  return (JSON.parse(fs.readFileSync(JOURNAL, 'utf8')) as { entries: { when: number; tag: string }[] }).entries;
}

/**
 * What went wrong talking to PostgreSQL, in words an owner can act on, and the fix. The password in `url` is
 * blanked out of anything quoted from the error (a driver message could one day include the connection string).
 */
export function postgresProblem(error: unknown, url: string): { reason: string; fix: string } {
  const code = String((error as { code?: unknown }).code ?? '');
  const message = withoutPassword((error as Error).message ?? String(error), url);
  const database = new URL(url).pathname.slice(1);
  switch (code) {
    case 'ECONNREFUSED':
      return { reason: 'connection refused', fix: 'start PostgreSQL, or correct the host and port in DATABASE_URL' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { reason: 'host name not found', fix: 'correct the host in DATABASE_URL' };
    case '28P01':
    case '28000':
      return {
        reason: `the login is refused (${message})`,
        fix: 'correct the user and password in DATABASE_URL, or allow this user in pg_hba.conf',
      };
    case '3D000':
      return {
        reason: 'the database does not exist',
        fix: `create it (createdb ${database || '<name>'}), or correct the database name in DATABASE_URL`,
      };
    case '42501':
      return {
        reason: `permission denied (${message})`,
        fix: 'let the DATABASE_URL user create tables in that database (make it the owner)',
      };
  }
  if (/timeout/i.test(message)) {
    return {
      reason: `no answer within ${POSTGRES_TIMEOUT_MS / 1000} s`,
      fix: 'check that PostgreSQL listens at the host and port in DATABASE_URL (listen_addresses, the firewall)',
    };
  }
  return { reason: code ? `${message} (${code})` : message, fix: 'check DATABASE_URL and that PostgreSQL runs' };
}

/** `text` with the password of `url` (as written and decoded) replaced by ***. */
export function withoutPassword(text: string, url: string): string {
  const { password } = new URL(url);
  let result = text;
  for (const secret of new Set([password, decoded(password)])) {
    if (secret) result = result.split(secret).join('***');
  }
  return result;
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import type { Store, StoreTx } from '../../core/store.js';
import { communityRepo, userRepo } from './accounts.js';
import { intakeKeyRepo, webhookDeliveryRepo } from './dedup.js';
import { jobRepo, workerRepo } from './jobs.js';
import { ledgerRepo } from './ledger.js';
import { auditRepo, blocklistRepo, settingsRepo } from './moderation.js';
import { pgNudges } from './nudges.js';
import { quoteRepo } from './quotes.js';
import type { Pg } from './pg.js';
import { reportRepo } from './reports.js';
import { providerHealthRepo } from './provider-health.js';

/**
 * The store on PostgreSQL (design.md §8), for several processes sharing one database. Every operation is one
 * statement; a transaction is SERIALIZABLE and runs again when PostgreSQL gives it up to keep it so (a
 * serialisation failure or a deadlock with another process), a bounded number of times.
 */

export interface PostgresStoreOptions {
  /** Connections in the pool (node-postgres' default: 10). */
  max?: number;
  /** How many times a transaction runs before its serialisation failure is thrown to the caller. */
  maxAttempts?: number;
  /** An idle connection failed (the server restarted): the pool drops it and opens another when needed. */
  onPoolError?: (error: Error) => void;
}

export interface PostgresStore extends Store {
  readonly kind: 'postgres';
}

const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../db/pg-migrations');
/** Any fixed number: the session lock that lets one process at a time migrate a shared database. */
const MIGRATION_LOCK = 7_240_613_001;
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
// Some 6 s of retries on average (each wait is at most 320 ms): a contender whose process is paused (a long GC, a
// starved VM) can keep failing a transaction for seconds, and giving up turns a healthy job into an internal failure.
const DEFAULT_ATTEMPTS = 40;

/** Connects to `url`, brings the schema up to date (one process at a time) and returns the store. */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const pool = new pg.Pool({ connectionString: url, ...(options.max ? { max: options.max } : {}) });
  // Without a listener, an idle connection's error (a server restart) would end the process.
  pool.on('error', (error) => options.onPoolError?.(error));
  try {
    await migrateOnce(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  const db = drizzle({ client: pool });
  const maxAttempts = options.maxAttempts ?? DEFAULT_ATTEMPTS;
  const nudges = pgNudges(pool, url, (error) => options.onPoolError?.(error));
  let closing: Promise<void> | undefined;
  return {
    kind: 'postgres',
    ...reposOf(db),
    nudges,
    transaction: (fn) => serializable(db, fn, maxAttempts),
    isOpen: () => closing === undefined,
    close: () => (closing ??= nudges.close().then(() => pool.end())),
  };
}

async function migrateOnce(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await migrate(drizzle({ client }), { migrationsFolder });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    // A connection that failed may still hold the lock: destroy it rather than hand it back to the pool.
    client.release(broken);
  }
}

function reposOf(db: Pg): Omit<StoreTx, 'transaction'> {
  return {
    jobs: jobRepo(db),
    workers: workerRepo(db),
    ledger: ledgerRepo(db),
    users: userRepo(db),
    communities: communityRepo(db),
    settings: settingsRepo(db),
    blocklist: blocklistRepo(db),
    audit: auditRepo(db),
    intakeKeys: intakeKeyRepo(db),
    webhookDeliveries: webhookDeliveryRepo(db),
    reports: reportRepo(db),
    quotes: quoteRepo(db),
    providerHealth: providerHealthRepo(db),
  };
}

/** The store inside a transaction; a nested `transaction` joins it, as a savepoint (a throw undoes only its writes). */
function txStore(tx: Pg): StoreTx {
  return { ...reposOf(tx), transaction: (fn) => tx.transaction((inner) => fn(txStore(inner))) };
}

async function serializable<T>(db: Pg, fn: (tx: StoreTx) => Promise<T>, maxAttempts: number): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction((tx) => fn(txStore(tx)), { isolationLevel: 'serializable' });
    } catch (error) {
      if (attempt >= maxAttempts || !isRetryable(error)) throw error;
      // Contenders that failed together would collide again: each waits a random, growing while.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * 2 ** Math.min(attempt, 6)));
    }
  }
}

/** A serialisation failure or deadlock, as PostgreSQL reports it (drizzle wraps it in a DrizzleQueryError's cause). */
function isRetryable(error: unknown): boolean {
  for (let e = error; e instanceof Object; e = (e as { cause?: unknown }).cause) {
    if (RETRYABLE.has(String((e as { code?: unknown }).code))) return true;
  }
  return false;
}

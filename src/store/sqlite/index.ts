import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { closeDb, openDb, type Db } from '../../../db/client.js';
import type { Logger } from '../../core/ports.js';
import type { Store, StoreTx } from '../../core/store.js';
import { sqliteAudit, sqliteBlocklist, sqliteCommunities, sqliteSettings, sqliteUsers } from './accounts.js';
import { sqliteJobs, sqliteWorkers } from './jobs.js';
import { sqliteIntakeKeys, sqliteWebhookDeliveries } from './keys.js';
import { sqliteLedger } from './ledger.js';
import { sqliteQuotes } from './quotes.js';
import { sqliteReports } from './reports.js';
import { sqliteProviderHealth } from './provider-health.js';

export interface SqliteStore extends Store {
  readonly kind: 'sqlite';
  /** The drizzle handle, for what only SQLite has (online backups) and for tests that read rows directly. */
  readonly drizzle: Db;
}

/**
 * The embedded default store: one better-sqlite3 connection (`DATA_DIR/clipbot.db`, WAL). Each operation runs
 * synchronously, so it is atomic on its own. A transaction spans awaits, and on one connection every statement
 * would join whatever transaction is open; so while one runs, operations from outside it wait (the writer gate),
 * and those made from inside it (recognised by their async context) go straight through.
 */
export function openSqliteStore(file: string, logger?: Logger): SqliteStore {
  const db = openDb(file, {
    backgroundCheckpoints: {
      onFailure: (error) =>
        logger?.warn({ err: error }, 'the WAL checkpoint thread stopped; SQLite checkpoints on its own again'),
    },
  });
  const gate = new WriterGate();
  const begin = db.$client.prepare('BEGIN IMMEDIATE');
  const commit = db.$client.prepare('COMMIT');
  const rollback = db.$client.prepare('ROLLBACK');

  const repos = {
    jobs: gated(sqliteJobs(db), gate),
    workers: gated(sqliteWorkers(db), gate),
    ledger: gated(sqliteLedger(db), gate),
    users: gated(sqliteUsers(db), gate),
    communities: gated(sqliteCommunities(db), gate),
    settings: gated(sqliteSettings(db), gate),
    blocklist: gated(sqliteBlocklist(db), gate),
    audit: gated(sqliteAudit(db), gate),
    intakeKeys: gated(sqliteIntakeKeys(db), gate),
    webhookDeliveries: gated(sqliteWebhookDeliveries(db), gate),
    reports: gated(sqliteReports(db), gate),
    quotes: gated(sqliteQuotes(db), gate),
    providerHealth: gated(sqliteProviderHealth(db), gate),
  };

  const inTransaction = async <T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> => {
    begin.run();
    try {
      const result = await fn(store);
      commit.run();
      return result;
    } catch (error) {
      if (db.$client.inTransaction) rollback.run();
      throw error;
    }
  };
  // One process per SQLite file: a nudge only ever has this process to reach.
  const nudged = new EventEmitter().setMaxListeners(0);
  const store: SqliteStore = {
    kind: 'sqlite',
    drizzle: db,
    nudges: {
      async publish(jobId) {
        nudged.emit('nudge', jobId);
      },
      async subscribe(handler) {
        nudged.on('nudge', handler);
        return async () => void nudged.off('nudge', handler);
      },
    },
    ...repos,
    // The store serves as its own transaction: inside `fn`, its operations pass the gate and join the transaction.
    transaction: <T>(fn: (tx: StoreTx) => Promise<T>) =>
      gate.insideOpen ? fn(store) : gate.exclusive(() => inTransaction(fn)),
    isOpen: () => db.$client.open,
    async close() {
      await gate.pass(async () => undefined);
      await closeDb(db);
    },
  };
  return store;
}

/** Holds operations back while a transaction from another async context is open. */
class WriterGate {
  private open: { done: Promise<void> } | undefined;
  private readonly context = new AsyncLocalStorage<object>();

  /** Whether the caller runs inside the open transaction (its async context began there). */
  get insideOpen(): boolean {
    return this.open !== undefined && this.context.getStore() === this.open;
  }

  /**
   * Runs `operation` once no transaction from another context is open. The check and the call happen in the same
   * tick (an operation's statement runs synchronously), so nothing can open a transaction in between.
   */
  pass<T>(operation: () => Promise<T>): Promise<T> {
    // The usual case (no transaction open, or the caller is inside it) calls straight through: an async wrapper here
    // cost intake two more promise hops per statement, about twenty statements each.
    if (this.open && !this.insideOpen) return this.waitThenPass(operation);
    try {
      return operation();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  private async waitThenPass<T>(operation: () => Promise<T>): Promise<T> {
    while (this.open && !this.insideOpen) await this.open.done;
    return operation();
  }

  /** Runs `fn` as the only transaction, once the open one (if any) has ended. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.open) await this.open.done;
    let finish!: () => void;
    const token = { done: new Promise<void>((resolve) => (finish = resolve)) };
    this.open = token;
    try {
      return await this.context.run(token, fn);
    } finally {
      this.open = undefined;
      // While a storage is enabled (Node 20), every promise the process makes carries async ids: ~700 bytes of live
      // heap per job in flight (heap snapshots at 4,000), and garbage on every await. Only a transaction needs the
      // context, so tracking is off between transactions (the next `run` turns it on again).
      this.context.disable();
      finish();
    }
  }
}

/** The repo with every operation passing the gate first (the usual case: no transaction open, no wait). */
function gated<R extends object>(repo: R, gate: WriterGate): R {
  const wrapped: Record<string, unknown> = {};
  for (const [name, operation] of Object.entries(repo) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = (...args: unknown[]) => gate.pass(() => operation(...args));
  }
  return wrapped as R;
}

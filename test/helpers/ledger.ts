import { eq } from 'drizzle-orm';
import { expect } from 'vitest';
import type { Db } from '../../db/client.js';
import { jobs, ledgerEntries, users, type Job } from '../../db/schema.js';
import type { SqliteStore } from '../../src/store/sqlite/index.js';

/**
 * The ledger's promises (design.md §4) as assertions, for any test that owns a database: each job has exactly one
 * hold of its price and, once final, exactly one settlement (a capture on success, a release of the whole price
 * otherwise); no balance is below zero. (A moderator's refund of a finished job is a grant of its own, not a settlement.)
 * They read raw entries, which the store port does not expose, so they take a SQLite store or a drizzle handle
 * (a bot's database read through `readBotDb`).
 */
export type LedgerRows = SqliteStore | Db;

const drizzleOf = (db: LedgerRows): Db => ('drizzle' in db ? db.drizzle : db);

/** One job's entries: one hold, and one settlement if and only if the job is final. */
export function expectJobLedger(db: LedgerRows, job: Job): void {
  const entries = drizzleOf(db).select().from(ledgerEntries).where(eq(ledgerEntries.jobId, job.id)).all();
  const holds = entries.filter((e) => e.kind === 'hold').map((e) => e.amount);
  const settled = entries.filter((e) => e.kind === 'capture' || e.kind === 'release').map((e) => [e.kind, e.amount]);
  expect(holds, `holds of ${job.id}`).toEqual([-job.price]);
  if (job.status === 'succeeded') expect(settled, `settlement of ${job.id}`).toEqual([['capture', 0]]);
  else if (job.status === 'failed' || job.status === 'cancelled') expect(settled, `settlement of ${job.id}`).toEqual([['release', job.price]]);
  else expect(settled, `settlement of unfinished ${job.id}`).toEqual([]);
}

/** Every job's entries as above, and every balance (the sum of the user's entries) at zero or more. */
export function expectLedgerBalanced(db: LedgerRows): void {
  const rows = drizzleOf(db);
  for (const job of rows.select().from(jobs).all()) expectJobLedger(db, job);
  const balances = new Map<number, number>();
  for (const entry of rows.select().from(ledgerEntries).all()) balances.set(entry.userId, (balances.get(entry.userId) ?? 0) + entry.amount);
  for (const user of rows.select().from(users).all()) expect(balances.get(user.id) ?? 0, `balance of user ${user.id}`).toBeGreaterThanOrEqual(0);
}

import { eq } from 'drizzle-orm';
import { expect } from 'vitest';
import type { DbLike } from '../../db/client.js';
import { jobs, ledgerEntries, users, type Job } from '../../db/schema.js';
import { balanceOf } from '../../src/core/credits/ledger.js';

/**
 * The ledger's promises (design.md §4) as assertions, for any test that owns a database: each job has exactly one
 * hold of its price and, once final, exactly one settlement (a capture on success, a release of the whole price
 * otherwise); no balance is below zero. (A moderator's refund of a finished job is a grant of its own, not a settlement.)
 */

/** One job's entries: one hold, and one settlement if and only if the job is final. */
export function expectJobLedger(db: DbLike, job: Job): void {
  const entries = db.select().from(ledgerEntries).where(eq(ledgerEntries.jobId, job.id)).all();
  const holds = entries.filter((e) => e.kind === 'hold').map((e) => e.amount);
  const settled = entries.filter((e) => e.kind === 'capture' || e.kind === 'release').map((e) => [e.kind, e.amount]);
  expect(holds, `holds of ${job.id}`).toEqual([-job.price]);
  if (job.status === 'succeeded') expect(settled, `settlement of ${job.id}`).toEqual([['capture', 0]]);
  else if (job.status === 'failed' || job.status === 'cancelled') expect(settled, `settlement of ${job.id}`).toEqual([['release', job.price]]);
  else expect(settled, `settlement of unfinished ${job.id}`).toEqual([]);
}

/** Every job's entries as above, and every balance at zero or more. */
export function expectLedgerBalanced(db: DbLike): void {
  for (const job of db.select().from(jobs).all()) expectJobLedger(db, job);
  for (const user of db.select().from(users).all()) expect(balanceOf(db, user.id), `balance of user ${user.id}`).toBeGreaterThanOrEqual(0);
}

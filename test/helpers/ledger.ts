import { expect } from 'vitest';
import type { Db } from '../../db/client.js';
import { jobs, ledgerEntries, users, type Job, type LedgerEntry, type User } from '../../db/schema.js';
import type { StoreRows } from './test-store.js';

/**
 * The ledger's promises (design.md §4) as assertions, for any test that owns a database: each job has exactly one
 * hold of its price and, once final, exactly one settlement (a capture on success, a release of the whole price
 * otherwise); every purchase credits a positive amount under its own payment id, no payment is credited twice, and
 * no other entry carries a payment id as a purchase would; a purchase refund names a purchase of the same member and
 * takes back at most its credits, once per payment (so a member's purchases minus their refunds is what they kept
 * of what they bought); no balance is below zero. (A moderator's refund of a finished job is a grant of its own, not a settlement.)
 * They read raw entries, which the store port does not expose: a test store's rows, or a drizzle handle on a bot's
 * SQLite file (`readBotDb`, read at once, before the handle closes).
 */

interface LedgerSnapshot {
  jobs: Job[];
  ledger: LedgerEntry[];
  users: User[];
}

/** One job's entries: one hold, and one settlement if and only if the job is final. */
function checkJob(entries: LedgerEntry[], job: Job): void {
  const mine = entries.filter((e) => e.jobId === job.id);
  const holds = mine.filter((e) => e.kind === 'hold').map((e) => e.amount);
  const settled = mine.filter((e) => e.kind === 'capture' || e.kind === 'release').map((e) => [e.kind, e.amount]);
  expect(holds, `holds of ${job.id}`).toEqual([-job.price]);
  if (job.status === 'succeeded') expect(settled, `settlement of ${job.id}`).toEqual([['capture', 0]]);
  else if (job.status === 'failed' || job.status === 'cancelled')
    expect(settled, `settlement of ${job.id}`).toEqual([['release', job.price]]);
  else expect(settled, `settlement of unfinished ${job.id}`).toEqual([]);
}

/** Purchases (design.md §4): created credits, each keyed by the platform's payment id, credited once. */
function checkPurchases(entries: LedgerEntry[]): void {
  const purchases = entries.filter((e) => e.kind === 'purchase');
  for (const p of purchases) {
    expect(p.paymentId, `payment id of purchase entry ${p.id}`).toMatch(/^(telegram|discord):.+/);
    expect(p.amount, `amount of purchase ${p.paymentId}`).toBeGreaterThan(0);
    expect(p.jobId, `job of purchase ${p.paymentId}`).toBeNull();
  }
  const ids = purchases.map((p) => p.paymentId);
  expect(ids, 'each payment credited once').toEqual([...new Set(ids)]);
  const stray = entries.filter(
    (e) => e.paymentId !== null && e.kind !== 'purchase' && e.kind !== 'purchase_refund' && e.kind !== 'refund',
  );
  expect(
    stray.map((e) => e.kind),
    'payment ids only on purchases (and refunds of them)',
  ).toEqual([]);
  // Purchases minus refunds: each refund takes back 0..the purchase's credits from the member who bought them, once.
  const refunds = entries.filter((e) => e.kind === 'purchase_refund');
  const refunded = refunds.map((r) => r.paymentId);
  expect(refunded, 'each payment refunded at most once').toEqual([...new Set(refunded)]);
  for (const r of refunds) {
    const purchase = purchases.find((p) => p.paymentId === r.paymentId);
    expect(purchase, `purchase of refund ${r.paymentId}`).toBeDefined();
    expect(r.userId, `member of refund ${r.paymentId}`).toBe(purchase!.userId);
    expect(r.amount, `refund ${r.paymentId} takes back no more than bought`).toBeGreaterThanOrEqual(-purchase!.amount);
    expect(r.amount, `refund ${r.paymentId} never gives credits`).toBeLessThanOrEqual(0);
    // A Telegram refund is an owner's act; a Discord one is Discord's (it deleted the entitlement), with no actor.
    if (r.paymentId!.startsWith('telegram:')) expect(r.actorUserId, `actor of refund ${r.paymentId}`).not.toBeNull();
    expect(r.jobId, `job of refund ${r.paymentId}`).toBeNull();
  }
}

/** Every job's entries as above, purchases as above, and every balance (the sum of the user's entries) at zero or more. */
function checkLedger({ jobs: allJobs, ledger, users: allUsers }: LedgerSnapshot): void {
  for (const job of allJobs) checkJob(ledger, job);
  checkPurchases(ledger);
  const balances = new Map<number, number>();
  for (const entry of ledger) balances.set(entry.userId, (balances.get(entry.userId) ?? 0) + entry.amount);
  for (const user of allUsers)
    expect(balances.get(user.id) ?? 0, `balance of user ${user.id}`).toBeGreaterThanOrEqual(0);
}

export async function expectJobLedger(rows: StoreRows, job: Job): Promise<void> {
  checkJob(await rows.ledger(), job);
}

export async function expectLedgerBalanced(rows: StoreRows): Promise<void> {
  const [allJobs, ledger, allUsers] = await Promise.all([rows.jobs(), rows.ledger(), rows.users()]);
  checkLedger({ jobs: allJobs, ledger, users: allUsers });
}

/** expectLedgerBalanced on a SQLite handle, synchronously (a bot's file read through `readBotDb`). */
export function expectLedgerBalancedIn(db: Db): void {
  checkLedger({
    jobs: db.select().from(jobs).all(),
    ledger: db.select().from(ledgerEntries).all(),
    users: db.select().from(users).all(),
  });
}

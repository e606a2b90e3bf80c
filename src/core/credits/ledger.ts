import type { LedgerEntryRow, StoreTx } from '../store.js';
import { UserError } from '../errors.js';
import type { Clock } from '../ports.js';

/**
 * The credit ledger (design.md §4). Append-only: a balance is the sum of a user's entries.
 * - hold: debits a job's price at intake (one per job, enforced by a unique index);
 * - capture (amount 0) or release (+price): the hold's one settlement (also a unique index);
 * - grant / deduct: moderator actions with actor and reason; a deduct never takes the balance below zero;
 * - starting / daily: the economy's own grants (the daily allowance tops the balance up once per UTC day);
 * - purchase: credits a member paid for, keyed by the platform's payment id (unique), so credited once;
 * - purchase_refund: an owner refunded a purchase (or Discord did, deleting its entitlement: no actor): takes back what
 *   is left of its credits (never below zero), keyed by the same payment id (unique among purchase refunds), so
 *   refunded once.
 * Every function takes the caller's transaction: money moves in the same transaction as the job it belongs to.
 * Those that read a balance and then write run in a transaction of their own too (joining the caller's), so the
 * balance they checked is still the balance when they write.
 */

export interface LedgerSettings {
  freeDailyCredits: number;
}

export async function balanceOf(db: StoreTx, userId: number): Promise<number> {
  return db.ledger.balanceOf(userId);
}

/** Credits held by the user's unsettled jobs (already excluded from the balance). */
export async function heldOf(db: StoreTx, userId: number): Promise<number> {
  return db.ledger.heldOf(userId);
}

async function append(db: StoreTx, clock: Clock, entry: Omit<LedgerEntryRow, 'createdAt'>): Promise<void> {
  await db.ledger.append({ ...entry, createdAt: clock.now() });
}

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Tops the balance up to the free daily allowance, at most once per UTC day. Written as a ledger entry
 * (unique per user and day), so the allowance can never drift from the balance it feeds.
 * Credits held by unfinished jobs still belong to the member (a cancel gives them back), so they count:
 * otherwise jobs kept queued over midnight and cancelled afterwards stack the allowance day after day.
 */
export async function applyDailyAllowance(
  db: StoreTx,
  clock: Clock,
  userId: number,
  settings: LedgerSettings,
): Promise<number> {
  if (settings.freeDailyCredits <= 0) return 0;
  return db.transaction(async (tx) => {
    const owned = (await tx.ledger.balanceOf(userId)) + (await tx.ledger.heldOf(userId));
    const topUp = Math.max(0, settings.freeDailyCredits - owned);
    const now = clock.now();
    const written = await tx.ledger.appendOnce({
      userId,
      kind: 'daily',
      amount: topUp,
      day: utcDay(now),
      reason: 'free daily allowance',
      createdAt: now,
    });
    return written ? topUp : 0;
  });
}

/** Throws `UserError('insufficient_credits')` when the user's balance cannot cover a video's price. */
export async function assertCanPay(db: StoreTx, userId: number, price: number): Promise<void> {
  const balance = await balanceOf(db, userId);
  if (balance < price)
    throw new UserError('insufficient_credits', `This video costs ${price} credits and you have ${balance}.`, {
      price,
      balance,
    });
}

/**
 * Debits the job's price, inside the caller's transaction (intake's), which fails whole if this throws: no nested
 * transaction of its own, which on PostgreSQL would be a savepoint and its release for nothing more to undo.
 * Throws `UserError('insufficient_credits')` when the balance cannot cover it.
 */
export async function holdCredits(
  tx: StoreTx,
  clock: Clock,
  userId: number,
  jobId: string,
  amount: number,
): Promise<void> {
  if (!Number.isInteger(amount) || amount < 0) throw new Error(`invalid hold amount ${amount}`);
  await assertCanPay(tx, userId, amount);
  await append(tx, clock, { userId, kind: 'hold', amount: -amount, jobId });
}

// A job's second settlement is a no-op (unique index), which is what makes settling idempotent.
async function settle(
  db: StoreTx,
  clock: Clock,
  jobId: string,
  kind: 'capture' | 'release',
  reason?: string,
): Promise<boolean> {
  const hold = await db.ledger.holdOf(jobId);
  if (!hold) return false;
  const amount = kind === 'capture' ? 0 : -hold.amount;
  return db.ledger.appendOnce({
    userId: hold.userId,
    kind,
    amount,
    jobId,
    reason: reason ?? null,
    createdAt: clock.now(),
  });
}

/** Marks the job's hold as spent. Idempotent: false if it was already settled (or there is none). */
export async function captureHold(db: StoreTx, clock: Clock, jobId: string): Promise<boolean> {
  return settle(db, clock, jobId, 'capture');
}

/** Gives the job's hold back. Idempotent: false if it was already settled (or there is none). */
export async function releaseHold(db: StoreTx, clock: Clock, jobId: string, reason: string): Promise<boolean> {
  return settle(db, clock, jobId, 'release', reason);
}

function assertPositiveAmount(amount: number): void {
  if (!Number.isInteger(amount) || amount <= 0)
    throw new UserError('bad_amount', 'The amount must be a positive whole number.');
}

export async function grantCredits(
  db: StoreTx,
  clock: Clock,
  entry: { userId: number; amount: number; actorUserId: number; reason: string; kind?: 'grant' | 'starting' },
): Promise<void> {
  assertPositiveAmount(entry.amount);
  const { userId, amount, actorUserId, reason, kind = 'grant' } = entry;
  await append(db, clock, { userId, kind, amount, actorUserId, reason });
}

/**
 * Moves credits between two accounts (a community budget to a member): two entries of kind `transfer`, written in
 * one transaction, so the credits exist in exactly one place at every moment. Creates nothing.
 */
export async function transferCredits(
  db: StoreTx,
  clock: Clock,
  entry: { fromUserId: number; toUserId: number; amount: number; actorUserId: number; reason: string },
): Promise<void> {
  assertPositiveAmount(entry.amount);
  const { amount, actorUserId, reason } = entry;
  await db.transaction(async (tx) => {
    const available = await balanceOf(tx, entry.fromUserId);
    if (amount > available)
      throw new UserError('deduct_too_much', `Only ${available} credits are there to move.`, { balance: available });
    await append(tx, clock, { userId: entry.fromUserId, kind: 'transfer', amount: -amount, actorUserId, reason });
    await append(tx, clock, { userId: entry.toUserId, kind: 'transfer', amount, actorUserId, reason });
  });
}

/** Takes credits away; refuses to take more than the user has (a balance is never negative). */
export async function deductCredits(
  db: StoreTx,
  clock: Clock,
  entry: { userId: number; amount: number; actorUserId: number; reason: string },
): Promise<void> {
  assertPositiveAmount(entry.amount);
  const { userId, amount, actorUserId, reason } = entry;
  await db.transaction(async (tx) => {
    const balance = await balanceOf(tx, userId);
    if (amount > balance) throw new UserError('deduct_too_much', `That user has only ${balance} credits.`, { balance });
    await append(tx, clock, { userId, kind: 'deduct', amount: -amount, actorUserId, reason });
  });
}

/**
 * Credits a member's purchase once per payment: `paymentId` (the platform's own id, namespaced, such as
 * `telegram:<telegram_payment_charge_id>`) is unique among purchases, so a payment delivered twice, or handled by two
 * processes at once, writes one entry. Returns false when this payment was credited before. A purchase creates
 * credits, as an owner's grant does: the member paid the platform for them.
 */
export async function creditPurchase(
  db: StoreTx,
  clock: Clock,
  entry: { userId: number; amount: number; paymentId: string; reason: string },
): Promise<boolean> {
  if (!Number.isInteger(entry.amount) || entry.amount <= 0) throw new Error(`invalid purchase amount ${entry.amount}`);
  if (!entry.paymentId) throw new Error('a purchase needs its payment id');
  const { userId, amount, paymentId, reason } = entry;
  return db.ledger.appendOnce({ userId, kind: 'purchase', amount, paymentId, reason, createdAt: clock.now() });
}

/**
 * Records the refund of a purchase whose payment the platform has already refunded (an owner's, or Discord's own,
 * when `actorUserId` is null: Discord deleted the entitlement): takes back `amount` of its
 * credits, or what the balance holds if that is less (a balance is never negative), in one entry keyed by the
 * payment id (unique among purchase refunds: a second refund of the same payment writes nothing and returns
 * `written: false`). Returns what was taken and the balance after.
 */
export async function recordPurchaseRefund(
  db: StoreTx,
  clock: Clock,
  entry: { userId: number; amount: number; paymentId: string; actorUserId: number | null; reason: string },
): Promise<{ written: boolean; taken: number; balance: number }> {
  if (!Number.isInteger(entry.amount) || entry.amount <= 0)
    throw new Error(`invalid purchase refund amount ${entry.amount}`);
  if (!entry.paymentId) throw new Error('a purchase refund needs its payment id');
  const { userId, amount, paymentId, actorUserId, reason } = entry;
  return db.transaction(async (tx) => {
    const before = await tx.ledger.balanceOf(userId);
    const taken = Math.min(amount, Math.max(0, before));
    const written = await tx.ledger.appendOnce({
      userId,
      kind: 'purchase_refund',
      amount: -taken,
      paymentId,
      actorUserId,
      reason,
      createdAt: clock.now(),
    });
    return { written, taken: written ? taken : 0, balance: await tx.ledger.balanceOf(userId) };
  });
}

/**
 * Recovery safety net: a final job whose hold was never settled gets settled now (captured if it
 * succeeded, released otherwise). Final moves settle in the same transaction, so this finds nothing
 * unless the data was written by something else; it runs at every start-up all the same.
 */
export async function settleOrphanedHolds(db: StoreTx, clock: Clock): Promise<number> {
  const orphans = await db.ledger.orphanedHolds();
  for (const job of orphans) {
    if (job.status === 'succeeded') await captureHold(db, clock, job.id);
    else await releaseHold(db, clock, job.id, `${job.status}: settled on recovery`);
  }
  return orphans.length;
}

/** Credits held by unfinished jobs, captured by succeeded ones, and released (refunded): for /metrics. */
export async function creditTotals(db: StoreTx): Promise<{ held: number; captured: number; released: number }> {
  return db.ledger.totals();
}

import { and, eq, inArray, sql } from 'drizzle-orm';
import { preparedPerDb, type DbLike } from '../../../db/client.js';
import { jobs, ledgerEntries, type LedgerKind } from '../../../db/schema.js';
import { UserError } from '../errors.js';
import type { Clock } from '../ports.js';

/**
 * The credit ledger (design.md §4). Append-only: a balance is the sum of a user's entries.
 * - hold: debits a job's price at intake (one per job, enforced by a unique index);
 * - capture (amount 0) or release (+price): the hold's one settlement (also a unique index);
 * - grant / deduct: moderator actions with actor and reason; a deduct never takes the balance below zero;
 * - starting / daily: the economy's own grants (the daily allowance tops the balance up once per UTC day).
 * Every function takes the caller's transaction: money moves in the same transaction as the job it belongs to.
 */

export interface LedgerSettings {
  freeDailyCredits: number;
}

const balanceQuery = preparedPerDb((db) =>
  db
    .select({ total: sql<number>`coalesce(sum(${ledgerEntries.amount}), 0)` })
    .from(ledgerEntries)
    .where(eq(ledgerEntries.userId, sql.placeholder('userId')))
    .prepare(),
);

export function balanceOf(db: DbLike, userId: number): number {
  return balanceQuery(db).get({ userId })?.total ?? 0;
}

/** Credits held by the user's unsettled jobs (already excluded from the balance). */
export function heldOf(db: DbLike, userId: number): number {
  const row = db
    .select({ total: sql<number>`coalesce(sum(-${ledgerEntries.amount}), 0)` })
    .from(ledgerEntries)
    .where(
      and(
        eq(ledgerEntries.userId, userId),
        eq(ledgerEntries.kind, 'hold'),
        sql`not exists (select 1 from ${ledgerEntries} s where s.job_id = ${ledgerEntries.jobId} and s.kind in ('capture', 'release'))`,
      ),
    )
    .get();
  return row?.total ?? 0;
}

/** Every column of an entry as a placeholder: ledger writes are prepared once (see preparedPerDb). */
const ENTRY = {
  userId: sql.placeholder('userId'),
  kind: sql.placeholder('kind'),
  amount: sql.placeholder('amount'),
  jobId: sql.placeholder('jobId'),
  actorUserId: sql.placeholder('actorUserId'),
  reason: sql.placeholder('reason'),
  day: sql.placeholder('day'),
  createdAt: sql.placeholder('createdAt'),
};
const insertEntry = preparedPerDb((db) => db.insert(ledgerEntries).values(ENTRY).prepare());

function append(
  db: DbLike,
  clock: Clock,
  entry: { userId: number; kind: LedgerKind; amount: number; jobId?: string; actorUserId?: number; reason?: string; day?: string },
): void {
  const { userId, kind, amount, jobId = null, actorUserId = null, reason = null, day = null } = entry;
  insertEntry(db).run({ userId, kind, amount, jobId, actorUserId, reason, day, createdAt: clock.now() });
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
export function applyDailyAllowance(db: DbLike, clock: Clock, userId: number, settings: LedgerSettings): number {
  if (settings.freeDailyCredits <= 0) return 0;
  const day = utcDay(clock.now());
  const topUp = Math.max(0, settings.freeDailyCredits - balanceOf(db, userId) - heldOf(db, userId));
  const inserted = db
    .insert(ledgerEntries)
    .values({ userId, kind: 'daily', amount: topUp, day, reason: 'free daily allowance', createdAt: clock.now() })
    .onConflictDoNothing()
    .run();
  return inserted.changes > 0 ? topUp : 0;
}

/** Throws `UserError('insufficient_credits')` when the user's balance cannot cover a video's price. */
export function assertCanPay(db: DbLike, userId: number, price: number): void {
  const balance = balanceOf(db, userId);
  if (balance < price) throw new UserError('insufficient_credits', `This video costs ${price} credits and you have ${balance}.`, { price, balance });
}

/** Debits the job's price. Throws `UserError('insufficient_credits')` when the balance cannot cover it. */
export function holdCredits(db: DbLike, clock: Clock, userId: number, jobId: string, amount: number): void {
  if (!Number.isInteger(amount) || amount < 0) throw new Error(`invalid hold amount ${amount}`);
  assertCanPay(db, userId, amount);
  append(db, clock, { userId, kind: 'hold', amount: -amount, jobId });
}

const holdOfJob = preparedPerDb((db) =>
  db
    .select({ userId: ledgerEntries.userId, amount: ledgerEntries.amount })
    .from(ledgerEntries)
    .where(and(eq(ledgerEntries.jobId, sql.placeholder('jobId')), eq(ledgerEntries.kind, 'hold')))
    .prepare(),
);
// A job's second settlement is a no-op (unique index), which is what makes settling idempotent.
const insertSettlement = preparedPerDb((db) => db.insert(ledgerEntries).values(ENTRY).onConflictDoNothing().prepare());

function settle(db: DbLike, clock: Clock, jobId: string, kind: 'capture' | 'release', reason?: string): boolean {
  const hold = holdOfJob(db).get({ jobId });
  if (!hold) return false;
  const amount = kind === 'capture' ? 0 : -hold.amount;
  const result = insertSettlement(db).run({ userId: hold.userId, kind, amount, jobId, actorUserId: null, reason: reason ?? null, day: null, createdAt: clock.now() });
  return result.changes > 0;
}

/** Marks the job's hold as spent. Idempotent: false if it was already settled (or there is none). */
export function captureHold(db: DbLike, clock: Clock, jobId: string): boolean {
  return settle(db, clock, jobId, 'capture');
}

/** Gives the job's hold back. Idempotent: false if it was already settled (or there is none). */
export function releaseHold(db: DbLike, clock: Clock, jobId: string, reason: string): boolean {
  return settle(db, clock, jobId, 'release', reason);
}

export function grantCredits(
  db: DbLike,
  clock: Clock,
  entry: { userId: number; amount: number; actorUserId: number; reason: string; kind?: 'grant' | 'starting' },
): void {
  if (!Number.isInteger(entry.amount) || entry.amount <= 0) throw new UserError('bad_amount', 'The amount must be a positive whole number.');
  append(db, clock, { ...entry, kind: entry.kind ?? 'grant' });
}

/**
 * Moves credits between two accounts (a community budget to a member): two entries of kind `transfer`, written in
 * the caller's transaction, so the credits exist in exactly one place at every moment. Creates nothing.
 */
export function transferCredits(
  db: DbLike,
  clock: Clock,
  entry: { fromUserId: number; toUserId: number; amount: number; actorUserId: number; reason: string },
): void {
  if (!Number.isInteger(entry.amount) || entry.amount <= 0) throw new UserError('bad_amount', 'The amount must be a positive whole number.');
  const available = balanceOf(db, entry.fromUserId);
  if (entry.amount > available) throw new UserError('deduct_too_much', `Only ${available} credits are there to move.`, { balance: available });
  const { actorUserId, reason } = entry;
  append(db, clock, { userId: entry.fromUserId, kind: 'transfer', amount: -entry.amount, actorUserId, reason });
  append(db, clock, { userId: entry.toUserId, kind: 'transfer', amount: entry.amount, actorUserId, reason });
}

/** Takes credits away; refuses to take more than the user has (a balance is never negative). */
export function deductCredits(
  db: DbLike,
  clock: Clock,
  entry: { userId: number; amount: number; actorUserId: number; reason: string },
): void {
  if (!Number.isInteger(entry.amount) || entry.amount <= 0) throw new UserError('bad_amount', 'The amount must be a positive whole number.');
  const balance = balanceOf(db, entry.userId);
  if (entry.amount > balance) {
    throw new UserError('deduct_too_much', `That user has only ${balance} credits.`, { balance });
  }
  append(db, clock, { ...entry, kind: 'deduct', amount: -entry.amount });
}

/**
 * Recovery safety net: a final job whose hold was never settled gets settled now (captured if it
 * succeeded, released otherwise). Final moves settle in the same transaction, so this finds nothing
 * unless the data was written by something else; it runs at every start-up all the same.
 */
export function settleOrphanedHolds(db: DbLike, clock: Clock): number {
  const orphans = db
    .select({ id: jobs.id, status: jobs.status })
    .from(jobs)
    .innerJoin(ledgerEntries, and(eq(ledgerEntries.jobId, jobs.id), eq(ledgerEntries.kind, 'hold')))
    .where(
      and(
        inArray(jobs.status, ['succeeded', 'failed', 'cancelled']),
        sql`not exists (select 1 from ${ledgerEntries} s where s.job_id = ${jobs.id} and s.kind in ('capture', 'release'))`,
      ),
    )
    .all();
  for (const job of orphans) {
    if (job.status === 'succeeded') captureHold(db, clock, job.id);
    else releaseHold(db, clock, job.id, `${job.status}: settled on recovery`);
  }
  return orphans.length;
}

/** Credits held by unfinished jobs, captured by succeeded ones, and released (refunded): for /metrics. */
export function creditTotals(db: DbLike): { held: number; captured: number; released: number } {
  const held =
    db
      .select({ n: sql<number>`coalesce(sum(-${ledgerEntries.amount}), 0)` })
      .from(ledgerEntries)
      .where(sql`${ledgerEntries.kind} = 'hold' and not exists (select 1 from ledger_entries s where s.job_id = ${ledgerEntries.jobId} and s.kind in ('capture', 'release'))`)
      .get()?.n ?? 0;
  const captured =
    db
      .select({ n: sql<number>`coalesce(sum(-h.amount), 0)` })
      .from(ledgerEntries)
      .innerJoin(sql`ledger_entries h`, sql`h.job_id = ${ledgerEntries.jobId} and h.kind = 'hold'`)
      .where(sql`${ledgerEntries.kind} = 'capture'`)
      .get()?.n ?? 0;
  const released =
    db
      .select({ n: sql<number>`coalesce(sum(${ledgerEntries.amount}), 0)` })
      .from(ledgerEntries)
      .where(sql`${ledgerEntries.kind} = 'release'`)
      .get()?.n ?? 0;
  return { held, captured, released };
}

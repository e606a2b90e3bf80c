import { and, count, desc, eq, gte, sql } from 'drizzle-orm';
import type { Db, DbLike } from '../../db/client.js';
import { auditLog, blocklistTerms, jobs, ledgerEntries, users, type User } from '../../db/schema.js';
import { balanceOf, deductCredits, grantCredits, heldOf } from './credits/ledger.js';
import { UserError } from './errors.js';
import { normalizeBlocklistTerm } from './moderation/normalize.js';
import type { Clock, PlatformId } from './ports.js';
import { describeUser, ensureUser, findUser, parseUserRef, type Identity } from './users.js';

/**
 * Moderator and owner actions. Each one is a single transaction that does the change and writes the
 * audit row, so there is never a change without its record (who, to whom, how much, why).
 */

export interface AdminContext {
  db: Db;
  clock: Clock;
  actor: User;
  startingCredits: number;
}

function audit(ctx: AdminContext, tx: DbLike, action: string, target: User | undefined, detail: Record<string, unknown>, jobId?: string): void {
  tx.insert(auditLog)
    .values({
      actorUserId: ctx.actor.id,
      action,
      targetUserId: target?.id ?? null,
      jobId: jobId ?? null,
      detail: JSON.stringify(detail),
      createdAt: ctx.clock.now(),
    })
    .run();
}

/** Resolves a moderator's user reference, creating the account if the user has never used the bot. */
export function resolveTarget(ctx: AdminContext, ref: string, defaultPlatform: PlatformId): User {
  const identity: Identity = parseUserRef(ref, defaultPlatform);
  return findUser(ctx.db, identity.platform, identity.platformUserId) ?? ensureUser(ctx.db, ctx.clock, identity, ctx.startingCredits);
}

export function adjustCredits(ctx: AdminContext, target: User, action: 'grant' | 'take', amount: number, reason: string): number {
  return ctx.db.transaction((tx) => {
    const entry = { userId: target.id, amount, actorUserId: ctx.actor.id, reason: reason || `${action} by moderator` };
    if (action === 'grant') grantCredits(tx, ctx.clock, entry);
    else deductCredits(tx, ctx.clock, entry);
    audit(ctx, tx, `credits.${action}`, target, { amount, reason });
    return balanceOf(tx, target.id);
  });
}

export function setDailyQuota(ctx: AdminContext, target: User, quota: number | null): void {
  ctx.db.transaction((tx) => {
    tx.update(users).set({ dailyJobQuota: quota }).where(eq(users.id, target.id)).run();
    audit(ctx, tx, 'quota.set', target, { quota });
  });
}

export function setBanned(ctx: AdminContext, target: User, banned: boolean, reason: string): void {
  if (banned && target.id === ctx.actor.id) throw new UserError('ban_self', 'You cannot ban yourself.');
  ctx.db.transaction((tx) => {
    tx.update(users).set({ banned, banReason: banned ? reason || null : null }).where(eq(users.id, target.id)).run();
    audit(ctx, tx, banned ? 'user.ban' : 'user.unban', target, { reason });
  });
}

export function addBlockedTerm(ctx: AdminContext, term: string): string {
  const normalized = normalizeBlocklistTerm(term);
  if (!normalized) throw new UserError('bad_term', 'A blocked term needs at least 2 letters or digits.');
  ctx.db.transaction((tx) => {
    const added = tx.insert(blocklistTerms).values({ term: normalized, addedBy: ctx.actor.id, createdAt: ctx.clock.now() }).onConflictDoNothing().run();
    if (added.changes === 0) throw new UserError('term_exists', 'That term is already on the blocklist.');
    audit(ctx, tx, 'blocklist.add', undefined, { term: normalized });
  });
  return normalized;
}

export function removeBlockedTerm(ctx: AdminContext, term: string): void {
  const normalized = normalizeBlocklistTerm(term) ?? term.trim();
  ctx.db.transaction((tx) => {
    const removed = tx.delete(blocklistTerms).where(eq(blocklistTerms.term, normalized)).run();
    if (removed.changes === 0) throw new UserError('term_missing', 'That term is not on the blocklist.');
    audit(ctx, tx, 'blocklist.remove', undefined, { term: normalized });
  });
}

export function listBlockedTerms(db: Db): string[] {
  return db.select({ term: blocklistTerms.term }).from(blocklistTerms).orderBy(blocklistTerms.term).all().map((r) => r.term);
}

/**
 * Gives back the credits of a job that succeeded (e.g. the result was unusable). Failed and cancelled jobs
 * were refunded automatically; a job can be refunded this way once.
 */
export function refundJob(ctx: AdminContext, jobId: string, reason: string): { amount: number; user: User } {
  return ctx.db.transaction((tx) => {
    const job = tx.select().from(jobs).where(eq(jobs.id, jobId)).get();
    if (!job) throw new UserError('no_such_job', `There is no job ${jobId}.`);
    if (job.status === 'failed' || job.status === 'cancelled') {
      throw new UserError('already_refunded', `Job ${jobId} ${job.status}; its credits were already refunded.`);
    }
    if (job.status !== 'succeeded') throw new UserError('not_final', `Job ${jobId} is still ${job.status}; cancel it instead.`);
    const previous = tx
      .select({ id: ledgerEntries.id })
      .from(ledgerEntries)
      .where(and(eq(ledgerEntries.jobId, jobId), eq(ledgerEntries.kind, 'grant')))
      .get();
    if (previous) throw new UserError('already_refunded', `Job ${jobId} was already refunded.`);
    const user = tx.select().from(users).where(eq(users.id, job.userId)).get()!;
    tx.insert(ledgerEntries)
      .values({
        userId: job.userId,
        kind: 'grant',
        amount: job.price,
        jobId,
        actorUserId: ctx.actor.id,
        reason: `refund of job ${jobId}${reason ? `: ${reason}` : ''}`,
        createdAt: ctx.clock.now(),
      })
      .run();
    audit(ctx, tx, 'job.refund', user, { amount: job.price, reason }, jobId);
    return { amount: job.price, user };
  });
}

export interface Stats {
  jobsByStatus: Record<string, number>;
  jobsToday: number;
  usersTotal: number;
  creditsHeld: number;
  creditsSpentToday: number;
  spendUsdToday: number;
}

export function collectStats(db: Db, clock: Clock): Stats {
  const dayStart = Math.floor(clock.now() / 86_400_000) * 86_400_000;
  const byStatus = db.select({ status: jobs.status, n: count() }).from(jobs).groupBy(jobs.status).all();
  const today = db.select({ n: count(), usd: sql<number>`coalesce(sum(case when ${jobs.status} = 'succeeded' then ${jobs.costUsd} else 0 end), 0)` }).from(jobs).where(gte(jobs.createdAt, dayStart)).get()!;
  const spent = db
    .select({ total: sql<number>`coalesce(sum(-h.amount), 0)` })
    .from(ledgerEntries)
    .innerJoin(sql`ledger_entries h`, sql`h.job_id = ${ledgerEntries.jobId} and h.kind = 'hold'`)
    .where(and(eq(ledgerEntries.kind, 'capture'), gte(ledgerEntries.createdAt, dayStart)))
    .get()!;
  const held = db
    .select({ total: sql<number>`coalesce(sum(-${ledgerEntries.amount}), 0)` })
    .from(ledgerEntries)
    .where(
      and(
        eq(ledgerEntries.kind, 'hold'),
        sql`not exists (select 1 from ledger_entries s where s.job_id = ${ledgerEntries.jobId} and s.kind in ('capture', 'release'))`,
      ),
    )
    .get()!;
  return {
    jobsByStatus: Object.fromEntries(byStatus.map((r) => [r.status, r.n])),
    jobsToday: today.n,
    usersTotal: db.select({ n: count() }).from(users).get()!.n,
    creditsHeld: held.total,
    creditsSpentToday: spent.total,
    spendUsdToday: Math.round(today.usd * 100) / 100,
  };
}

export function recentJobs(db: Db, userId: number, limit: number) {
  return db.select().from(jobs).where(eq(jobs.userId, userId)).orderBy(desc(jobs.createdAt)).limit(limit).all();
}

export function accountSummary(db: Db, userId: number): { balance: number; held: number } {
  return { balance: balanceOf(db, userId), held: heldOf(db, userId) };
}

export { describeUser };

import { and, count, desc, eq, gte, inArray, ne, sql, type SQL } from 'drizzle-orm';
import type { Db, DbLike } from '../../db/client.js';
import { auditLog, blocklistTerms, jobs, ledgerEntries, users, type User } from '../../db/schema.js';
import { budgetAccount, budgetOf, memberMeasures, setMemberMeasures } from './communities.js';
import { balanceOf, deductCredits, grantCredits, heldOf, transferCredits } from './credits/ledger.js';
import { UserError } from './errors.js';
import { normalizeBlocklistTerm } from './moderation/normalize.js';
import type { Clock, PlatformId } from './ports.js';
import { communityId, reaches, type Authority } from './roles.js';
import { describeUser, ensureUser, findUser, parseUserRef, type Identity } from './users.js';

/**
 * Moderator and owner actions. Each one is a single transaction that does the change and writes the
 * audit row, so there is never a change without its record (who, to whom, how much, why, for which community).
 *
 * Authority (design.md §9): an owner's action applies everywhere; a community moderator's applies only to requests
 * made in the community where they gave the command, and never creates credits (grants come out of the
 * community's budget, which only an owner fills).
 */

export interface AdminContext extends Authority {
  db: Db;
  clock: Clock;
  actor: User;
  startingCredits: number;
}

function audit(ctx: AdminContext, tx: DbLike, action: string, target: User | undefined, detail: Record<string, unknown>, jobId?: string, community?: string): void {
  tx.insert(auditLog)
    .values({
      actorUserId: ctx.actor.id,
      action,
      targetUserId: target?.id ?? null,
      jobId: jobId ?? null,
      community: community ?? (ctx.role === 'owner' ? null : (ctx.community ?? null)),
      detail: JSON.stringify(detail),
      createdAt: ctx.clock.now(),
    })
    .run();
}

/** The community a moderator acts for; owners act everywhere (undefined). */
function scopeOf(ctx: AdminContext): string | undefined {
  if (ctx.role === 'owner') return undefined;
  if (ctx.role !== 'moderator' || !ctx.community) throw new UserError('moderator_only', 'This is for moderators and the bot owner.');
  return ctx.community;
}

function ownerOnly(ctx: AdminContext, what: string): void {
  if (ctx.role !== 'owner') throw new UserError('owner_only', `Only the bot owner can ${what}.`);
}

/** Resolves a moderator's user reference, creating the account if the user has never used the bot. */
export function resolveTarget(ctx: AdminContext, ref: string, defaultPlatform: PlatformId): User {
  const identity: Identity = parseUserRef(ref, defaultPlatform);
  return findUser(ctx.db, identity.platform, identity.platformUserId) ?? ensureUser(ctx.db, ctx.clock, identity, ctx.startingCredits);
}

/**
 * Owners grant (create) and take credits on any account. A moderator's grant moves credits from this community's
 * budget to the member, both entries in one transaction, and is refused beyond the budget; moderators take nothing.
 */
export function adjustCredits(ctx: AdminContext, target: User, action: 'grant' | 'take', amount: number, reason: string): { balance: number; budgetLeft?: number } {
  if (ctx.role !== 'owner') {
    if (action === 'take') ownerOnly(ctx, 'take credits away');
    const community = scopeOf(ctx)!;
    return ctx.db.transaction((tx) => {
      const budget = budgetAccount(tx, ctx.clock, community);
      const left = balanceOf(tx, budget.id);
      if (amount > left) {
        throw new UserError('budget_too_small', `This community's budget has ${left} credits left; ask the bot owner for more.`, { left });
      }
      transferCredits(tx, ctx.clock, { fromUserId: budget.id, toUserId: target.id, amount, actorUserId: ctx.actor.id, reason: reason || 'grant from the community budget' });
      audit(ctx, tx, 'credits.grant', target, { amount, reason, from: 'budget' }, undefined, community);
      return { balance: balanceOf(tx, target.id), budgetLeft: left - amount };
    });
  }
  return ctx.db.transaction((tx) => {
    const entry = { userId: target.id, amount, actorUserId: ctx.actor.id, reason: reason || `${action} by owner` };
    if (action === 'grant') grantCredits(tx, ctx.clock, entry);
    else deductCredits(tx, ctx.clock, entry);
    audit(ctx, tx, `credits.${action}`, target, { amount, reason });
    return { balance: balanceOf(tx, target.id) };
  });
}

/** Owners fill (or take back from) a community's budget, out of which its moderators grant. Returns what is left. */
export function adjustBudget(ctx: AdminContext, community: string, action: 'give' | 'take', amount: number, reason: string): number {
  ownerOnly(ctx, 'change a community budget');
  return ctx.db.transaction((tx) => {
    const budget = budgetAccount(tx, ctx.clock, community);
    const entry = { userId: budget.id, amount, actorUserId: ctx.actor.id, reason: reason || `budget ${action} by owner` };
    if (action === 'give') grantCredits(tx, ctx.clock, entry);
    else deductCredits(tx, ctx.clock, entry);
    audit(ctx, tx, `budget.${action}`, undefined, { amount, reason }, undefined, community);
    return balanceOf(tx, budget.id);
  });
}

/** An owner's quota applies everywhere; a moderator's only to requests made in their community. */
export function setDailyQuota(ctx: AdminContext, target: User, quota: number | null): void {
  const community = scopeOf(ctx);
  ctx.db.transaction((tx) => {
    if (community) setMemberMeasures(tx, ctx.clock, community, target.id, { dailyJobQuota: quota });
    else tx.update(users).set({ dailyJobQuota: quota }).where(eq(users.id, target.id)).run();
    audit(ctx, tx, 'quota.set', target, { quota });
  });
}

/** An owner's ban applies everywhere; a moderator's only to requests made in their community. */
export function setBanned(ctx: AdminContext, target: User, banned: boolean, reason: string): void {
  if (banned && target.id === ctx.actor.id) throw new UserError('ban_self', 'You cannot ban yourself.');
  const community = scopeOf(ctx);
  ctx.db.transaction((tx) => {
    const measures = { banned, banReason: banned ? reason || null : null };
    if (community) setMemberMeasures(tx, ctx.clock, community, target.id, measures);
    else {
      tx.update(users).set(measures).where(eq(users.id, target.id)).run();
      // An owner lifting a ban in a community lifts that community's ban too.
      if (!banned && ctx.community && memberMeasures(tx, ctx.community, target.id)?.banned) setMemberMeasures(tx, ctx.clock, ctx.community, target.id, measures);
    }
    audit(ctx, tx, banned ? 'user.ban' : 'user.unban', target, { reason });
  });
}

/** An owner's term is refused everywhere; a moderator's only in prompts made in their community. */
export function addBlockedTerm(ctx: AdminContext, term: string): string {
  const normalized = normalizeBlocklistTerm(term);
  if (!normalized) throw new UserError('bad_term', 'A blocked term needs at least 2 letters or digits.');
  const community = scopeOf(ctx) ?? '';
  ctx.db.transaction((tx) => {
    const added = tx.insert(blocklistTerms).values({ term: normalized, community, addedBy: ctx.actor.id, createdAt: ctx.clock.now() }).onConflictDoNothing().run();
    if (added.changes === 0) throw new UserError('term_exists', 'That term is already on the blocklist.');
    audit(ctx, tx, 'blocklist.add', undefined, { term: normalized });
  });
  return normalized;
}

export function removeBlockedTerm(ctx: AdminContext, term: string): void {
  const normalized = normalizeBlocklistTerm(term) ?? term.trim();
  const community = scopeOf(ctx) ?? '';
  ctx.db.transaction((tx) => {
    const removed = tx.delete(blocklistTerms).where(and(eq(blocklistTerms.term, normalized), eq(blocklistTerms.community, community))).run();
    if (removed.changes === 0) throw new UserError('term_missing', `That term is not on the blocklist${community ? ' of this community' : ''}.`);
    audit(ctx, tx, 'blocklist.remove', undefined, { term: normalized });
  });
}

/** Terms added with /blocklist: '' for the global ones, else the community they apply in. */
export function listBlockedTerms(db: DbLike): { term: string; community: string }[] {
  return db.select({ term: blocklistTerms.term, community: blocklistTerms.community }).from(blocklistTerms).orderBy(blocklistTerms.term).all();
}

/**
 * Gives back the credits of a job that succeeded (e.g. the result was unusable): the member's own captured credits,
 * never new ones. Owners refund any job; a moderator only jobs made in their community. Once per job.
 */
export function refundJob(ctx: AdminContext, jobId: string, reason: string): { amount: number; user: User } {
  return ctx.db.transaction((tx) => {
    const job = tx.select().from(jobs).where(eq(jobs.id, jobId)).get();
    if (!job) throw new UserError('no_such_job', `There is no job ${jobId}.`);
    if (!reaches(ctx, communityId(job.platform, job.guildId))) {
      throw new UserError('other_community', `Job ${jobId} was not made in this community.`);
    }
    if (job.status === 'failed' || job.status === 'cancelled') {
      throw new UserError('already_refunded', `Job ${jobId} ${job.status}; its credits were already refunded.`);
    }
    if (job.status !== 'succeeded') throw new UserError('not_final', `Job ${jobId} is still ${job.status}; cancel it instead.`);
    const captured = tx.select({ id: ledgerEntries.id }).from(ledgerEntries).where(and(eq(ledgerEntries.jobId, jobId), eq(ledgerEntries.kind, 'capture'))).get();
    if (!captured) throw new UserError('not_charged', `Job ${jobId} was never charged.`);
    const previous = tx
      .select({ id: ledgerEntries.id })
      .from(ledgerEntries)
      .where(and(eq(ledgerEntries.jobId, jobId), inArray(ledgerEntries.kind, ['grant', 'refund'])))
      .get();
    if (previous) throw new UserError('already_refunded', `Job ${jobId} was already refunded.`);
    const user = tx.select().from(users).where(eq(users.id, job.userId)).get()!;
    tx.insert(ledgerEntries)
      .values({
        userId: job.userId,
        kind: 'refund',
        amount: job.price,
        jobId,
        actorUserId: ctx.actor.id,
        reason: `refund of job ${jobId}${reason ? `: ${reason}` : ''}`,
        createdAt: ctx.clock.now(),
      })
      .run();
    audit(ctx, tx, 'job.refund', user, { amount: job.price, reason }, jobId, communityId(job.platform, job.guildId));
    return { amount: job.price, user };
  });
}

export interface Stats {
  /** The community these figures are for; undefined = everywhere (owners). */
  community?: string;
  jobsByStatus: Record<string, number>;
  jobsToday: number;
  usersTotal: number;
  creditsHeld: number;
  creditsSpentToday: number;
  spendUsdToday: number;
  /** What is left of the community's budget (community stats only). */
  budget?: number;
}

/** Usage and spend everywhere, or of the jobs made in one community (what its moderators may see). */
export function collectStats(db: Db, clock: Clock, community?: string): Stats {
  const dayStart = Math.floor(clock.now() / 86_400_000) * 86_400_000;
  const inCommunity: SQL = community ? sql`${jobs.platform} || ':' || ${jobs.guildId} = ${community}` : sql`1 = 1`;
  const byStatus = db.select({ status: jobs.status, n: count() }).from(jobs).where(inCommunity).groupBy(jobs.status).all();
  const today = db
    .select({ n: count(), usd: sql<number>`coalesce(sum(case when ${jobs.status} = 'succeeded' then ${jobs.costUsd} else 0 end), 0)` })
    .from(jobs)
    .where(and(gte(jobs.createdAt, dayStart), inCommunity))
    .get()!;
  const spent = db
    .select({ total: sql<number>`coalesce(sum(${jobs.price}), 0)` })
    .from(ledgerEntries)
    .innerJoin(jobs, eq(jobs.id, ledgerEntries.jobId))
    .where(and(eq(ledgerEntries.kind, 'capture'), gte(ledgerEntries.createdAt, dayStart), inCommunity))
    .get()!;
  const held = db
    .select({ total: sql<number>`coalesce(sum(-${ledgerEntries.amount}), 0)` })
    .from(ledgerEntries)
    .innerJoin(jobs, eq(jobs.id, ledgerEntries.jobId))
    .where(
      and(
        eq(ledgerEntries.kind, 'hold'),
        inCommunity,
        sql`not exists (select 1 from ledger_entries s where s.job_id = ${ledgerEntries.jobId} and s.kind in ('capture', 'release'))`,
      ),
    )
    .get()!;
  const usersTotal = community
    ? db.select({ n: sql<number>`count(distinct ${jobs.userId})` }).from(jobs).where(inCommunity).get()!.n
    : db.select({ n: count() }).from(users).where(ne(users.platform, 'community')).get()!.n;
  return {
    ...(community ? { community, budget: budgetOf(db, community) } : {}),
    jobsByStatus: Object.fromEntries(byStatus.map((r) => [r.status, r.n])),
    jobsToday: today.n,
    usersTotal,
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

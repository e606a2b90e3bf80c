import { budgetAccount, budgetOf, memberMeasures, setMemberMeasures } from './communities.js';
import {
  balanceOf,
  deductCredits,
  grantCredits,
  heldOf,
  recordPurchaseRefund,
  transferCredits,
} from './credits/ledger.js';
import { UserError } from './errors.js';
import { normalizeBlocklistTerm } from './moderation/normalize.js';
import type { Clock, PlatformId } from './ports.js';
import { communityId, reaches, type Authority } from './roles.js';
import type { Job, Store, StoreTx, User } from './store.js';
import { describeUser, ensureUser, parseUserRef } from './users.js';

/**
 * Moderator and owner actions. Each one is a single transaction that does the change and writes the
 * audit row, so there is never a change without its record (who, to whom, how much, why, for which community).
 *
 * Authority (design.md §9): an owner's action applies everywhere; a community moderator's applies only to requests
 * made in the community where they gave the command, and never creates credits (grants come out of the
 * community's budget, which only an owner fills).
 */

export interface AdminContext extends Authority {
  db: Store;
  clock: Clock;
  actor: User;
  startingCredits: number;
}

async function audit(
  ctx: AdminContext,
  tx: StoreTx,
  action: string,
  target: User | undefined,
  detail: Record<string, unknown>,
  jobId?: string,
  community?: string,
): Promise<void> {
  await tx.audit.append({
    actorUserId: ctx.actor.id,
    action,
    targetUserId: target?.id ?? null,
    jobId: jobId ?? null,
    community: community ?? (ctx.role === 'owner' ? null : (ctx.community ?? null)),
    detail: JSON.stringify(detail),
    createdAt: ctx.clock.now(),
  });
}

/** The community a moderator acts for; owners act everywhere (undefined). */
function scopeOf(ctx: AdminContext): string | undefined {
  if (ctx.role === 'owner') return undefined;
  if (ctx.role !== 'moderator' || !ctx.community)
    throw new UserError('moderator_only', 'This is for moderators and the bot owner.');
  return ctx.community;
}

function ownerOnly(ctx: AdminContext, what: string): void {
  if (ctx.role !== 'owner') throw new UserError('owner_only', `Only the bot owner can ${what}.`);
}

/**
 * Resolves a moderator's user reference, creating the account if the user has never used the bot. `ensureUser` finds
 * or creates in one transaction (a reference carries no display name, so an existing account is left as it is).
 */
export async function resolveTarget(ctx: AdminContext, ref: string, defaultPlatform: PlatformId): Promise<User> {
  return ensureUser(ctx.db, ctx.clock, parseUserRef(ref, defaultPlatform), ctx.startingCredits);
}

/**
 * Owners grant (create) and take credits on any account. A moderator's grant moves credits from this community's
 * budget to the member, both entries in one transaction, and is refused beyond the budget; moderators take nothing.
 */
export async function adjustCredits(
  ctx: AdminContext,
  target: User,
  action: 'grant' | 'take',
  amount: number,
  reason: string,
): Promise<{ balance: number; budgetLeft?: number }> {
  if (ctx.role !== 'owner') {
    if (action === 'take') ownerOnly(ctx, 'take credits away');
    const community = scopeOf(ctx)!;
    return ctx.db.transaction(async (tx) => {
      const budget = await budgetAccount(tx, ctx.clock, community);
      const left = await balanceOf(tx, budget.id);
      if (amount > left) {
        throw new UserError(
          'budget_too_small',
          `This community's budget has ${left} credits left; ask the bot owner for more.`,
          { left },
        );
      }
      const entry = {
        fromUserId: budget.id,
        toUserId: target.id,
        amount,
        actorUserId: ctx.actor.id,
        reason: reason || 'grant from the community budget',
      };
      await transferCredits(tx, ctx.clock, entry);
      await audit(ctx, tx, 'credits.grant', target, { amount, reason, from: 'budget' }, undefined, community);
      return { balance: await balanceOf(tx, target.id), budgetLeft: left - amount };
    });
  }
  return ctx.db.transaction(async (tx) => {
    const entry = { userId: target.id, amount, actorUserId: ctx.actor.id, reason: reason || `${action} by owner` };
    if (action === 'grant') await grantCredits(tx, ctx.clock, entry);
    else await deductCredits(tx, ctx.clock, entry);
    await audit(ctx, tx, `credits.${action}`, target, { amount, reason });
    return { balance: await balanceOf(tx, target.id) };
  });
}

/** Owners fill (or take back from) a community's budget, out of which its moderators grant. Returns what is left. */
export async function adjustBudget(
  ctx: AdminContext,
  community: string,
  action: 'give' | 'take',
  amount: number,
  reason: string,
): Promise<number> {
  ownerOnly(ctx, 'change a community budget');
  return ctx.db.transaction(async (tx) => {
    const budget = await budgetAccount(tx, ctx.clock, community);
    const entry = {
      userId: budget.id,
      amount,
      actorUserId: ctx.actor.id,
      reason: reason || `budget ${action} by owner`,
    };
    if (action === 'give') await grantCredits(tx, ctx.clock, entry);
    else await deductCredits(tx, ctx.clock, entry);
    await audit(ctx, tx, `budget.${action}`, undefined, { amount, reason }, undefined, community);
    return balanceOf(tx, budget.id);
  });
}

/** An owner's quota applies everywhere; a moderator's only to requests made in their community. */
export async function setDailyQuota(ctx: AdminContext, target: User, quota: number | null): Promise<void> {
  const community = scopeOf(ctx);
  await ctx.db.transaction(async (tx) => {
    if (community) await setMemberMeasures(tx, ctx.clock, community, target.id, { dailyJobQuota: quota });
    else await tx.users.update(target.id, { dailyJobQuota: quota });
    await audit(ctx, tx, 'quota.set', target, { quota });
  });
}

/** An owner's ban applies everywhere; a moderator's only to requests made in their community. */
export async function setBanned(ctx: AdminContext, target: User, banned: boolean, reason: string): Promise<void> {
  if (banned && target.id === ctx.actor.id) throw new UserError('ban_self', 'You cannot ban yourself.');
  const community = scopeOf(ctx);
  await ctx.db.transaction(async (tx) => {
    const measures = { banned, banReason: banned ? reason || null : null };
    if (community) await setMemberMeasures(tx, ctx.clock, community, target.id, measures);
    else {
      await tx.users.update(target.id, measures);
      // An owner lifting a ban in a community lifts that community's ban too.
      if (!banned && ctx.community && (await memberMeasures(tx, ctx.community, target.id))?.banned) {
        await setMemberMeasures(tx, ctx.clock, ctx.community, target.id, measures);
      }
    }
    await audit(ctx, tx, banned ? 'user.ban' : 'user.unban', target, { reason });
  });
}

/** An owner's term is refused everywhere; a moderator's only in prompts made in their community. */
export async function addBlockedTerm(ctx: AdminContext, term: string): Promise<string> {
  const normalized = normalizeBlocklistTerm(term);
  if (!normalized) throw new UserError('bad_term', 'A blocked term needs at least 2 letters or digits.');
  const community = scopeOf(ctx) ?? '';
  await ctx.db.transaction(async (tx) => {
    const added = await tx.blocklist.add(normalized, community, ctx.actor.id, ctx.clock.now());
    if (!added) throw new UserError('term_exists', 'That term is already on the blocklist.');
    await audit(ctx, tx, 'blocklist.add', undefined, { term: normalized });
  });
  return normalized;
}

export async function removeBlockedTerm(ctx: AdminContext, term: string): Promise<void> {
  const normalized = normalizeBlocklistTerm(term) ?? term.trim();
  const community = scopeOf(ctx) ?? '';
  await ctx.db.transaction(async (tx) => {
    const removed = await tx.blocklist.remove(normalized, community);
    if (!removed)
      throw new UserError('term_missing', `That term is not on the blocklist${community ? ' of this community' : ''}.`);
    await audit(ctx, tx, 'blocklist.remove', undefined, { term: normalized });
  });
}

/** Terms added with /blocklist: '' for the global ones, else the community they apply in. */
export async function listBlockedTerms(db: StoreTx): Promise<{ term: string; community: string }[]> {
  return db.blocklist.list();
}

/**
 * Gives back the credits of a job that succeeded (e.g. the result was unusable): the member's own captured credits,
 * never new ones. Owners refund any job; a moderator only jobs made in their community. Once per job.
 */
export async function refundJob(
  ctx: AdminContext,
  jobId: string,
  reason: string,
): Promise<{ amount: number; user: User }> {
  return ctx.db.transaction(async (tx) => {
    const job = await tx.jobs.get(jobId);
    if (!job) throw new UserError('no_such_job', `There is no job ${jobId}.`);
    if (!reaches(ctx, communityId(job.platform, job.guildId))) {
      throw new UserError('other_community', `Job ${jobId} was not made in this community.`);
    }
    if (job.status === 'failed' || job.status === 'cancelled') {
      throw new UserError('already_refunded', `Job ${jobId} ${job.status}; its credits were already refunded.`);
    }
    if (job.status !== 'succeeded')
      throw new UserError('not_final', `Job ${jobId} is still ${job.status}; cancel it instead.`);
    if (!(await tx.ledger.hasEntryOfJob(jobId, ['capture'])))
      throw new UserError('not_charged', `Job ${jobId} was never charged.`);
    if (await tx.ledger.hasEntryOfJob(jobId, ['grant', 'refund']))
      throw new UserError('already_refunded', `Job ${jobId} was already refunded.`);
    const user = (await tx.users.byId(job.userId))!;
    await tx.ledger.append({
      userId: job.userId,
      kind: 'refund',
      amount: job.price,
      jobId,
      actorUserId: ctx.actor.id,
      reason: `refund of job ${jobId}${reason ? `: ${reason}` : ''}`,
      createdAt: ctx.clock.now(),
    });
    await audit(
      ctx,
      tx,
      'job.refund',
      user,
      { amount: job.price, reason },
      jobId,
      communityId(job.platform, job.guildId),
    );
    return { amount: job.price, user };
  });
}

/** The platform's refund of a payment to the member who made it: undefined once it agreed, else why not. */
export type PlatformRefund = (
  member: User,
  chargeId: string,
) => Promise<{ refused: string; alreadyRefunded: boolean } | undefined>;

export interface PaymentRefund {
  /** The payment id as the ledger keys it (`telegram:<charge id>`). */
  paymentId: string;
  chargeId: string;
  member: User;
  /** The purchase's credits, what of them was taken back, and what could not be (already spent). */
  credits: number;
  taken: number;
  shortfall: number;
  balance: number;
  /** The Stars paid, when the purchase's reason says (`50 Telegram Stars`). */
  stars?: number;
}

/**
 * An owner refunds a Telegram Stars purchase (issue 15): money leaves the owner's account, so owners only, everywhere.
 * The payment is named by its id as stored (`telegram:<charge id>`) or by the bare charge id. Refused, with nothing
 * changed, when no purchase has that id, when it was refunded before, and when the member has fewer credits left than
 * the purchase gave unless `force` (then the Stars go back all the same and only what is left is taken back). The
 * platform refunds first (`refundAtPlatform`); only once it agreed is the purchase_refund entry written, with its
 * audit row, in one transaction. The entry is unique per payment, so a second refund (a replay, two owners at once:
 * the platform refuses the second) writes nothing.
 */
export async function refundPayment(
  ctx: AdminContext,
  paymentRef: string,
  force: boolean,
  refundAtPlatform: PlatformRefund,
): Promise<PaymentRefund> {
  ownerOnly(ctx, 'refund a payment');
  const ref = paymentRef.trim();
  if (ref.startsWith('discord:')) {
    throw new UserError(
      'discord_payment',
      `${ref} is a Discord purchase: Discord refunds those, not the bot. When Discord refunds it, the bot takes its credits back by itself. Nothing was done.`,
    );
  }
  const chargeId = ref.startsWith('telegram:') ? ref.slice('telegram:'.length) : ref;
  const paymentId = `telegram:${chargeId}`;
  const purchase = chargeId && !chargeId.includes(':') ? await ctx.db.ledger.purchaseByPayment(paymentId) : undefined;
  if (!purchase)
    throw new UserError(
      'no_such_payment',
      `No purchase has the payment id ${ref}: nothing was refunded. (Payment ids are in the member's /history and the log.)`,
    );
  if (purchase.refund) {
    const when = new Date(purchase.refund.createdAt).toISOString().slice(0, 16).replace('T', ' ');
    throw new UserError(
      'already_refunded',
      `Payment ${chargeId} was already refunded (${when} UTC, ${purchase.refund.taken} credits taken back): nothing was done.`,
    );
  }
  const member = (await ctx.db.users.byId(purchase.userId))!;
  const stars = /^(\d+) Telegram Stars$/.exec(purchase.reason ?? '')?.[1];
  const credits = purchase.amount;
  const left = await balanceOf(ctx.db, member.id);
  if (left < credits && !force) {
    throw new UserError(
      'payment_spent',
      `${describeUser(member)} has only ${Math.max(0, left)} of the ${credits} credits of payment ${chargeId} left: nothing was refunded. ` +
        `To refund the Stars anyway and take back only the ${Math.max(0, left)} left, add force: /refundpayment ${chargeId} force`,
      { balance: left },
    );
  }
  const platform = await refundAtPlatform(member, chargeId);
  if (platform) {
    const note = platform.alreadyRefunded
      ? ' Telegram has it as refunded already, though this bot has no record of it (refunded through the Bot API, or the answer to an earlier attempt was lost): take the credits back with /credits take if they were not.'
      : '';
    throw new UserError(
      'payment_refund_refused',
      `Telegram refused to refund payment ${chargeId}: ${platform.refused}. Nothing was changed.${note}`,
    );
  }
  return ctx.db.transaction(async (tx) => {
    const reason = `refund of payment ${chargeId}${stars ? ` (${stars} Telegram Stars)` : ''}`;
    const recorded = await recordPurchaseRefund(tx, ctx.clock, {
      userId: member.id,
      amount: credits,
      paymentId,
      actorUserId: ctx.actor.id,
      reason,
    });
    if (!recorded.written)
      throw new UserError('already_refunded', `Payment ${chargeId} was already refunded: nothing more was done.`);
    const shortfall = credits - recorded.taken;
    await audit(ctx, tx, 'payment.refund', member, {
      payment: paymentId,
      credits,
      taken: recorded.taken,
      notTakenBack: shortfall,
      stars: stars ? Number(stars) : null,
      force,
    });
    return {
      paymentId,
      chargeId,
      member,
      credits,
      taken: recorded.taken,
      shortfall,
      balance: recorded.balance,
      ...(stars ? { stars: Number(stars) } : {}),
    };
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
export async function collectStats(db: StoreTx, clock: Clock, community?: string): Promise<Stats> {
  const dayStart = Math.floor(clock.now() / 86_400_000) * 86_400_000;
  const stats = await db.reports.stats(dayStart, community);
  return {
    ...(community ? { community, budget: await budgetOf(db, community) } : {}),
    jobsByStatus: stats.jobsByStatus,
    jobsToday: stats.jobsToday,
    usersTotal: stats.usersTotal,
    creditsHeld: stats.creditsHeld,
    creditsSpentToday: stats.creditsSpentToday,
    spendUsdToday: Math.round(stats.usdToday * 100) / 100,
  };
}

/** What members paid on one platform, after refunds (a refunded purchase counts for nothing). */
export interface PlatformRevenue {
  /** `telegram`, `discord`: the payment ids' namespace. */
  platform: string;
  purchases: number;
  refunded: number;
  /** Credits sold, less those of refunded purchases. */
  credits: number;
  /** Of the refunded purchases' credits, what their refunds took back (the rest had been spent). */
  takenBack: number;
  /** Telegram: the Stars paid, less those refunded (from each purchase's `<n> Telegram Stars`). Discord tells no price. */
  stars?: number;
}

/** Owners' /stats: revenue per platform beside the provider spend of every job so far. */
export async function collectRevenue(db: StoreTx): Promise<{ platforms: PlatformRevenue[]; usdTotal: number }> {
  const { rows, usdTotal } = await db.reports.revenue();
  const byPlatform = new Map<string, PlatformRevenue & { starsKnown: boolean }>();
  for (const row of rows) {
    const p = byPlatform.get(row.platform) ?? {
      platform: row.platform,
      purchases: 0,
      refunded: 0,
      credits: 0,
      takenBack: 0,
      stars: 0,
      starsKnown: row.platform === 'telegram',
    };
    p.purchases += row.purchases;
    p.refunded += row.refunded;
    p.credits += row.credits - row.refundedCredits;
    p.takenBack += row.takenBack;
    const stars = /^(\d+) Telegram Stars$/.exec(row.reason ?? '')?.[1];
    if (stars === undefined) p.starsKnown = false;
    else p.stars! += Number(stars) * (row.purchases - row.refunded);
    byPlatform.set(row.platform, p);
  }
  const platforms = [...byPlatform.values()]
    .sort((a, b) => a.platform.localeCompare(b.platform))
    .map(({ starsKnown, stars, ...p }) => (starsKnown ? { ...p, stars: stars! } : p));
  return { platforms, usdTotal: Math.round(usdTotal * 100) / 100 };
}

export async function recentJobs(db: StoreTx, userId: number, limit: number): Promise<Job[]> {
  return db.jobs.recentOf(userId, limit);
}

/** The member's purchases, newest first, one line each (what /balance and /history show). */
export async function purchaseLines(db: StoreTx, userId: number, limit: number): Promise<string[]> {
  const rows = await db.ledger.purchasesOf(userId, limit);
  return rows.map((p) => {
    const when = new Date(p.createdAt).toISOString().slice(0, 16).replace('T', ' ');
    const payment = p.paymentId.replace(/^[a-z]+:/, '');
    const refunded = p.refund
      ? ` · refunded${p.refund.byPlatform ? ` by ${p.paymentId.startsWith('discord:') ? 'Discord' : 'the platform'}` : ''} (${p.refund.taken} credits taken back)`
      : '';
    return `${when} UTC · bought ${p.amount} credits${p.reason ? ` (${p.reason})` : ''} · payment ${payment}${refunded}`;
  });
}

/** Balance and held credits read together, so a hold settling in between is counted in exactly one of them. */
export async function accountSummary(db: StoreTx, userId: number): Promise<{ balance: number; held: number }> {
  return db.transaction(async (tx) => ({ balance: await balanceOf(tx, userId), held: await heldOf(tx, userId) }));
}

export { describeUser };

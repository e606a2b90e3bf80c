import { and, countDistinct, eq, sql } from 'drizzle-orm';
import type { DbLike } from '../../db/client.js';
import { communities, communityMembers, jobs, ledgerEntries, users, type CommunityMember, type User } from '../../db/schema.js';
import { balanceOf } from './credits/ledger.js';
import type { Clock } from './ports.js';

/**
 * Communities (Discord servers, Telegram groups) as the owner sees them: which ones the bot serves, each one's
 * budget account, and the measures its moderators took against members (bans, quotas), which apply only there.
 */

/** Parses `discord:<id>` / `telegram:<id>`; undefined when it is not a community reference. */
export function parseCommunityRef(ref: string): string | undefined {
  const match = /^(discord|telegram):(-?\d{1,25})$/.exec(ref.trim());
  return match ? `${match[1]}:${match[2]}` : undefined;
}

/** Records that the bot heard from a community (for the owners' list). */
export function noteCommunity(db: DbLike, clock: Clock, id: string, title?: string): typeof communities.$inferSelect {
  const now = clock.now();
  return db
    .insert(communities)
    .values({ id, title: title ?? '', firstSeenAt: now, lastSeenAt: now })
    .onConflictDoUpdate({ target: communities.id, set: { lastSeenAt: now, ...(title ? { title } : {}) } })
    .returning()
    .get();
}

/**
 * Marks the allow-list refusal as sent. True only for the first caller, so a community outside ALLOWED_COMMUNITIES
 * hears one refusal, not one per message.
 */
export function claimRefusal(db: DbLike, clock: Clock, id: string): boolean {
  noteCommunity(db, clock, id);
  return db.update(communities).set({ refusedAt: clock.now() }).where(and(eq(communities.id, id), sql`${communities.refusedAt} is null`)).run().changes === 1;
}

export function markLeft(db: DbLike, clock: Clock, id: string): void {
  noteCommunity(db, clock, id);
  db.update(communities).set({ leftAt: clock.now() }).where(eq(communities.id, id)).run();
}

/**
 * The ledger account that holds a community's budget: a `users` row of platform `community`, so budgets are
 * balances in the same append-only ledger as members' credits (design.md §4).
 */
export function budgetAccount(db: DbLike, clock: Clock, community: string): User {
  return findBudgetAccount(db, community) ?? db.insert(users).values({ platform: 'community', platformUserId: community, createdAt: clock.now() }).returning().get();
}

function findBudgetAccount(db: DbLike, community: string): User | undefined {
  return db.select().from(users).where(and(eq(users.platform, 'community'), eq(users.platformUserId, community))).get();
}

export function budgetOf(db: DbLike, community: string): number {
  const account = findBudgetAccount(db, community);
  return account ? balanceOf(db, account.id) : 0;
}

export function memberMeasures(db: DbLike, community: string | undefined, userId: number): CommunityMember | undefined {
  if (!community) return undefined;
  return db.select().from(communityMembers).where(and(eq(communityMembers.community, community), eq(communityMembers.userId, userId))).get();
}

export function setMemberMeasures(
  db: DbLike,
  clock: Clock,
  community: string,
  userId: number,
  change: Partial<Pick<CommunityMember, 'banned' | 'banReason' | 'dailyJobQuota'>>,
): void {
  db.insert(communityMembers)
    .values({ community, userId, ...change, updatedAt: clock.now() })
    .onConflictDoUpdate({ target: [communityMembers.community, communityMembers.userId], set: { ...change, updatedAt: clock.now() } })
    .run();
}

export interface CommunitySummary {
  id: string;
  title: string;
  lastSeenAt: number;
  leftAt: number | null;
  membersServed: number;
  creditsSpent: number;
  budget: number;
}

/** Every community the bot has heard from, with the members it served and the credits spent there. */
export function listCommunities(db: DbLike): CommunitySummary[] {
  const rows = db.select().from(communities).orderBy(communities.id).all();
  const served = db
    .select({
      community: sql<string>`${jobs.platform} || ':' || ${jobs.guildId}`,
      members: countDistinct(jobs.userId),
      // Captured and not refunded since. The outer job's id is named with its table: drizzle writes a bare "id" in a
      // single-table select, which inside the subquery would be the ledger entry's own id.
      spent: sql<number>`coalesce(sum(case when exists (select 1 from ${ledgerEntries} c where c.job_id = ${sql.identifier('jobs')}.${sql.identifier('id')} and c.kind = 'capture')
        and not exists (select 1 from ${ledgerEntries} r where r.job_id = ${sql.identifier('jobs')}.${sql.identifier('id')} and r.kind in ('refund', 'grant')) then ${jobs.price} else 0 end), 0)`,
    })
    .from(jobs)
    .where(sql`${jobs.guildId} is not null`)
    .groupBy(jobs.platform, jobs.guildId)
    .all();
  const byId = new Map(served.map((r) => [r.community, r]));
  return rows.map((r) => ({
    id: r.id,
    title: r.title,
    lastSeenAt: r.lastSeenAt,
    leftAt: r.leftAt,
    membersServed: byId.get(r.id)?.members ?? 0,
    creditsSpent: byId.get(r.id)?.spent ?? 0,
    budget: budgetOf(db, r.id),
  }));
}

import { balanceOf } from './credits/ledger.js';
import type { Clock } from './ports.js';
import type { Community, CommunityMember, StoreTx, User } from './store.js';

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
export async function noteCommunity(db: StoreTx, clock: Clock, id: string, title?: string): Promise<Community> {
  return db.communities.note(id, clock.now(), title);
}

/**
 * Marks the allow-list refusal as sent. True only for the first caller, so a community outside ALLOWED_COMMUNITIES
 * hears one refusal, not one per message.
 */
export async function claimRefusal(db: StoreTx, clock: Clock, id: string): Promise<boolean> {
  await noteCommunity(db, clock, id);
  return db.communities.claimRefusal(id, clock.now());
}

export async function markLeft(db: StoreTx, clock: Clock, id: string): Promise<void> {
  await noteCommunity(db, clock, id);
  await db.communities.markLeft(id, clock.now());
}

/**
 * The ledger account that holds a community's budget: a `users` row of platform `community`, so budgets are
 * balances in the same append-only ledger as members' credits (design.md §4). Found or created in one transaction,
 * so a community never gets two.
 */
export async function budgetAccount(db: StoreTx, clock: Clock, community: string): Promise<User> {
  return db.transaction(async (tx) => {
    const existing = await findBudgetAccount(tx, community);
    return (
      existing ??
      tx.users.insert({ platform: 'community', platformUserId: community, displayName: '', createdAt: clock.now() })
    );
  });
}

async function findBudgetAccount(db: StoreTx, community: string): Promise<User | undefined> {
  return db.users.find('community', community);
}

export async function budgetOf(db: StoreTx, community: string): Promise<number> {
  const account = await findBudgetAccount(db, community);
  return account ? balanceOf(db, account.id) : 0;
}

export async function memberMeasures(
  db: StoreTx,
  community: string | undefined,
  userId: number,
): Promise<CommunityMember | undefined> {
  if (!community) return undefined;
  return db.communities.measures(community, userId);
}

export async function setMemberMeasures(
  db: StoreTx,
  clock: Clock,
  community: string,
  userId: number,
  change: Partial<Pick<CommunityMember, 'banned' | 'banReason' | 'dailyJobQuota'>>,
): Promise<void> {
  await db.communities.setMeasures(community, userId, change, clock.now());
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
export async function listCommunities(db: StoreTx): Promise<CommunitySummary[]> {
  const rows = await db.communities.list();
  const usage = new Map((await db.communities.usage()).map((u) => [u.community, u]));
  const summaries: CommunitySummary[] = [];
  for (const r of rows) {
    summaries.push({
      id: r.id,
      title: r.title,
      lastSeenAt: r.lastSeenAt,
      leftAt: r.leftAt,
      membersServed: usage.get(r.id)?.members ?? 0,
      creditsSpent: usage.get(r.id)?.spent ?? 0,
      budget: await budgetOf(db, r.id),
    });
  }
  return summaries;
}

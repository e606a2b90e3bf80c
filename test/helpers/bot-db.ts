import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { ledgerEntries, users, type User } from '../../db/schema.js';

/**
 * Reads of a running bot's database through `readBotDb`'s read-only drizzle handle. The core's own reads
 * (`findUser`, `balanceOf`, `budgetOf`) are async and take a Store, which another process's file opened read-only
 * is not; these read the same rows directly, synchronously, so a world's accessors stay plain values.
 */

/** The account behind (platform, platformUserId), if the bot made one. */
export function userIn(db: Db, platform: string, platformUserId: string): User | undefined {
  return db.select().from(users).where(and(eq(users.platform, platform as User['platform']), eq(users.platformUserId, platformUserId))).get();
}

/** An account's balance: the sum of its ledger entries (design.md §4). */
export function balanceIn(db: Db, userId: number): number {
  return db.select({ total: sql<number>`coalesce(sum(${ledgerEntries.amount}), 0)` }).from(ledgerEntries).where(eq(ledgerEntries.userId, userId)).get()?.total ?? 0;
}

/** A community's budget: the balance of its `community` account (0 before an owner first filled it). */
export function budgetIn(db: Db, community: string): number {
  const account = userIn(db, 'community', community);
  return account ? balanceIn(db, account.id) : 0;
}

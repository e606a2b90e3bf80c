import type { User } from '../../db/schema.js';
import type { StoreRows } from './test-store.js';

/**
 * Reads of a running bot's store through a test's raw rows (`botTestStore`). The core's own reads (`findUser`,
 * `balanceOf`, `budgetOf`) take a Store, which would be a second store on the bot's data; these compute the same
 * answers from the rows, the same way on SQLite and PostgreSQL.
 */

/** The account behind (platform, platformUserId), if the bot made one. */
export async function userIn(rows: StoreRows, platform: string, platformUserId: string): Promise<User | undefined> {
  return (await rows.users()).find((u) => u.platform === platform && u.platformUserId === platformUserId);
}

/** An account's balance: the sum of its ledger entries (design.md §4). */
export async function balanceIn(rows: StoreRows, userId: number): Promise<number> {
  return (await rows.ledger()).filter((e) => e.userId === userId).reduce((sum, e) => sum + e.amount, 0);
}

/** A community's budget: the balance of its `community` account (0 before an owner first filled it). */
export async function budgetIn(rows: StoreRows, community: string): Promise<number> {
  const account = await userIn(rows, 'community', community);
  return account ? balanceIn(rows, account.id) : 0;
}

import type { Job, StoreTx, User } from './store.js';
import { UserError } from './errors.js';
import type { Clock, PlatformId } from './ports.js';

export interface Identity {
  platform: PlatformId;
  platformUserId: string;
  displayName?: string;
}

/**
 * Finds or creates the account of a platform identity; a new account gets the starting credits in the ledger.
 * One transaction, so two first messages of a new member racing each other make one account, credited once.
 */
export async function ensureUser(
  db: StoreTx,
  clock: Clock,
  identity: Identity,
  startingCredits: number,
): Promise<User> {
  // A known member with the same name (every intake but their first) is one read: on PostgreSQL the transaction
  // below, nested in intake's, would cost a savepoint and its release, two round trips, for nothing to write.
  const known = await findUser(db, identity.platform, identity.platformUserId);
  if (known && (!identity.displayName || identity.displayName === known.displayName)) return known;
  return db.transaction(async (tx) => {
    const existing = await findUser(tx, identity.platform, identity.platformUserId);
    if (existing) {
      if (identity.displayName && identity.displayName !== existing.displayName) {
        await tx.users.update(existing.id, { displayName: identity.displayName });
        return { ...existing, displayName: identity.displayName };
      }
      return existing;
    }
    const now = clock.now();
    const created = await tx.users.insert({
      platform: identity.platform,
      platformUserId: identity.platformUserId,
      displayName: identity.displayName ?? '',
      createdAt: now,
    });
    if (startingCredits > 0) {
      await tx.ledger.append({
        userId: created.id,
        kind: 'starting',
        amount: startingCredits,
        reason: 'welcome credits',
        createdAt: now,
      });
    }
    return created;
  });
}

export async function findUser(db: StoreTx, platform: string, platformUserId: string): Promise<User | undefined> {
  return db.users.find(platform, platformUserId);
}

/** The member who asked for the job (who may retry it, and whom its messages mention). */
export async function requesterOf(db: StoreTx, job: Pick<Job, 'userId'>): Promise<User | undefined> {
  return db.users.byId(job.userId);
}

/**
 * Parses a user reference typed by a moderator: `discord:1234`, `telegram:5678`, `console:local`,
 * a Discord mention `<@1234>`, or a bare id on the moderator's own platform.
 */
export function parseUserRef(
  ref: string,
  defaultPlatform: PlatformId,
): { platform: PlatformId; platformUserId: string } {
  const trimmed = ref.trim();
  const mention = /^<@!?(\d{5,25})>$/.exec(trimmed);
  if (mention) return { platform: 'discord', platformUserId: mention[1]! };
  const qualified = /^(discord|telegram|console):([\w-]{1,64})$/.exec(trimmed);
  if (qualified) return { platform: qualified[1] as PlatformId, platformUserId: qualified[2]! };
  if (/^[\w-]{1,64}$/.test(trimmed)) return { platform: defaultPlatform, platformUserId: trimmed };
  throw new UserError('bad_user', 'Name the user as platform:id, for example discord:1234 or telegram:5678.');
}

export function describeUser(user: Pick<User, 'platform' | 'platformUserId' | 'displayName'>): string {
  const id = `${user.platform}:${user.platformUserId}`;
  return user.displayName ? `${user.displayName} (${id})` : id;
}

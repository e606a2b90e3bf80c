import { and, eq, sql } from 'drizzle-orm';
import { preparedPerDb, type DbLike } from '../../db/client.js';
import { ledgerEntries, users, type Job, type User } from '../../db/schema.js';
import { UserError } from './errors.js';
import type { Clock, PlatformId } from './ports.js';

export interface Identity {
  platform: PlatformId;
  platformUserId: string;
  displayName?: string;
}

/** Finds or creates the account of a platform identity; a new account gets the starting credits in the ledger. */
export function ensureUser(db: DbLike, clock: Clock, identity: Identity, startingCredits: number): User {
  const existing = findUser(db, identity.platform, identity.platformUserId);
  if (existing) {
    if (identity.displayName && identity.displayName !== existing.displayName) {
      db.update(users).set({ displayName: identity.displayName }).where(eq(users.id, existing.id)).run();
      return { ...existing, displayName: identity.displayName };
    }
    return existing;
  }
  const now = clock.now();
  const created = db
    .insert(users)
    .values({
      platform: identity.platform,
      platformUserId: identity.platformUserId,
      displayName: identity.displayName ?? '',
      createdAt: now,
    })
    .returning()
    .get();
  if (startingCredits > 0) {
    db.insert(ledgerEntries)
      .values({ userId: created.id, kind: 'starting', amount: startingCredits, reason: 'welcome credits', createdAt: now })
      .run();
  }
  return created;
}

const userByIdentity = preparedPerDb((db) =>
  db
    .select()
    .from(users)
    .where(and(eq(users.platform, sql.placeholder('platform')), eq(users.platformUserId, sql.placeholder('platformUserId'))))
    .prepare(),
);

export function findUser(db: DbLike, platform: string, platformUserId: string): User | undefined {
  return userByIdentity(db).get({ platform, platformUserId });
}

/**
 * Parses a user reference typed by a moderator: `discord:1234`, `telegram:5678`, `console:local`,
 * a Discord mention `<@1234>`, or a bare id on the moderator's own platform.
 */
const userById = preparedPerDb((db) => db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare());

/** The member who asked for the job (who may retry it, and whom its messages mention). */
export function requesterOf(db: DbLike, job: Pick<Job, 'userId'>): User | undefined {
  return userById(db).get({ id: job.userId });
}

export function parseUserRef(ref: string, defaultPlatform: PlatformId): { platform: PlatformId; platformUserId: string } {
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

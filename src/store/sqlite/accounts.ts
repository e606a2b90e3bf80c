import { and, countDistinct, eq, isNull, sql } from 'drizzle-orm';
import { preparedPerDb, type DbLike } from '../../../db/client.js';
import {
  auditLog,
  blocklistTerms,
  chatSettings,
  communities,
  communityMembers,
  jobs,
  ledgerEntries,
  users,
} from '../../../db/schema.js';
import type { AuditRepo, BlocklistRepo, CommunityRepo, SettingsRepo, UserRepo } from '../../core/store.js';

const userByIdentity = preparedPerDb((db) =>
  db
    .select()
    .from(users)
    .where(
      and(eq(users.platform, sql.placeholder('platform')), eq(users.platformUserId, sql.placeholder('platformUserId'))),
    )
    .prepare(),
);
const userById = preparedPerDb((db) =>
  db
    .select()
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .prepare(),
);

export function sqliteUsers(db: DbLike): UserRepo {
  return {
    async find(platform, platformUserId) {
      return userByIdentity(db).get({ platform, platformUserId });
    },
    async byId(id) {
      return userById(db).get({ id });
    },
    async insert(row) {
      return db.insert(users).values(row).returning().get();
    },
    async update(id, set) {
      if (Object.keys(set).length > 0) db.update(users).set(set).where(eq(users.id, id)).run();
    },
  };
}

export function sqliteCommunities(db: DbLike): CommunityRepo {
  return {
    async note(id, now, title) {
      return db
        .insert(communities)
        .values({ id, title: title ?? '', firstSeenAt: now, lastSeenAt: now })
        .onConflictDoUpdate({ target: communities.id, set: { lastSeenAt: now, ...(title ? { title } : {}) } })
        .returning()
        .get();
    },
    async claimRefusal(id, now) {
      return (
        db
          .update(communities)
          .set({ refusedAt: now })
          .where(and(eq(communities.id, id), isNull(communities.refusedAt)))
          .run().changes === 1
      );
    },
    async markLeft(id, now) {
      db.update(communities).set({ leftAt: now }).where(eq(communities.id, id)).run();
    },
    async list() {
      return db.select().from(communities).orderBy(communities.id).all();
    },
    async usage() {
      return db
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
    },
    async measures(community, userId) {
      return db
        .select()
        .from(communityMembers)
        .where(and(eq(communityMembers.community, community), eq(communityMembers.userId, userId)))
        .get();
    },
    async setMeasures(community, userId, change, now) {
      db.insert(communityMembers)
        .values({ community, userId, ...change, updatedAt: now })
        .onConflictDoUpdate({
          target: [communityMembers.community, communityMembers.userId],
          set: { ...change, updatedAt: now },
        })
        .run();
    },
  };
}

const settingsOf = preparedPerDb((db) =>
  db
    .select()
    .from(chatSettings)
    .where(
      and(eq(chatSettings.platform, sql.placeholder('platform')), eq(chatSettings.chatId, sql.placeholder('chatId'))),
    )
    .prepare(),
);

export function sqliteSettings(db: DbLike): SettingsRepo {
  return {
    async get(platform, chatId) {
      const row = settingsOf(db).get({ platform, chatId });
      return (
        row && {
          defaultModel: row.defaultModel,
          allowedChannelIds: row.allowedChannelIds ?? null,
          dailyJobQuota: row.dailyJobQuota,
        }
      );
    },
    async put(platform, chatId, settings, updatedBy, now) {
      db.insert(chatSettings)
        .values({ platform, chatId, ...settings, updatedBy, updatedAt: now })
        .onConflictDoUpdate({
          target: [chatSettings.platform, chatSettings.chatId],
          set: { ...settings, updatedBy, updatedAt: now },
        })
        .run();
    },
  };
}

export function sqliteBlocklist(db: DbLike): BlocklistRepo {
  return {
    async add(term, community, addedBy, now) {
      return (
        db.insert(blocklistTerms).values({ term, community, addedBy, createdAt: now }).onConflictDoNothing().run()
          .changes > 0
      );
    },
    async remove(term, community) {
      return (
        db
          .delete(blocklistTerms)
          .where(and(eq(blocklistTerms.term, term), eq(blocklistTerms.community, community)))
          .run().changes > 0
      );
    },
    async list() {
      return db
        .select({ term: blocklistTerms.term, community: blocklistTerms.community })
        .from(blocklistTerms)
        .orderBy(blocklistTerms.term)
        .all();
    },
  };
}

export function sqliteAudit(db: DbLike): AuditRepo {
  return {
    async append(row) {
      db.insert(auditLog).values(row).run();
    },
  };
}

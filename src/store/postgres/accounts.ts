import { and, asc, countDistinct, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import { communities, communityMembers, jobs, users } from '../../../db/pg/schema.js';
import type { CommunityRepo, UserRepo } from '../../core/store.js';
import { sumOf, tookEffect, type Pg } from './pg.js';

/** The community a job was made in (`discord:<server>`, `telegram:<group>`); null for direct messages. */
export const communityOfJob = sql<string>`${jobs.platform} || ':' || ${jobs.guildId}`;

export function userRepo(db: Pg): UserRepo {
  return {
    async find(platform, platformUserId) {
      const [user] = await db
        .select()
        .from(users)
        .where(and(sql`${users.platform} = ${platform}`, eq(users.platformUserId, platformUserId)));
      return user;
    },

    async byId(id) {
      const [user] = await db.select().from(users).where(eq(users.id, id));
      return user;
    },

    async insert(row) {
      const [user] = await db.insert(users).values(row).returning();
      return user!;
    },

    async update(id, set) {
      if (Object.values(set).every((v) => v === undefined)) return;
      await db.update(users).set(set).where(eq(users.id, id));
    },
  };
}

export function communityRepo(db: Pg): CommunityRepo {
  return {
    async note(id, now, title) {
      const [row] = await db
        .insert(communities)
        .values({ id, title: title ?? '', firstSeenAt: now, lastSeenAt: now })
        .onConflictDoUpdate({ target: communities.id, set: { lastSeenAt: now, ...(title ? { title } : {}) } })
        .returning();
      return row!;
    },

    async claimRefusal(id, now) {
      return tookEffect(
        await db
          .update(communities)
          .set({ refusedAt: now })
          .where(and(eq(communities.id, id), isNull(communities.refusedAt))),
      );
    },

    async markLeft(id, now) {
      await db.update(communities).set({ leftAt: now }).where(eq(communities.id, id));
    },

    async list() {
      return db.select().from(communities).orderBy(asc(communities.id));
    },

    async usage() {
      // Captured and not refunded since. The outer job is named with its table: drizzle writes bare column names in a
      // single-table select, which inside the subqueries would mean the ledger entry's own columns.
      const spent = sql`case when exists (select 1 from ledger_entries c where c.job_id = jobs.id and c.kind = 'capture')
        and not exists (select 1 from ledger_entries r where r.job_id = jobs.id and r.kind in ('refund', 'grant')) then jobs.price else 0 end`;
      return db
        .select({ community: communityOfJob, members: countDistinct(jobs.userId), spent: sumOf(spent) })
        .from(jobs)
        .where(isNotNull(jobs.guildId))
        .groupBy(jobs.platform, jobs.guildId)
        .orderBy(communityOfJob);
    },

    async measures(community, userId) {
      const [row] = await db
        .select()
        .from(communityMembers)
        .where(and(eq(communityMembers.community, community), eq(communityMembers.userId, userId)));
      return row;
    },

    async setMeasures(community, userId, change, now) {
      await db
        .insert(communityMembers)
        .values({ community, userId, ...change, updatedAt: now })
        .onConflictDoUpdate({
          target: [communityMembers.community, communityMembers.userId],
          set: { ...change, updatedAt: now },
        });
    },
  };
}

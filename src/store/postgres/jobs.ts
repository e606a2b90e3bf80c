import {
  and,
  not,
  asc,
  count,
  desc,
  eq,
  gte,
  inArray,
  isNotNull,
  lt,
  notInArray,
  or,
  sql,
  type SQL,
} from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { jobs, workers } from '../../../db/pg/schema.js';
import { FINAL_STATUSES } from '../../core/engine/job-state.js';
import type { JobRepo, JobStatus, WorkerRepo } from '../../core/store.js';
import { sumOf, tookEffect, type Pg } from './pg.js';

/** Statuses in which a job occupies a provider slot. */
const AT_PROVIDER = ['submitting', 'running'] as const satisfies readonly JobStatus[];

/** Started and not final: the jobs a worker runs. */
const STARTED = ['submitting', 'running', 'fetching', 'delivering'] as const satisfies readonly JobStatus[];

const atProvider = inArray(jobs.status, AT_PROVIDER);
const notFinal = notInArray(jobs.status, [...FINAL_STATUSES]);
/** A job a provider saw or may still see: it counts against quotas and spends money (not failed or cancelled before). */
const mayReachProvider = or(notInArray(jobs.status, ['failed', 'cancelled']), isNotNull(jobs.providerTaskId))!;

/** `column = any($1)`: one array parameter however many keys (inArray binds one parameter per key). */
function anyOf(column: PgColumn, keys: readonly (number | string)[], type: 'integer' | 'text'): SQL {
  return sql`${column} = any(${sql.param(keys)}::${sql.raw(type)}[])`;
}

export function jobRepo(db: Pg): JobRepo {
  /** Jobs at a provider grouped by `column`, for the given keys (every key when omitted). */
  async function atProviderBy<K extends number | string>(
    column: PgColumn,
    keys: readonly K[] | undefined,
    type: 'integer' | 'text',
  ) {
    if (keys?.length === 0) return new Map<K, number>();
    const rows = await db
      .select({ key: sql<K>`${column}`, n: count() })
      .from(jobs)
      .where(and(atProvider, keys ? anyOf(column, keys, type) : undefined))
      .groupBy(column);
    return new Map(rows.map((r) => [r.key, r.n]));
  }

  return {
    async insert(row) {
      const [job] = await db.insert(jobs).values(row).returning();
      return job!;
    },

    async get(id) {
      const [job] = await db.select().from(jobs).where(eq(jobs.id, id));
      return job;
    },

    async statusOf(id) {
      const [row] = await db.select({ status: jobs.status }).from(jobs).where(eq(jobs.id, id));
      return row?.status;
    },

    async update(id, from, set, fence) {
      if (from.length === 0) return false;
      // drizzle refuses an empty SET; rewriting the status onto itself still reports whether the guard held.
      const changes = Object.values(set).some((v) => v !== undefined) ? set : { status: sql`${jobs.status}` };
      const fenced = fence === undefined ? undefined : eq(jobs.leaseEpoch, fence);
      return tookEffect(
        await db
          .update(jobs)
          .set(changes)
          .where(and(eq(jobs.id, id), inArray(jobs.status, from), fenced)),
      );
    },

    async start(id, workerId, now) {
      const [row] = await db
        .update(jobs)
        .set({
          status: 'submitting',
          submittedAt: now,
          updatedAt: now,
          workerId,
          leaseEpoch: sql`${jobs.leaseEpoch} + 1`,
        })
        .where(and(eq(jobs.id, id), eq(jobs.status, 'queued')))
        .returning({ epoch: jobs.leaseEpoch });
      return row?.epoch;
    },

    async takeOver(workerId, now, limit) {
      // SKIP LOCKED: processes taking over at the same moment each lock, and so get, different jobs. The pick is a
      // materialised CTE, evaluated once: as an `IN (sub-select)` of the UPDATE, PostgreSQL may run it again while
      // re-checking a row another process changed, and hand the same job to two workers. Liveness is a scalar
      // sub-select, which PostgreSQL never turns into a join: the re-check then reads the lease of the owner the row
      // has now, not of the one it had when the scan began (`not exists` became an anti-join and did the latter).
      const { rows } = await db.execute<{ id: string; status: JobStatus; lease_epoch: number }>(sql`
        with orphans as materialized (
          select j.id from ${jobs} j
          where j.status in ${sql.raw(`(${STARTED.map((s) => `'${s}'`).join(', ')})`)}
            and (j.worker_id is null or j.worker_id <> ${workerId})
            and coalesce((select w.lease_until from ${workers} w where w.id = j.worker_id), 0) < ${now}
          limit ${limit}
          for update skip locked
        )
        update ${jobs} set worker_id = ${workerId}, lease_epoch = ${jobs}.lease_epoch + 1, updated_at = ${now}
        from orphans where ${jobs}.id = orphans.id
        returning ${jobs}.id, ${jobs}.status, ${jobs}.lease_epoch`);
      return rows.map((r) => ({ id: r.id, status: r.status, leaseEpoch: Number(r.lease_epoch) }));
    },

    async setStatusMessage(id, chatId, messageId) {
      await db.update(jobs).set({ statusChatId: chatId, statusMessageId: messageId }).where(eq(jobs.id, id));
    },

    async followupsOf(parentJobId) {
      return db
        .select({ id: jobs.id, status: jobs.status, followup: jobs.followup })
        .from(jobs)
        .where(eq(jobs.parentJobId, parentJobId))
        .orderBy(jobs.createdAt, jobs.id);
    },
    async ofProviderTask(provider, taskId) {
      const [row] = await db
        .select({ id: jobs.id, status: jobs.status })
        .from(jobs)
        .where(and(eq(jobs.provider, provider), eq(jobs.providerTaskId, taskId)));
      return row;
    },

    async schedulingLoad() {
      const [row] = await db
        .select({
          queued: sql<boolean>`exists (select 1 from ${jobs} where ${jobs.status} = 'queued')`,
          atProvider: count(),
        })
        .from(jobs)
        .where(atProvider);
      return row!;
    },

    async hasQueuedBesides(userIds, providers) {
      const rows = await db
        .select({ id: jobs.id })
        .from(jobs)
        .where(
          and(
            eq(jobs.status, 'queued'),
            not(anyOf(jobs.userId, userIds, 'integer')),
            not(anyOf(jobs.provider, providers, 'text')),
          ),
        )
        .limit(1);
      return rows.length > 0;
    },

    async queued() {
      return db
        .select({
          id: jobs.id,
          userId: jobs.userId,
          createdAt: jobs.createdAt,
          provider: jobs.provider,
          // A seek on jobs_user_submitted. The outer row is named with its table: drizzle writes bare column names in
          // a single-table select, which inside the subquery would mean the subquery's own row.
          lastStart:
            sql<number>`coalesce((select max(s.submitted_at) from jobs s where s.user_id = jobs.user_id), 0)`.mapWith(
              Number,
            ),
        })
        .from(jobs)
        .where(eq(jobs.status, 'queued'))
        .orderBy(asc(jobs.createdAt), asc(jobs.id));
    },

    async queuePosition(id) {
      // As on SQLite (src/store/sqlite/jobs.ts, where the rule is spelled out). Ids compare byte-wise ("C"), as
      // fair order and SQLite compare them, whatever the database's collation.
      const { rows } = await db.execute<{ position: string }>(sql`
        with target as (select user_id, created_at, id from jobs where id = ${id} and status = 'queued'),
        mine as (
          select count(*) as k from jobs j, target t
          where j.status = 'queued' and j.user_id = t.user_id
            and (j.created_at < t.created_at or (j.created_at = t.created_at and j.id <= t.id collate "C"))
        ),
        members as materialized (
          select user_id, count(*) as q, min(created_at) as first_queued from jobs where status = 'queued' group by user_id
        ),
        me as (
          select m.*, coalesce((select max(s.submitted_at) from jobs s where s.user_id = m.user_id), 0) as last_start
          from members m join target t on m.user_id = t.user_id
        )
        select mine.k + coalesce((
          select sum(case
            when m.q < mine.k then m.q
            when (coalesce((select max(s.submitted_at) from jobs s where s.user_id = m.user_id), 0), m.first_queued, m.user_id)
              < (me.last_start, me.first_queued, me.user_id) then mine.k
            else mine.k - 1
          end)
          from members m where m.user_id <> me.user_id
        ), 0) as position
        from me cross join mine`);
      return rows[0] ? Number(rows[0].position) : undefined;
    },

    async countAtProvider() {
      const [row] = await db.select({ n: count() }).from(jobs).where(atProvider);
      return row!.n;
    },

    atProviderByUser: (userIds) => atProviderBy(jobs.userId, userIds, 'integer'),
    atProviderByProvider: (providers) => atProviderBy(jobs.provider, providers, 'text'),

    async unfinished() {
      return db
        .select({ id: jobs.id, status: jobs.status })
        .from(jobs)
        .where(notFinal)
        .orderBy(asc(jobs.createdAt), asc(jobs.id));
    },

    async latestCancellableOf(userId, cancellable) {
      if (cancellable.length === 0) return undefined;
      const [row] = await db
        .select({ id: jobs.id })
        .from(jobs)
        .where(and(eq(jobs.userId, userId), inArray(jobs.status, cancellable)))
        .orderBy(desc(jobs.createdAt), desc(jobs.id))
        .limit(1);
      return row;
    },

    async ofUserIn(userId, statuses) {
      if (statuses.length === 0) return [];
      return db
        .select()
        .from(jobs)
        .where(and(eq(jobs.userId, userId), inArray(jobs.status, statuses)))
        .orderBy(asc(jobs.createdAt), asc(jobs.id));
    },

    async recentOf(userId, limit) {
      return db
        .select()
        .from(jobs)
        .where(eq(jobs.userId, userId))
        .orderBy(desc(jobs.createdAt), desc(jobs.id))
        .limit(limit);
    },

    async countsByStatusProviderModel() {
      return db
        .select({ status: jobs.status, provider: jobs.provider, model: jobs.model, n: count() })
        .from(jobs)
        .groupBy(jobs.status, jobs.provider, jobs.model);
    },

    async queueDepth() {
      const [row] = await db.select({ n: count() }).from(jobs).where(eq(jobs.status, 'queued'));
      return row!.n;
    },

    async pendingCountOf(userId) {
      const [row] = await db
        .select({ n: count() })
        .from(jobs)
        .where(and(eq(jobs.userId, userId), notFinal));
      return row!.n;
    },

    async countedSince(userId, { windowStart, dayStart }) {
      const inWindow = sql`${jobs.createdAt} >= ${windowStart}`;
      const [row] = await db
        .select({
          inWindow: sql<number>`count(*) filter (where ${inWindow})`.mapWith(Number),
          oldestInWindow: sql<number | null>`min(${jobs.createdAt}) filter (where ${inWindow})`.mapWith(Number),
          today: sql<number>`count(*) filter (where ${jobs.createdAt} >= ${dayStart})`.mapWith(Number),
        })
        .from(jobs)
        .where(and(eq(jobs.userId, userId), gte(jobs.createdAt, Math.min(windowStart, dayStart)), mayReachProvider));
      return row!;
    },

    async countInCommunitySince(userId, platform, guildId, since) {
      const [row] = await db
        .select({ n: count() })
        .from(jobs)
        .where(
          and(
            eq(jobs.userId, userId),
            sql`${jobs.platform} = ${platform}`,
            eq(jobs.guildId, guildId),
            gte(jobs.createdAt, since),
          ),
        );
      return row!.n;
    },

    async spentUsdSince(since) {
      const [row] = await db
        .select({ usd: sumOf(jobs.costUsd) })
        .from(jobs)
        .where(and(gte(jobs.createdAt, since), mayReachProvider));
      return row!.usd;
    },

    async recentDurations(similar, limit) {
      const rows = await db
        .select({ submittedAt: jobs.submittedAt, doneAt: jobs.providerDoneAt })
        .from(jobs)
        .where(
          and(
            eq(jobs.model, similar.model),
            eq(jobs.status, 'succeeded'),
            sql`${jobs.params} ->> 'resolution' = ${similar.resolution}`,
            // jsonb compares numbers as numbers (5 = 5.0), as SQLite's json_extract does.
            sql`${jobs.params} -> 'durationS' = ${JSON.stringify(similar.durationS)}::jsonb`,
            isNotNull(jobs.submittedAt),
            isNotNull(jobs.providerDoneAt),
            sql`${jobs.providerDoneAt} >= ${jobs.submittedAt}`,
          ),
        )
        .orderBy(desc(jobs.providerDoneAt))
        .limit(limit);
      return rows.map((r) => (r.doneAt! - r.submittedAt!) / 1000);
    },

    async withExpiredMedia(before, limit) {
      return db
        .select({ id: jobs.id, mediaKey: jobs.mediaKey, inputMediaKey: jobs.inputMediaKey })
        .from(jobs)
        .where(
          and(
            isNotNull(jobs.finishedAt),
            lt(jobs.finishedAt, before),
            or(isNotNull(jobs.mediaKey), isNotNull(jobs.inputMediaKey)),
          ),
        )
        .limit(limit);
    },

    async forgetMedia(id) {
      await db.update(jobs).set({ mediaKey: null, mediaUrl: null, inputMediaKey: null }).where(eq(jobs.id, id));
    },
  };
}

export function workerRepo(db: Pg): WorkerRepo {
  return {
    async renew(id, now, leaseUntil) {
      await db
        .insert(workers)
        .values({ id, startedAt: now, leaseUntil })
        .onConflictDoUpdate({ target: workers.id, set: { leaseUntil } });
    },
    async leave(id) {
      await db.delete(workers).where(eq(workers.id, id));
    },
    async forgetGone(before) {
      return (await db.delete(workers).where(lt(workers.leaseUntil, before)).returning({ id: workers.id })).length;
    },
  };
}

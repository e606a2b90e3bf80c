import { and, ne, count, desc, eq, gte, inArray, isNotNull, isNull, lt, notInArray, or, sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { preparedPerDb, slot, type DbLike } from '../../../db/client.js';
import { JOB_STATUSES, jobs, workers } from '../../../db/schema.js';
import type { JobRepo, JobStatus, JobUpdate, NewJobRow, WorkerRepo } from '../../core/store.js';

/** Statuses in which a job occupies a provider slot. */
const AT_PROVIDER = ['submitting', 'running'] as const;
const FINAL = ['succeeded', 'failed', 'cancelled'] as const;
const UNFINISHED = JOB_STATUSES.filter((status) => !(FINAL as readonly string[]).includes(status));
/** Started and not final: the jobs a worker runs. */
const STARTED = ['submitting', 'running', 'fetching', 'delivering'] as const;

// The queries intake and the runners make thousands of times a second are prepared once (see preparedPerDb).
const byId = preparedPerDb((db) =>
  db
    .select()
    .from(jobs)
    .where(eq(jobs.id, sql.placeholder('id')))
    .prepare(),
);
const statusById = preparedPerDb((db) =>
  db
    .select({ status: jobs.status })
    .from(jobs)
    .where(eq(jobs.id, sql.placeholder('id')))
    .prepare(),
);
const insertJob = preparedPerDb((db) =>
  db
    .insert(jobs)
    .values(
      Object.fromEntries(NEW_JOB_COLUMNS.map((c) => [c, sql.placeholder(c)])) as Record<
        keyof NewJobRow,
        ReturnType<typeof sql.placeholder>
      >,
    )
    .returning()
    .prepare(),
);
const setStatusMessage = preparedPerDb((db) =>
  db
    .update(jobs)
    .set({ statusChatId: slot<string>('chatId'), statusMessageId: slot<string>('messageId') })
    .where(eq(jobs.id, sql.placeholder('jobId')))
    .prepare(),
);
// Each queued job with its user's latest start: a seek on jobs_user_submitted, not a scan of the whole history.
const queuedWithLastStart = preparedPerDb((db) =>
  db
    .select({
      id: jobs.id,
      userId: jobs.userId,
      createdAt: jobs.createdAt,
      provider: jobs.provider,
      lastStart: sql<number>`coalesce((select max(s.submitted_at) from jobs s where s.user_id = jobs.user_id), 0)`,
    })
    .from(jobs)
    .where(eq(jobs.status, 'queued'))
    .prepare(),
);
/**
 * One queued job's 1-based place in fair order (src/core/limits/fair-order.ts) from per-member facts, without reading
 * the queue's rows: if it is its member's k-th queued job, it starts in round k, after its member's k - 1 earlier
 * jobs and, of every other member N with q(N) queued, all of them when q(N) < k, else k - 1, plus N's k-th when N goes
 * first within a round (older latest start, then older first queued job, then lower user id). The job's rank comes
 * from jobs_status_user_created; every member's count, first queued time and latest start from queued_members (kept
 * by triggers on jobs, migration 0005), so the cost grows with the members who have queued jobs, not with the queue.
 */
const queuePositionOf = (id: string) => sql`
  with target as (select user_id, created_at, id from jobs where id = ${id} and status = 'queued'),
  mine as (
    select count(*) as k from jobs j, target t
    where j.status = 'queued' and j.user_id = t.user_id and (j.created_at < t.created_at or (j.created_at = t.created_at and j.id <= t.id))
  ),
  me as (select m.* from queued_members m join target t on m.user_id = t.user_id)
  select mine.k + coalesce((
    select sum(case
      when m.queued < mine.k then m.queued
      when (m.last_start, m.first_queued, m.user_id) < (me.last_start, me.first_queued, me.user_id) then mine.k
      else mine.k - 1
    end)
    from queued_members m where m.user_id <> me.user_id
  ), 0) as position
  from me cross join mine`;
const atProvider = inArray(jobs.status, AT_PROVIDER);
const schedulingLoad = preparedPerDb((db) =>
  db
    .select({ queued: sql<0 | 1>`exists (select 1 from ${jobs} where ${jobs.status} = 'queued')`, atProvider: count() })
    .from(jobs)
    .where(atProvider)
    .prepare(),
);
const countAtProvider = preparedPerDb((db) => db.select({ n: count() }).from(jobs).where(atProvider).prepare());

/** Jobs that count against quotas: everything except those that failed or were cancelled before reaching a provider. */
const countsAgainstUser = or(notInArray(jobs.status, ['failed', 'cancelled']), isNotNull(jobs.providerTaskId));
// Named statuses, not "not final": one seek per status in (status, user_id, …) counts the member's unfinished jobs
// only, where a filter on the member's rows would read their whole history.
const pendingCount = preparedPerDb((db) =>
  db
    .select({ n: count() })
    .from(jobs)
    .where(and(inArray(jobs.status, UNFINISHED), eq(jobs.userId, sql.placeholder('userId'))))
    .prepare(),
);
// Both intake limits (the rate window and the UTC day) in one scan of the member's recent jobs.
const countedSince = preparedPerDb((db) => {
  const inWindow = sql`${jobs.createdAt} >= ${sql.placeholder('windowStart')}`;
  return db
    .select({
      inWindow: sql<number>`count(*) filter (where ${inWindow})`,
      oldestInWindow: sql<number | null>`min(${jobs.createdAt}) filter (where ${inWindow})`,
      today: sql<number>`count(*) filter (where ${jobs.createdAt} >= ${sql.placeholder('dayStart')})`,
    })
    .from(jobs)
    .where(
      and(eq(jobs.userId, sql.placeholder('userId')), gte(jobs.createdAt, sql.placeholder('since')), countsAgainstUser),
    )
    .prepare();
});

/** The columns intake writes; the rest start at their defaults. */
const NEW_JOB_COLUMNS = [
  'id',
  'userId',
  'status',
  'platform',
  'chatId',
  'guildId',
  'requestMessageId',
  'locale',
  'uploadLimitBytes',
  'model',
  'provider',
  'providerModel',
  'prompt',
  'params',
  'inputImageUrl',
  'inputMediaKey',
  'price',
  'costUsd',
  'createdAt',
  'updatedAt',
  'parentJobId',
  'followup',
] as const satisfies readonly (keyof NewJobRow)[];

export function sqliteJobs(db: DbLike): JobRepo {
  const countsAtProviderBy = <K extends number | string>(column: SQLiteColumn, keys?: readonly K[]) =>
    new Map(
      db
        .select({ key: sql<K>`${column}`, n: count() })
        .from(jobs)
        // A very long list of keys would meet SQLite's cap on bound parameters: then count every key.
        .where(and(atProvider, keys && keys.length <= 500 ? inArray(column, [...keys]) : undefined))
        .groupBy(column)
        .all()
        .map((r) => [r.key, r.n] as const),
    );

  return {
    async insert(row) {
      return insertJob(db).get(Object.fromEntries(NEW_JOB_COLUMNS.map((c) => [c, row[c] ?? null])))!;
    },
    async get(id) {
      return byId(db).get({ id });
    },
    async statusOf(id) {
      return statusById(db).get({ id })?.status;
    },
    async update(id, from, set, fence) {
      return guardedUpdate(db, id, from, set, fence);
    },
    async start(id, workerId, now) {
      return db
        .update(jobs)
        .set({
          status: 'submitting',
          submittedAt: now,
          updatedAt: now,
          workerId,
          leaseEpoch: sql`${jobs.leaseEpoch} + 1`,
        })
        .where(and(eq(jobs.id, id), eq(jobs.status, 'queued')))
        .returning({ epoch: jobs.leaseEpoch })
        .get()?.epoch;
    },
    async takeOver(workerId, now, limit) {
      // One writer at a time on SQLite, so the subquery's choice cannot be taken by another process meanwhile.
      const orphans = db
        .select({ id: jobs.id })
        .from(jobs)
        .leftJoin(workers, eq(workers.id, jobs.workerId))
        .where(
          and(
            inArray(jobs.status, [...STARTED]),
            or(isNull(jobs.workerId), ne(jobs.workerId, workerId)),
            or(isNull(workers.id), lt(workers.leaseUntil, now)),
          ),
        )
        .limit(limit);
      return db
        .update(jobs)
        .set({ workerId, leaseEpoch: sql`${jobs.leaseEpoch} + 1`, updatedAt: now })
        .where(inArray(jobs.id, orphans))
        .returning({ id: jobs.id, status: jobs.status, leaseEpoch: jobs.leaseEpoch })
        .all();
    },
    async setStatusMessage(id, chatId, messageId) {
      setStatusMessage(db).run({ jobId: id, chatId, messageId });
    },
    async followupsOf(parentJobId) {
      return db
        .select({ id: jobs.id, status: jobs.status, followup: jobs.followup })
        .from(jobs)
        .where(eq(jobs.parentJobId, parentJobId))
        .orderBy(jobs.createdAt, jobs.id)
        .all();
    },
    async ofProviderTask(provider, taskId) {
      return db
        .select({ id: jobs.id, status: jobs.status })
        .from(jobs)
        .where(and(eq(jobs.provider, provider), eq(jobs.providerTaskId, taskId)))
        .get();
    },

    async schedulingLoad() {
      const row = schedulingLoad(db).get()!;
      return { queued: row.queued === 1, atProvider: row.atProvider };
    },
    async hasQueuedBesides(userIds, providers) {
      // json_each: one parameter however many keys (SQLite caps the number of bound parameters).
      const row = db.get(sql`
        select 1 as found from jobs
        where status = 'queued'
          and user_id not in (select value from json_each(${JSON.stringify(userIds)}))
          and provider not in (select value from json_each(${JSON.stringify(providers)}))
        limit 1`);
      return row !== undefined;
    },
    async queued() {
      return queuedWithLastStart(db).all();
    },
    async queuePosition(id) {
      return db.get<{ position: number } | undefined>(queuePositionOf(id))?.position;
    },
    async countAtProvider() {
      return countAtProvider(db).get()!.n;
    },
    async atProviderByUser(userIds) {
      return countsAtProviderBy(jobs.userId, userIds);
    },
    async atProviderByProvider(providers) {
      return countsAtProviderBy(jobs.provider, providers);
    },
    async unfinished() {
      return db
        .select({ id: jobs.id, status: jobs.status })
        .from(jobs)
        .where(notInArray(jobs.status, [...FINAL]))
        .all();
    },

    async latestCancellableOf(userId, cancellable) {
      return db
        .select({ id: jobs.id })
        .from(jobs)
        .where(and(eq(jobs.userId, userId), inArray(jobs.status, [...cancellable])))
        .orderBy(desc(jobs.createdAt))
        .get();
    },
    async ofUserIn(userId, statuses) {
      return db
        .select()
        .from(jobs)
        .where(and(eq(jobs.userId, userId), inArray(jobs.status, [...statuses])))
        .orderBy(jobs.createdAt, jobs.id)
        .all();
    },
    async recentOf(userId, limit) {
      return db.select().from(jobs).where(eq(jobs.userId, userId)).orderBy(desc(jobs.createdAt)).limit(limit).all();
    },
    async countsByStatusProviderModel() {
      return db
        .select({ status: jobs.status, provider: jobs.provider, model: jobs.model, n: count() })
        .from(jobs)
        .groupBy(jobs.status, jobs.provider, jobs.model)
        .all();
    },
    async queueDepth() {
      return db.select({ n: count() }).from(jobs).where(eq(jobs.status, 'queued')).get()?.n ?? 0;
    },

    async pendingCountOf(userId) {
      return pendingCount(db).get({ userId })!.n;
    },
    async countedSince(userId, { windowStart, dayStart }) {
      return countedSince(db).get({ userId, windowStart, dayStart, since: Math.min(windowStart, dayStart) })!;
    },
    async countInCommunitySince(userId, platform, guildId, since) {
      return db
        .select({ n: count() })
        .from(jobs)
        .where(
          and(
            eq(jobs.userId, userId),
            sql`${jobs.platform} = ${platform}`,
            eq(jobs.guildId, guildId),
            gte(jobs.createdAt, since),
          ),
        )
        .get()!.n;
    },
    async spentUsdSince(since) {
      const row = db
        .select({ usd: sql<number>`coalesce(sum(${jobs.costUsd}), 0)` })
        .from(jobs)
        .where(
          and(
            gte(jobs.createdAt, since),
            or(
              inArray(jobs.status, ['queued', 'submitting', 'running', 'fetching', 'delivering', 'succeeded']),
              isNotNull(jobs.providerTaskId),
            ),
          ),
        )
        .get();
      return row?.usd ?? 0;
    },
    async recentDurations(similar, limit) {
      const rows = db
        .select({ submittedAt: jobs.submittedAt, doneAt: jobs.providerDoneAt })
        .from(jobs)
        .where(
          and(
            eq(jobs.model, similar.model),
            eq(jobs.status, 'succeeded'),
            sql`json_extract(${jobs.params}, '$.resolution') = ${similar.resolution}`,
            sql`json_extract(${jobs.params}, '$.durationS') = ${similar.durationS}`,
            isNotNull(jobs.submittedAt),
            isNotNull(jobs.providerDoneAt),
            sql`${jobs.providerDoneAt} >= ${jobs.submittedAt}`,
          ),
        )
        .orderBy(desc(jobs.providerDoneAt))
        .limit(limit)
        .all();
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
        .limit(limit)
        .all();
    },
    async forgetMedia(id) {
      db.update(jobs).set({ mediaKey: null, mediaUrl: null, inputMediaKey: null }).where(eq(jobs.id, id)).run();
    },
  };
}

/**
 * `UPDATE jobs SET <set> WHERE id = ? AND status IN (<sources>)`, prepared once per shape (which columns, how
 * many sources): runners make these moves thousands of times a minute, and building the SQL each time made
 * most of the garbage the engine left behind. The shapes are the few the engine's code writes.
 */
function guardedUpdate(
  db: DbLike,
  jobId: string,
  sources: readonly JobStatus[],
  set: JobUpdate,
  fence: number | undefined,
): boolean {
  const columns = Object.keys(set).filter((k) => set[k as keyof JobUpdate] !== undefined) as (keyof JobUpdate)[];
  const shape = `${columns.join(',')}/${sources.length}/${fence === undefined ? '' : 'fenced'}`;
  let query = updateShapes.get(shape);
  if (!query) {
    const placeholders = Object.fromEntries(columns.map((c) => [c, slot(c)]));
    const statuses = sources.map((_, i) => sql.placeholder(`from${i}`));
    const fenced = fence === undefined ? undefined : eq(jobs.leaseEpoch, sql.placeholder('fence'));
    query = preparedPerDb((d) =>
      d
        .update(jobs)
        .set(placeholders)
        .where(and(eq(jobs.id, sql.placeholder('jobId')), inArray(jobs.status, statuses), fenced))
        .prepare(),
    );
    updateShapes.set(shape, query);
  }
  const values: Record<string, unknown> = { jobId, fence };
  for (const c of columns) values[c] = set[c];
  sources.forEach((s, i) => (values[`from${i}`] = s));
  return query(db).run(values).changes === 1;
}

const updateShapes = new Map<string, (db: DbLike) => { run(values: Record<string, unknown>): { changes: number } }>();

export function sqliteWorkers(db: DbLike): WorkerRepo {
  return {
    async renew(id, now, leaseUntil) {
      db.insert(workers)
        .values({ id, startedAt: now, leaseUntil })
        .onConflictDoUpdate({ target: workers.id, set: { leaseUntil } })
        .run();
    },
    async leave(id) {
      db.delete(workers).where(eq(workers.id, id)).run();
    },
    async forgetGone(before) {
      return db.delete(workers).where(lt(workers.leaseUntil, before)).run().changes;
    },
  };
}

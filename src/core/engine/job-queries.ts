import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { DbLike } from '../../../db/client.js';
import { jobs, type Job } from '../../../db/schema.js';
import { ACTIVE_STATUSES, CANCELLABLE_STATUSES } from './job-state.js';

/** Read-only questions commands and /metrics ask about jobs, so they never query the jobs table themselves. */

/** The member's newest job that can still be cancelled (what `/cancel` without an id means). */
export function latestCancellableJob(db: DbLike, userId: number): Pick<Job, 'id'> | undefined {
  return db
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.userId, userId), inArray(jobs.status, CANCELLABLE_STATUSES)))
    .orderBy(desc(jobs.createdAt))
    .get();
}

/** The member's jobs that are not final yet (queued or at any step of the runner), oldest first. */
export function unfinishedJobsOf(db: DbLike, userId: number): Job[] {
  return db
    .select()
    .from(jobs)
    .where(and(eq(jobs.userId, userId), inArray(jobs.status, ['queued', ...ACTIVE_STATUSES])))
    .orderBy(jobs.createdAt, jobs.id)
    .all();
}

/** How many jobs there are in each status, per provider and model (the `clipbot_jobs` gauge). */
export function jobCounts(db: DbLike): { status: Job['status']; provider: string; model: string; n: number }[] {
  return db
    .select({ status: jobs.status, provider: jobs.provider, model: jobs.model, n: sql<number>`count(*)` })
    .from(jobs)
    .groupBy(jobs.status, jobs.provider, jobs.model)
    .all();
}

/** Jobs waiting to start. */
export function queueDepth(db: DbLike): number {
  return db.select({ n: sql<number>`count(*)` }).from(jobs).where(sql`${jobs.status} = 'queued'`).get()?.n ?? 0;
}

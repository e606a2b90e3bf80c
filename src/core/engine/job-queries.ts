import type { Job, StoreTx } from '../store.js';
import { ACTIVE_STATUSES, CANCELLABLE_STATUSES } from './job-state.js';

/** Read-only questions commands and /metrics ask about jobs, so they never query the jobs table themselves. */

/** The member's newest job that can still be cancelled (what `/cancel` without an id means). */
export async function latestCancellableJob(db: StoreTx, userId: number): Promise<Pick<Job, 'id'> | undefined> {
  return db.jobs.latestCancellableOf(userId, CANCELLABLE_STATUSES);
}

/** The member's jobs that are not final yet (queued or at any step of the runner), oldest first. */
export async function unfinishedJobsOf(db: StoreTx, userId: number): Promise<Job[]> {
  return db.jobs.ofUserIn(userId, ['queued', ...ACTIVE_STATUSES]);
}

/** How many jobs there are in each status, per provider and model (the `clipbot_jobs` gauge). */
export async function jobCounts(
  db: StoreTx,
): Promise<{ status: Job['status']; provider: string; model: string; n: number }[]> {
  return db.jobs.countsByStatusProviderModel();
}

/** Jobs waiting to start. */
export async function queueDepth(db: StoreTx): Promise<number> {
  return db.jobs.queueDepth();
}

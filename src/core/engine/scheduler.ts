import { and, count, eq, inArray, isNotNull, max, sql } from 'drizzle-orm';
import type { DbLike } from '../../../db/client.js';
import { jobs } from '../../../db/schema.js';
import { fairOrder } from '../limits/fair-order.js';
import type { Clock } from '../ports.js';
import { moveJob } from './job-state.js';

/**
 * Picks which queued jobs start now: in fair (round-robin) order, under the global, per-provider
 * and per-user caps on jobs at the provider (submitting or running). Starting is a guarded move
 * queued → submitting, so two schedulers (or a restart racing) never start the same job twice.
 */

export interface SchedulerCaps {
  maxRunningJobs: number;
  providerMaxRunningJobs: number;
  userMaxRunningJobs: number;
}

/** Statuses in which a job occupies a provider slot. */
const AT_PROVIDER = ['submitting', 'running'] as const;

export interface QueuedRow {
  id: string;
  userId: number;
  createdAt: number;
  provider: string;
}

export function queuedInFairOrder(db: DbLike): QueuedRow[] {
  const queued = db
    .select({ id: jobs.id, userId: jobs.userId, createdAt: jobs.createdAt, provider: jobs.provider })
    .from(jobs)
    .where(eq(jobs.status, 'queued'))
    .all();
  const lastStarts = db
    .select({ userId: jobs.userId, last: max(jobs.submittedAt) })
    .from(jobs)
    .where(isNotNull(jobs.submittedAt))
    .groupBy(jobs.userId)
    .all();
  return fairOrder(queued, new Map(lastStarts.map((r) => [r.userId, r.last ?? 0])));
}

export function startEligibleJobs(db: DbLike, clock: Clock, caps: SchedulerCaps): string[] {
  return db.transaction((tx) => {
    const running = tx
      .select({ userId: jobs.userId, provider: jobs.provider, n: count() })
      .from(jobs)
      .where(inArray(jobs.status, AT_PROVIDER))
      .groupBy(jobs.userId, jobs.provider)
      .all();
    let total = 0;
    const byUser = new Map<number, number>();
    const byProvider = new Map<string, number>();
    for (const r of running) {
      total += r.n;
      byUser.set(r.userId, (byUser.get(r.userId) ?? 0) + r.n);
      byProvider.set(r.provider, (byProvider.get(r.provider) ?? 0) + r.n);
    }
    const started: string[] = [];
    for (const job of queuedInFairOrder(tx)) {
      if (total >= caps.maxRunningJobs) break;
      if ((byUser.get(job.userId) ?? 0) >= caps.userMaxRunningJobs) continue;
      if ((byProvider.get(job.provider) ?? 0) >= caps.providerMaxRunningJobs) continue;
      if (!moveJob(tx, clock, job.id, 'queued', 'submitting', { submittedAt: clock.now() })) continue;
      started.push(job.id);
      total++;
      byUser.set(job.userId, (byUser.get(job.userId) ?? 0) + 1);
      byProvider.set(job.provider, (byProvider.get(job.provider) ?? 0) + 1);
    }
    return started;
  });
}

/** 1-based positions of queued jobs in the order they will start. */
export function queuePositions(db: DbLike): Map<string, number> {
  return new Map(queuedInFairOrder(db).map((job, i) => [job.id, i + 1]));
}

/** Non-final jobs with their status, for resuming after a restart. */
export function unfinishedJobIds(db: DbLike): { id: string; status: string }[] {
  return db
    .select({ id: jobs.id, status: jobs.status })
    .from(jobs)
    .where(sql`${jobs.status} not in ('succeeded', 'failed', 'cancelled')`)
    .all();
}

export function countByStatus(db: DbLike, userId?: number): Record<string, number> {
  const rows = db
    .select({ status: jobs.status, n: count() })
    .from(jobs)
    .where(userId === undefined ? undefined : and(eq(jobs.userId, userId)))
    .groupBy(jobs.status)
    .all();
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

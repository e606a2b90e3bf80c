import { and, count, eq, inArray, sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { preparedPerDb, type DbLike } from '../../../db/client.js';
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

// Each queued job with its user's latest start: a seek on jobs_user_submitted, not a scan of the whole history.
const queuedWithLastStart = preparedPerDb((db) =>
  db
    .select({
      id: jobs.id,
      userId: jobs.userId,
      createdAt: jobs.createdAt,
      provider: jobs.provider,
      lastStart: sql<number | null>`(select max(s.submitted_at) from jobs s where s.user_id = jobs.user_id)`,
    })
    .from(jobs)
    .where(eq(jobs.status, 'queued'))
    .prepare(),
);

export function queuedInFairOrder(db: DbLike): QueuedRow[] {
  const queued = queuedWithLastStart(db).all();
  return fairOrder(queued, new Map(queued.map((r) => [r.userId, r.lastStart ?? 0])));
}

const atProvider = inArray(jobs.status, AT_PROVIDER);
const anyQueued = preparedPerDb((db) => db.select({ id: jobs.id }).from(jobs).where(eq(jobs.status, 'queued')).limit(1).prepare());
const countAtProvider = preparedPerDb((db) => db.select({ n: count() }).from(jobs).where(atProvider).prepare());

export function startEligibleJobs(db: DbLike, clock: Clock, caps: SchedulerCaps): string[] {
  // Pump runs on every intake and every job's end, with up to thousands of jobs at providers: the usual cases
  // (nothing queued, every slot taken) stop after two index reads, outside any transaction (starting is a guarded
  // move, so a stale read cannot start a job twice), and the rest reads only what it needs.
  if (!anyQueued(db).get()) return [];
  if (countAtProvider(db).get()!.n >= caps.maxRunningJobs) return [];
  return db.transaction((tx) => {
    let total = countAtProvider(tx).get()!.n;
    const queued = queuedInFairOrder(tx);
    const countsBy = <K extends number | string>(column: SQLiteColumn, keys: K[]) =>
      new Map(
        tx
          .select({ key: sql<K>`${column}`, n: count() })
          .from(jobs)
          // A very long list of keys would meet SQLite's cap on bound parameters: then count every key.
          .where(and(atProvider, keys.length <= 500 ? inArray(column, keys) : undefined))
          .groupBy(column)
          .all()
          .map((r) => [r.key, r.n] as const),
      );
    const byUser = countsBy(jobs.userId, [...new Set(queued.map((j) => j.userId))]);
    const byProvider = countsBy(jobs.provider, [...new Set(queued.map((j) => j.provider))]);
    const started: string[] = [];
    for (const job of queued) {
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

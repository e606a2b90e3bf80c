import { fairOrder } from '../limits/fair-order.js';
import type { Clock } from '../ports.js';
import type { QueuedJob, Store, StoreTx } from '../store.js';

/**
 * Picks which queued jobs start now: in fair (round-robin) order, under the global, per-provider
 * and per-user caps on jobs at the provider (submitting or running), whichever process schedules. Starting is a
 * guarded move queued → submitting that gives the job to this worker, so two schedulers never start the same job twice.
 */

export interface SchedulerCaps {
  maxRunningJobs: number;
  providerMaxRunningJobs: number;
  userMaxRunningJobs: number;
}

/** Queued jobs in the order they will start (each with its member's latest start, which decides that order). */
export async function queuedInFairOrder(db: StoreTx): Promise<QueuedJob[]> {
  const queued = await db.jobs.queued();
  return fairOrder(queued, new Map(queued.map((r) => [r.userId, r.lastStart])));
}

/** A job this worker started, with the lease epoch its runner moves it by. */
export interface StartedJob {
  id: string;
  epoch: number;
}

export async function startEligibleJobs(
  db: Store,
  clock: Clock,
  caps: SchedulerCaps,
  workerId: string,
): Promise<StartedJob[]> {
  // Pump runs on every intake and every job's end, with up to thousands of jobs at providers: the usual cases
  // (nothing queued, every slot taken) stop after two index reads, outside any transaction (starting is a guarded
  // move, so a stale read cannot start a job twice), and the rest reads only what it needs.
  const { queued: anyQueued, atProvider } = await db.jobs.schedulingLoad();
  if (!anyQueued || atProvider >= caps.maxRunningJobs) return [];
  // Every member or provider with queued jobs may be at its own cap (one member's backlog behind their running job):
  // then nothing can start, which the counts of jobs at providers and one index probe tell without reading the queue.
  // No member or provider can be at a cap that all jobs at providers together are below: then the counts per member
  // and per provider (each a scan of every job at a provider, ~20 ms with 100,000 in flight) are not needed.
  const fullUsers =
    atProvider < caps.userMaxRunningJobs ? [] : atCap(await db.jobs.atProviderByUser(), caps.userMaxRunningJobs);
  const fullProviders =
    atProvider < caps.providerMaxRunningJobs
      ? []
      : atCap(await db.jobs.atProviderByProvider(), caps.providerMaxRunningJobs);
  if ((fullUsers.length || fullProviders.length) && !(await db.jobs.hasQueuedBesides(fullUsers, fullProviders)))
    return [];
  return db.transaction(async (tx) => {
    let total = await tx.jobs.countAtProvider();
    const queued = await queuedInFairOrder(tx);
    // Each count is at most `total`, which this pump raises by at most one per queued job: below the cap, no lookup.
    const mayReach = (cap: number) => total + queued.length > cap;
    const byUser = mayReach(caps.userMaxRunningJobs)
      ? await tx.jobs.atProviderByUser([...new Set(queued.map((j) => j.userId))])
      : new Map<number, number>();
    const byProvider = mayReach(caps.providerMaxRunningJobs)
      ? await tx.jobs.atProviderByProvider([...new Set(queued.map((j) => j.provider))])
      : new Map<string, number>();
    const started: StartedJob[] = [];
    for (const job of queued) {
      if (total >= caps.maxRunningJobs) break;
      if ((byUser.get(job.userId) ?? 0) >= caps.userMaxRunningJobs) continue;
      if ((byProvider.get(job.provider) ?? 0) >= caps.providerMaxRunningJobs) continue;
      const epoch = await tx.jobs.start(job.id, workerId, clock.now());
      if (epoch === undefined) continue;
      started.push({ id: job.id, epoch });
      total++;
      byUser.set(job.userId, (byUser.get(job.userId) ?? 0) + 1);
      byProvider.set(job.provider, (byProvider.get(job.provider) ?? 0) + 1);
    }
    return started;
  });
}

function atCap<K>(counts: ReadonlyMap<K, number>, cap: number): K[] {
  return [...counts].filter(([, n]) => n >= cap).map(([key]) => key);
}

/** 1-based positions of queued jobs in the order they will start. */
export async function queuePositions(db: StoreTx): Promise<Map<string, number>> {
  return new Map((await queuedInFairOrder(db)).map((job, i) => [job.id, i + 1]));
}

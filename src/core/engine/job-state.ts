import { captureHold, releaseHold } from '../credits/ledger.js';
import type { Clock } from '../ports.js';
import type { Job, JobPatch, JobStatus, StoreTx } from '../store.js';

/**
 * The job state machine of design.md §3. Every move is one guarded UPDATE (`WHERE id = ? AND status IN (...)`),
 * so of two actors racing to move the same job exactly one wins; the loser sees `false` and stands down.
 */

export const FINAL_STATUSES = ['succeeded', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];
export const ACTIVE_STATUSES = [
  'submitting',
  'running',
  'fetching',
  'delivering',
] as const satisfies readonly JobStatus[];
export const CANCELLABLE_STATUSES = ['queued', 'submitting', 'running'] as const satisfies readonly JobStatus[];

const ALLOWED: Record<JobStatus, readonly JobStatus[]> = {
  queued: ['submitting', 'failed', 'cancelled'],
  submitting: ['running', 'failed', 'cancelled'],
  running: ['fetching', 'failed', 'cancelled'],
  fetching: ['delivering', 'failed'],
  delivering: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function isFinal(status: JobStatus): boolean {
  return (FINAL_STATUSES as readonly JobStatus[]).includes(status);
}

export type { JobPatch };

/**
 * Moves the job from one of `from` to `to`, applying `patch` in the same statement. True if this call moved it.
 * `fence`: the lease epoch a runner holds the job by; the move is refused once another worker took the job over.
 */
export async function moveJob(
  db: StoreTx,
  clock: Clock,
  jobId: string,
  from: JobStatus | readonly JobStatus[],
  to: JobStatus,
  patch: JobPatch = {},
  fence?: number,
): Promise<boolean> {
  const sources = (typeof from === 'string' ? [from] : from).filter((s) => ALLOWED[s].includes(to));
  if (sources.length === 0) throw new Error(`no allowed transition to ${to} from ${String(from)}`);
  const now = clock.now();
  return db.jobs.update(
    jobId,
    sources,
    { ...patch, status: to, updatedAt: now, ...(isFinal(to) ? { finishedAt: now } : {}) },
    fence,
  );
}

/** Updates fields of a job that is still in `status` (guarded, no state change). */
export async function patchJob(
  db: StoreTx,
  clock: Clock,
  jobId: string,
  status: JobStatus,
  patch: JobPatch,
  fence?: number,
): Promise<boolean> {
  return db.jobs.update(jobId, [status], { ...patch, updatedAt: clock.now() }, fence);
}

/**
 * Ends a job and settles its credit hold in one transaction: captured on success, released otherwise.
 * Returns false if another actor ended or moved the job first (then nothing is settled here).
 */
export async function finishJob(
  db: StoreTx,
  clock: Clock,
  jobId: string,
  from: JobStatus | readonly JobStatus[],
  outcome:
    | { status: 'succeeded'; patch?: JobPatch }
    | { status: 'failed' | 'cancelled'; errorKind: string; errorMessage: string; errorRef?: string },
  fence?: number,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (outcome.status === 'succeeded') {
      if (!(await moveJob(tx, clock, jobId, from, 'succeeded', outcome.patch, fence))) return false;
      await captureHold(tx, clock, jobId);
      return true;
    }
    const moved = await moveJob(
      tx,
      clock,
      jobId,
      from,
      outcome.status,
      {
        errorKind: outcome.errorKind,
        errorMessage: outcome.errorMessage,
        errorRef: outcome.errorRef ?? null,
      },
      fence,
    );
    if (!moved) return false;
    await releaseHold(tx, clock, jobId, `${outcome.status}: ${outcome.errorKind}`);
    return true;
  });
}

export async function getJob(db: StoreTx, jobId: string): Promise<Job | undefined> {
  return db.jobs.get(jobId);
}

/** Just the status: what a runner checks after every provider answer, thousands of times a second at scale. */
export async function statusOf(db: StoreTx, jobId: string): Promise<JobStatus | undefined> {
  return db.jobs.statusOf(jobId);
}

/** The job a provider callback is about: the provider's task id is unique per provider. */
export async function jobOfProviderTask(
  db: StoreTx,
  provider: string,
  taskId: string,
): Promise<Pick<Job, 'id' | 'status'> | undefined> {
  return db.jobs.ofProviderTask(provider, taskId);
}

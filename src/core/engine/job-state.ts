import { and, eq, inArray, sql } from 'drizzle-orm';
import { preparedPerDb, slot, type DbLike } from '../../../db/client.js';
import { jobs, type Job, type JobStatus, type NewJob } from '../../../db/schema.js';
import { captureHold, releaseHold } from '../credits/ledger.js';
import type { Clock } from '../ports.js';

/**
 * The job state machine of design.md §3. Every move is one guarded UPDATE (`WHERE id = ? AND status IN (...)`),
 * so of two actors racing to move the same job exactly one wins; the loser sees `false` and stands down.
 */

export const FINAL_STATUSES = ['succeeded', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];
export const ACTIVE_STATUSES = ['submitting', 'running', 'fetching', 'delivering'] as const satisfies readonly JobStatus[];
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

export type JobPatch = Partial<Omit<NewJob, 'id' | 'status' | 'userId' | 'createdAt'>>;

/** Moves the job from one of `from` to `to`, applying `patch` in the same statement. True if this call moved it. */
export function moveJob(
  db: DbLike,
  clock: Clock,
  jobId: string,
  from: JobStatus | readonly JobStatus[],
  to: JobStatus,
  patch: JobPatch = {},
): boolean {
  const sources = (typeof from === 'string' ? [from] : from).filter((s) => ALLOWED[s].includes(to));
  if (sources.length === 0) throw new Error(`no allowed transition to ${to} from ${String(from)}`);
  const now = clock.now();
  return guardedUpdate(db, jobId, sources, { ...patch, status: to, updatedAt: now, ...(isFinal(to) ? { finishedAt: now } : {}) });
}

/** Updates fields of a job that is still in `status` (guarded, no state change). */
export function patchJob(db: DbLike, clock: Clock, jobId: string, status: JobStatus, patch: JobPatch): boolean {
  return guardedUpdate(db, jobId, [status], { ...patch, updatedAt: clock.now() });
}

type JobUpdate = JobPatch & { status?: JobStatus };

/**
 * `UPDATE jobs SET <set> WHERE id = ? AND status IN (<sources>)`, prepared once per shape (which columns, how
 * many sources): runners make these moves thousands of times a minute, and building the SQL each time made
 * most of the garbage the engine left behind. The shapes are the few the engine's code writes.
 */
function guardedUpdate(db: DbLike, jobId: string, sources: readonly JobStatus[], set: JobUpdate): boolean {
  const columns = Object.keys(set).filter((k) => set[k as keyof JobUpdate] !== undefined) as (keyof JobUpdate)[];
  const shape = `${columns.join(',')}/${sources.length}`;
  let query = updateShapes.get(shape);
  if (!query) {
    const placeholders = Object.fromEntries(columns.map((c) => [c, slot(c)]));
    const statuses = sources.map((_, i) => sql.placeholder(`from${i}`));
    query = preparedPerDb((d) => d.update(jobs).set(placeholders).where(and(eq(jobs.id, sql.placeholder('jobId')), inArray(jobs.status, statuses))).prepare());
    updateShapes.set(shape, query);
  }
  const values: Record<string, unknown> = { jobId };
  for (const c of columns) values[c] = set[c];
  sources.forEach((s, i) => (values[`from${i}`] = s));
  return query(db).run(values).changes === 1;
}

const updateShapes = new Map<string, (db: DbLike) => { run(values: Record<string, unknown>): { changes: number } }>();


/**
 * Ends a job and settles its credit hold in one transaction: captured on success, released otherwise.
 * Returns false if another actor ended or moved the job first (then nothing is settled here).
 */
export function finishJob(
  db: DbLike,
  clock: Clock,
  jobId: string,
  from: JobStatus | readonly JobStatus[],
  outcome:
    | { status: 'succeeded'; patch?: JobPatch }
    | { status: 'failed' | 'cancelled'; errorKind: string; errorMessage: string; errorRef?: string },
): boolean {
  return db.transaction((tx) => {
    if (outcome.status === 'succeeded') {
      if (!moveJob(tx, clock, jobId, from, 'succeeded', outcome.patch)) return false;
      captureHold(tx, clock, jobId);
      return true;
    }
    const moved = moveJob(tx, clock, jobId, from, outcome.status, {
      errorKind: outcome.errorKind,
      errorMessage: outcome.errorMessage,
      errorRef: outcome.errorRef ?? null,
    });
    if (!moved) return false;
    releaseHold(tx, clock, jobId, `${outcome.status}: ${outcome.errorKind}`);
    return true;
  });
}

const jobById = preparedPerDb((db) => db.select().from(jobs).where(eq(jobs.id, sql.placeholder('id'))).prepare());

export function getJob(db: DbLike, jobId: string): Job | undefined {
  return jobById(db).get({ id: jobId });
}

const statusById = preparedPerDb((db) =>
  db.select({ status: jobs.status }).from(jobs).where(eq(jobs.id, sql.placeholder('id'))).prepare(),
);

/** Just the status: what a runner checks after every provider answer, thousands of times a second at scale. */
export function statusOf(db: DbLike, jobId: string): JobStatus | undefined {
  return statusById(db).get({ id: jobId })?.status;
}

/** The job a provider callback is about: the provider's task id is unique per provider. */
export function jobOfProviderTask(db: DbLike, provider: string, taskId: string): Pick<Job, 'id' | 'status'> | undefined {
  return db
    .select({ id: jobs.id, status: jobs.status })
    .from(jobs)
    .where(and(eq(jobs.provider, provider), eq(jobs.providerTaskId, taskId)))
    .get();
}

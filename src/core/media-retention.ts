import type { Clock, Logger, MediaStore } from './ports.js';
import type { StoreTx } from './store.js';

const BATCH = 200;

/**
 * Deletes stored results and re-hosted inputs of jobs that ended more than `retentionDays` ago, and
 * forgets their keys, so storage does not grow forever. Driven by the jobs table, so it works the same
 * for every store (local disk, S3). Returns how many files were removed.
 */
export async function pruneExpiredMedia(
  db: StoreTx,
  clock: Clock,
  store: MediaStore,
  retentionDays: number,
  logger: Logger,
): Promise<number> {
  const cutoff = clock.now() - retentionDays * 86_400_000;
  let removed = 0;
  for (;;) {
    const expired = await db.jobs.withExpiredMedia(cutoff, BATCH);
    if (expired.length === 0) return removed;
    for (const job of expired) {
      for (const key of [job.mediaKey, job.inputMediaKey]) {
        if (!key) continue;
        try {
          await store.remove(key);
          removed++;
        } catch (error) {
          logger.warn({ jobId: job.id, key, err: error }, 'could not remove expired media; will retry next time');
          return removed;
        }
      }
      await db.jobs.forgetMedia(job.id);
    }
  }
}

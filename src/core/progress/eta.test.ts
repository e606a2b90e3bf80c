import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../store/sqlite/index.js';
import { expectedSeconds, findModel, type Resolution } from '../catalog.js';
import type { JobStatus, Store } from '../store.js';
import { estimateJobSeconds, estimateSeconds, loadRecentDurations } from './eta.js';

describe('estimateSeconds', () => {
  describe('when there are fewer samples than required', () => {
    it('returns the fallback', () => {
      expect(estimateSeconds([30, 40, 50, 60], 90)).toBe(90);
      expect(estimateSeconds([], 90)).toBe(90);
    });

    it('does not count unusable samples', () => {
      expect(estimateSeconds([30, 40, 50, 60, Number.NaN, -5, 0, Number.POSITIVE_INFINITY], 90)).toBe(90);
    });
  });

  describe('when there are enough samples', () => {
    it('returns the median of an odd count', () => {
      expect(estimateSeconds([50, 10, 40, 30, 20], 90)).toBe(30);
    });

    it('returns the mean of the middle two of an even count, rounded', () => {
      expect(estimateSeconds([10, 20, 30, 41, 50, 60], 90)).toBe(36);
    });

    it('is not moved by one job stuck for ages', () => {
      expect(estimateSeconds([60, 61, 59, 62, 3600], 90)).toBe(61);
    });

    it('honours a custom minimum', () => {
      expect(estimateSeconds([42], 90, 1)).toBe(42);
    });
  });

  describe('for any history', () => {
    it('stays between the shortest and longest sample once there are enough', () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 10_000 }), { minLength: 5 }), (history) => {
          const eta = estimateSeconds(history, 1_000_000);
          expect(eta).toBeGreaterThanOrEqual(Math.min(...history));
          expect(eta).toBeLessThanOrEqual(Math.max(...history));
        }),
      );
    });
  });
});

interface JobShape {
  model?: string;
  status?: JobStatus;
  resolution?: Resolution;
  durationS?: number;
  submittedAt?: number | null;
  tookS?: number;
}

let seq = 0;

/** Inserts a job; each one is submitted a second after the previous, so insertion order is age order. */
async function addJob(db: Store, job: JobShape): Promise<void> {
  const user =
    (await db.users.find('console', 'u1')) ??
    (await db.users.insert({ platform: 'console', platformUserId: 'u1', displayName: '', createdAt: 0 }));
  seq++;
  const submittedAt = job.submittedAt === undefined ? 1_000_000 + seq * 1000 : job.submittedAt;
  const status = job.status ?? 'succeeded';
  const { id } = await db.jobs.insert({
    id: `job-${seq}`,
    userId: user.id,
    status,
    platform: 'console',
    chatId: 'c',
    model: job.model ?? 'seedance-1-pro',
    provider: 'fal',
    providerModel: 'fal-ai/x',
    prompt: 'a fox',
    params: { durationS: job.durationS ?? 5, resolution: job.resolution ?? '720p', aspectRatio: '16:9' },
    price: 50,
    costUsd: 0,
    createdAt: 0,
    updatedAt: 0,
  });
  const providerDoneAt = submittedAt === null ? null : submittedAt + (job.tookS ?? 60) * 1000;
  await db.jobs.update(id, [status], { submittedAt, providerDoneAt });
}

describe('loadRecentDurations', () => {
  let db: Store;

  beforeEach(() => {
    db = openSqliteStore(':memory:');
  });
  afterEach(() => db.close());

  const similar = { model: 'seedance-1-pro', resolution: '720p', durationS: 5 };

  describe('when similar jobs succeeded', () => {
    it('returns their provider durations in seconds, newest first', async () => {
      await addJob(db, { tookS: 50 });
      await addJob(db, { tookS: 70.5 });
      expect(await loadRecentDurations(db, similar)).toEqual([70.5, 50]);
    });

    it('returns at most the newest 20', async () => {
      for (let i = 1; i <= 25; i++) await addJob(db, { tookS: i });
      const durations = await loadRecentDurations(db, similar);
      expect(durations).toHaveLength(20);
      expect(durations[0]).toBe(25);
      expect(durations.at(-1)).toBe(6);
    });
  });

  describe('when other jobs differ', () => {
    it('ignores other models, resolutions, durations, unfinished and failed jobs', async () => {
      await addJob(db, { model: 'seedance-1.5-pro' });
      await addJob(db, { resolution: '1080p' });
      await addJob(db, { durationS: 10 });
      await addJob(db, { status: 'failed' });
      await addJob(db, { status: 'running' });
      await addJob(db, { submittedAt: null });
      expect(await loadRecentDurations(db, similar)).toEqual([]);
    });
  });
});

describe('estimateJobSeconds', () => {
  let db: Store;

  beforeEach(() => {
    db = openSqliteStore(':memory:');
  });
  afterEach(() => db.close());

  describe('when there is no history yet', () => {
    it('uses the catalog’s expectation', async () => {
      const model = findModel('seedance-1-pro')!;
      const params = { durationS: 10, resolution: '1080p' as const };
      expect(await estimateJobSeconds(db, model, params)).toBe(expectedSeconds(model, params));
    });
  });

  describe('when enough similar jobs succeeded', () => {
    it('uses their median', async () => {
      for (const tookS of [40, 45, 50, 55, 300]) await addJob(db, { tookS });
      expect(await estimateJobSeconds(db, findModel('seedance-1-pro')!, { durationS: 5, resolution: '720p' })).toBe(50);
    });
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MODELS } from '../../src/core/catalog.js';
import { creditTotals } from '../../src/core/credits/ledger.js';
import { acceptVideo } from '../../src/core/engine/intake.js';
import { jobCounts, latestCancellableJob, queueDepth, unfinishedJobsOf } from '../../src/core/engine/job-queries.js';
import { finishJob, jobOfProviderTask, moveJob } from '../../src/core/engine/job-state.js';
import { requesterOf } from '../../src/core/users.js';
import type { Store } from '../../src/core/store.js';
import type { TestStore } from '../helpers/test-store.js';
import { manualClock, tempDb } from '../helpers/db.js';

/** The core functions that replaced the direct table reads in /cancel, /queue, the buttons, /metrics and webhooks. */

const model = MODELS[0]!;
const SETTINGS = {
  defaultModel: model.id,
  startingCredits: 1000,
  freeDailyCredits: 0,
  rateLimitJobs: 100,
  rateLimitWindowS: 60,
  userMaxPendingJobs: 100,
  dailyJobQuota: 100,
};
const PRICE = 40;

let t: TestStore;
let db: Store;
let clock: ReturnType<typeof manualClock>;

beforeEach(async () => {
  t = await tempDb();
  db = t.store;
  clock = manualClock();
});
afterEach(() => t.cleanup());

/** Queues a job for `member` a second after the previous one, so creation order is age order. */
async function queue(id: string, member = 'alice'): Promise<number> {
  clock.advance(1000);
  const { job } = await acceptVideo(
    db,
    clock,
    {
      identity: { platform: 'console', platformUserId: member },
      dest: { platform: 'console', chatId: 'c', userId: member },
      intakeKey: `k-${id}`,
      prompt: 'a fox',
      options: {},
    },
    {
      prompt: 'a fox',
      model,
      params: { durationS: 5, resolution: '480p', aspectRatio: '16:9' },
      price: PRICE,
      costUsd: 0.15,
    },
    SETTINGS,
    id,
    undefined,
  );
  return job.userId;
}

describe('job queries', () => {
  describe('when a member has jobs in every kind of state', () => {
    let alice: number;
    beforeEach(async () => {
      alice = await queue('old-running');
      await moveJob(db, clock, 'old-running', 'queued', 'submitting');
      await moveJob(db, clock, 'old-running', 'submitting', 'running', { providerTaskId: 'task-1' });
      await queue('fetching');
      await moveJob(db, clock, 'fetching', 'queued', 'submitting');
      await moveJob(db, clock, 'fetching', 'submitting', 'running', { providerTaskId: 'task-2' });
      await moveJob(db, clock, 'fetching', 'running', 'fetching');
      await queue('queued');
      await queue('failed');
      await finishJob(db, clock, 'failed', 'queued', { status: 'failed', errorKind: 'internal', errorMessage: 'x' });
      await queue('bob-queued', 'bob');
    });

    it('/cancel without an id finds the newest job that can still be cancelled, not a later fetching or failed one', async () => {
      expect((await latestCancellableJob(db, alice))?.id).toBe('queued');
      await finishJob(db, clock, 'queued', 'queued', {
        status: 'cancelled',
        errorKind: 'cancelled',
        errorMessage: 'x',
      });
      expect((await latestCancellableJob(db, alice))?.id).toBe('old-running');
    });

    it('/queue lists only the member’s unfinished jobs, oldest first', async () => {
      expect((await unfinishedJobsOf(db, alice)).map((j) => [j.id, j.status])).toEqual([
        ['old-running', 'running'],
        ['fetching', 'fetching'],
        ['queued', 'queued'],
      ]);
    });

    it('finds the job a provider callback is about by provider and task id', async () => {
      expect(await jobOfProviderTask(db, model.provider, 'task-2')).toEqual({ id: 'fetching', status: 'fetching' });
      expect(await jobOfProviderTask(db, 'some-other-provider', 'task-2')).toBeUndefined();
      expect(await jobOfProviderTask(db, model.provider, 'task-unknown')).toBeUndefined();
    });

    it('names the requester of a job', async () => {
      const job = { userId: await queue('another', 'carol') };
      expect(await requesterOf(db, job)).toMatchObject({ platform: 'console', platformUserId: 'carol' });
      expect(await requesterOf(db, { userId: 999_999 })).toBeUndefined();
    });

    it('counts jobs by status and the queue depth for /metrics', async () => {
      expect(await queueDepth(db)).toBe(2);
      const counts = Object.fromEntries((await jobCounts(db)).map((r) => [r.status, r.n]));
      expect(counts).toEqual({ running: 1, fetching: 1, queued: 2, failed: 1 });
    });

    it('totals credits held, captured and released for /metrics', async () => {
      await moveJob(db, clock, 'fetching', 'fetching', 'delivering');
      await finishJob(db, clock, 'fetching', 'delivering', { status: 'succeeded' });
      expect(await creditTotals(db)).toEqual({ held: 3 * PRICE, captured: PRICE, released: PRICE });
    });
  });
});

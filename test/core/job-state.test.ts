import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODELS } from '../../src/core/catalog.js';
import { balanceOf } from '../../src/core/credits/ledger.js';
import { acceptVideo } from '../../src/core/engine/intake.js';
import type { Store } from '../../src/core/store.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { finishJob, getJob, moveJob } from '../../src/core/engine/job-state.js';
import { manualClock, tempDb, tempDir } from '../helpers/db.js';

const model = MODELS[0]!;
const settings = {
  defaultModel: model.id,
  startingCredits: 100,
  freeDailyCredits: 0,
  rateLimitJobs: 100,
  rateLimitWindowS: 60,
  userMaxPendingJobs: 100,
  dailyJobQuota: 100,
};

async function queueOne(t: { store: Store }, id: string) {
  const clock = manualClock();
  await acceptVideo(
    t.store,
    clock,
    {
      identity: { platform: 'console', platformUserId: 'u' },
      dest: { platform: 'console', chatId: 'c', userId: 'u' },
      intakeKey: `k-${id}`,
      prompt: 'p',
      options: {},
    },
    { prompt: 'p', model, params: { durationS: 5, resolution: '480p', aspectRatio: '16:9' }, price: 40, costUsd: 0.15 },
    settings,
    id,
    undefined,
  );
  return clock;
}

describe('job state machine', () => {
  describe('when two actors move the same job', () => {
    it('lets exactly one of them win', async () => {
      const t = await tempDb();
      onTestFinished(() => t.cleanup());
      const clock = await queueOne(t, 'j1');
      const first = await moveJob(t.store, clock, 'j1', 'queued', 'submitting');
      const second = await moveJob(t.store, clock, 'j1', 'queued', 'submitting');
      expect([first, second]).toEqual([true, false]);
    });

    it('settles the hold once when cancel and success race', async () => {
      const t = await tempDb();
      onTestFinished(() => t.cleanup());
      const clock = await queueOne(t, 'j1');
      await moveJob(t.store, clock, 'j1', 'queued', 'submitting');
      await moveJob(t.store, clock, 'j1', 'submitting', 'running');
      const cancelled = await finishJob(t.store, clock, 'j1', ['queued', 'submitting', 'running'], {
        status: 'cancelled',
        errorKind: 'c',
        errorMessage: 'c',
      });
      const fetched = await moveJob(t.store, clock, 'j1', 'running', 'fetching');
      expect(cancelled).toBe(true);
      expect(fetched).toBe(false);
      const job = (await getJob(t.store, 'j1'))!;
      expect(job.status).toBe('cancelled');
      expect(await balanceOf(t.store, job.userId)).toBe(100);
    });

    it('lets exactly one of two separate processes win on one SQLite file', async () => {
      // (On PostgreSQL, processes racing are the store contract's and the crash suite's.)
      const { dir, cleanup } = tempDir();
      onTestFinished(cleanup);
      const file = path.join(dir, 'clipbot.db');
      const store = openSqliteStore(file);
      onTestFinished(() => store.close());
      await queueOne({ store }, 'j1');
      // Two connections in two threads, racing on the same file: the guarded UPDATE is the referee.
      const source = `
        const { parentPort, workerData } = require('node:worker_threads');
        const Database = require('better-sqlite3');
        const db = new Database(workerData.file);
        db.pragma('busy_timeout = 5000');
        const changes = db.prepare("update jobs set status = 'submitting' where id = 'j1' and status = 'queued'").run().changes;
        parentPort.postMessage(changes);
      `;
      const race = () =>
        new Promise<number>((resolve, reject) => {
          const worker = new Worker(source, { eval: true, workerData: { file } });
          worker.once('message', resolve);
          worker.once('error', reject);
        });
      const results = await Promise.all([race(), race(), race(), race()]);
      expect(results.reduce((a, b) => a + b, 0)).toBe(1);
    });
  });

  describe('when asked for a transition the machine does not have', () => {
    it('refuses before touching the database', async () => {
      const t = await tempDb();
      onTestFinished(() => t.cleanup());
      const clock = await queueOne(t, 'j1');
      await expect(moveJob(t.store, clock, 'j1', 'queued', 'succeeded')).rejects.toThrow(/no allowed transition/);
      expect((await getJob(t.store, 'j1'))!.status).toBe('queued');
    });
  });
});

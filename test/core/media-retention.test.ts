import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODELS } from '../../src/core/catalog.js';
import { acceptVideo } from '../../src/core/engine/intake.js';
import { finishJob, getJob } from '../../src/core/engine/job-state.js';
import type { Store } from '../../src/core/store.js';
import { pruneExpiredMedia } from '../../src/core/media-retention.js';
import { silentLogger } from '../../src/logger.js';
import { createLocalMediaStore } from '../../src/media/local-store.js';
import { manualClock, tempDb, tempDir } from '../helpers/db.js';

const DAY = 86_400_000;
const settings = {
  defaultModel: 'seedance-1-pro',
  startingCredits: 500,
  freeDailyCredits: 0,
  rateLimitJobs: 99,
  rateLimitWindowS: 60,
  userMaxPendingJobs: 99,
  dailyJobQuota: 99,
};

async function storedJob(
  t: { store: Store },
  clock: ReturnType<typeof manualClock>,
  mediaStore: ReturnType<typeof createLocalMediaStore>,
  id: string,
) {
  const temp = mediaStore.tempPath(id);
  fs.writeFileSync(temp, 'video');
  const media = await mediaStore.putFile(`results/${id}.mp4`, temp, 'video/mp4');
  await acceptVideo(
    t.store,
    clock,
    {
      identity: { platform: 'console', platformUserId: 'u' },
      dest: { platform: 'console', chatId: 'c', userId: 'u' },
      intakeKey: id,
      prompt: 'p',
      options: {},
    },
    {
      prompt: 'p',
      model: MODELS[0]!,
      params: { durationS: 5, resolution: '480p', aspectRatio: '16:9' },
      price: 40,
      costUsd: 0.1,
    },
    settings,
    id,
    undefined,
  );
  await finishJob(t.store, clock, id, 'queued', { status: 'cancelled', errorKind: 'x', errorMessage: 'x' });
  await t.store.jobs.update(id, ['cancelled'], { mediaKey: media.key, mediaUrl: media.url });
  return media;
}

describe('media retention', () => {
  describe('when stored media outlive the retention period', () => {
    it('removes the files of jobs that ended before the cutoff and forgets their keys, keeping the rest', async () => {
      const t = await tempDb();
      onTestFinished(() => t.cleanup());
      const clock = manualClock();
      const media = tempDir();
      onTestFinished(media.cleanup);
      const dir = path.join(media.dir, 'media');
      const mediaStore = createLocalMediaStore({ dir, publicBaseUrl: 'http://127.0.0.1:1' });
      await storedJob(t, clock, mediaStore, 'old1');
      clock.advance(20 * DAY);
      await storedJob(t, clock, mediaStore, 'new1');
      clock.advance(15 * DAY);

      expect(await pruneExpiredMedia(t.store, clock, mediaStore, 30, silentLogger)).toBe(1);
      expect(fs.existsSync(path.join(dir, 'results/old1.mp4'))).toBe(false);
      expect(fs.existsSync(path.join(dir, 'results/new1.mp4'))).toBe(true);
      expect((await getJob(t.store, 'old1'))!.mediaKey).toBeNull();
      expect((await getJob(t.store, 'new1'))!.mediaKey).toBe('results/new1.mp4');
      expect(await pruneExpiredMedia(t.store, clock, mediaStore, 30, silentLogger)).toBe(0);
    });
  });
});

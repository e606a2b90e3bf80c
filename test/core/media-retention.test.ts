import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS } from '../../src/core/catalog.js';
import { acceptVideo } from '../../src/core/engine/intake.js';
import { finishJob, getJob } from '../../src/core/engine/job-state.js';
import { pruneExpiredMedia } from '../../src/core/media-retention.js';
import { silentLogger } from '../../src/logger.js';
import { createLocalMediaStore } from '../../src/media/local-store.js';
import { manualClock, tempDb } from '../helpers/db.js';

const DAY = 86_400_000;
const settings = { defaultModel: 'seedance-1-pro', startingCredits: 500, freeDailyCredits: 0, rateLimitJobs: 99, rateLimitWindowS: 60, userMaxPendingJobs: 99, dailyJobQuota: 99 };

async function storedJob(t: ReturnType<typeof tempDb>, clock: ReturnType<typeof manualClock>, store: ReturnType<typeof createLocalMediaStore>, id: string) {
  const temp = store.tempPath(id);
  fs.writeFileSync(temp, 'video');
  const media = await store.putFile(`results/${id}.mp4`, temp, 'video/mp4');
  acceptVideo(
    t.db,
    clock,
    { identity: { platform: 'console', platformUserId: 'u' }, dest: { platform: 'console', chatId: 'c', userId: 'u' }, intakeKey: id, prompt: 'p', options: {} },
    { prompt: 'p', model: MODELS[0]!, params: { durationS: 5, resolution: '480p', aspectRatio: '16:9' }, price: 40, costUsd: 0.1 },
    settings,
    id,
    undefined,
  );
  finishJob(t.db, clock, id, 'queued', { status: 'cancelled', errorKind: 'x', errorMessage: 'x' });
  t.db.$client.prepare('update jobs set media_key = ?, media_url = ? where id = ?').run(media.key, media.url, id);
  return media;
}

describe('media retention', () => {
  describe('when stored media outlive the retention period', () => {
    it('removes the files of jobs that ended before the cutoff and forgets their keys, keeping the rest', async () => {
      const t = tempDb();
      const clock = manualClock();
      const dir = path.join(path.dirname(t.file), 'media');
      const store = createLocalMediaStore({ dir, publicBaseUrl: 'http://127.0.0.1:1' });
      await storedJob(t, clock, store, 'old1');
      clock.advance(20 * DAY);
      await storedJob(t, clock, store, 'new1');
      clock.advance(15 * DAY);

      expect(await pruneExpiredMedia(t.db, clock, store, 30, silentLogger)).toBe(1);
      expect(fs.existsSync(path.join(dir, 'results/old1.mp4'))).toBe(false);
      expect(fs.existsSync(path.join(dir, 'results/new1.mp4'))).toBe(true);
      expect(getJob(t.db, 'old1')!.mediaKey).toBeNull();
      expect(getJob(t.db, 'new1')!.mediaKey).toBe('results/new1.mp4');
      expect(await pruneExpiredMedia(t.db, clock, store, 30, silentLogger)).toBe(0);
      t.cleanup();
    });
  });
});

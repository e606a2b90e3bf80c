import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MediaError } from '../../src/core/errors.js';
import type { MediaStore } from '../../src/core/ports.js';
import type { LocalMediaStore } from '../../src/media/local-store.js';
import { FAST_RETRY } from '../helpers/engine-harness.js';
import { expectOutcome, failed, harnessPerTest, storedFiles, succeeded } from './outcome.js';

/**
 * Storage faults while the result is being stored, through the real engine, fetcher and local store: the disk
 * filling up as the download is written (a real ENOSPC from the kernel: the temp file is a link to /dev/full), the
 * store's putFile failing as a full disk makes it fail, and a results directory that cannot be created. The job
 * fails with "could not be stored", is refunded, and leaves no partial file; a fault that clears is retried and the
 * video is stored and delivered once. Only the storage port is wrapped; everything under it is real.
 */

const NOT_STORED = 'The generated video could not be stored on our side.';
/** Attempts per step under the harness's retry policy. */
const ATTEMPTS = FAST_RETRY.maxAttempts;

const harness = harnessPerTest();

/** A full disk under the store: every temp file it hands out for a result is a link to /dev/full (writes: ENOSPC). */
function diskFullForResults(store: LocalMediaStore): MediaStore {
  return {
    ...store,
    tempPath(name) {
      const temp = store.tempPath(name);
      if (name.endsWith('.part')) symlinkSync('/dev/full', temp);
      return temp;
    },
  };
}

/** A store whose putFile fails `times` times as the local store does when the disk is full, then works. */
function putFileFailing(times: number, calls: { n: number }) {
  return (store: LocalMediaStore): MediaStore => ({
    ...store,
    async putFile(key, tempPath, contentType) {
      if (++calls.n > times) return store.putFile(key, tempPath, contentType);
      // The store owns tempPath, success or not (the port's contract).
      await rm(tempPath, { force: true });
      const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      throw new MediaError('storage', `could not store ${key}`, { cause: enospc });
    },
  });
}

describe('storage faults', () => {
  describe('when the result cannot be stored, whatever the try', () => {
    it.skipIf(!existsSync('/dev/full'))(
      'the disk is full as the download is written: fails as not stored, refunds, leaves nothing',
      async () => {
        const h = await harness({ wrapStore: diskFullForResults });
        const job = await h.submit('ann', 'a fox for a full disk');

        await expectOutcome(h, job, failed('media_storage', NOT_STORED));
        expect(h.sim.stats.fileCalls).toBe(ATTEMPTS);
        expect(storedFiles(h, job.id)).toEqual({ result: [], temp: [] });
      },
    );

    it('putFile fails with ENOSPC: fails as not stored, refunds, leaves nothing', async () => {
      const calls = { n: 0 };
      const h = await harness({ wrapStore: putFileFailing(Infinity, calls) });
      const job = await h.submit('ann', 'a fox the store refuses');

      await expectOutcome(h, job, failed('media_storage', NOT_STORED));
      expect(calls.n).toBe(ATTEMPTS);
      expect(storedFiles(h, job.id)).toEqual({ result: [], temp: [] });
    });

    it('the results directory cannot be created: fails as not stored, refunds, leaves nothing', async () => {
      const h = await harness();
      // A file where the store wants its results directory: every mkdir there fails, as root too.
      mkdirSync(path.join(h.dir, 'media'), { recursive: true });
      writeFileSync(path.join(h.dir, 'media', 'results'), 'not a directory');
      const job = await h.submit('ann', 'a fox with nowhere to go');

      await expectOutcome(h, job, failed('media_storage', NOT_STORED));
      expect(storedFiles(h, job.id)).toEqual({ result: [], temp: [] });
    });
  });

  describe('when the disk is full only for a moment', () => {
    it('stores the video on the next try, and delivers and charges it once', async () => {
      const calls = { n: 0 };
      const h = await harness({ wrapStore: putFileFailing(1, calls) });
      const job = await h.submit('ann', 'a fox after a full disk');

      await expectOutcome(h, job, succeeded);
      expect(calls.n).toBe(2);
      expect(storedFiles(h, job.id)).toEqual({ result: [`${job.id}.mp4`], temp: [] });
    });
  });
});

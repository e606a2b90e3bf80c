import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MediaError } from '../../src/core/errors.js';
import { extractLastFramePng } from '../../src/media/last-frame.js';
import { SIM_ASSETS } from '../../src/sim/assets.js';
import { tempDir } from '../helpers/db.js';
import { rejection } from '../helpers/outcomes.js';
import { framePng, lastFrameTheSlowWay, pngSize } from '../helpers/png.js';

const VIDEO_480P = fileURLToPath(SIM_ASSETS.video480p);
const VIDEO_720P = fileURLToPath(SIM_ASSETS.video720p);

const mediaError = (promise: Promise<unknown>) => rejection(promise, MediaError);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function scratch(): string {
  const { dir, cleanup } = tempDir('clipbot-last-frame-');
  cleanups.push(cleanup);
  return dir;
}

describe('extractLastFramePng', () => {
  describe('when given a real MP4', () => {
    it('returns the clip’s very last frame (the 120th of 5 s at 24 fps) as a PNG of the video’s size', async () => {
      const png = await extractLastFramePng(VIDEO_480P);
      // The simulators' 480p sample is 854×480 (ffmpeg -i says so).
      expect(pngSize(png)).toEqual({ width: 854, height: 480 });
      expect(png.equals(framePng(VIDEO_480P, 119))).toBe(true);
      expect(png.equals(lastFrameTheSlowWay(VIDEO_480P))).toBe(true);
      expect(png.equals(framePng(VIDEO_480P, 0))).toBe(false);
    });

    it('reads the 720p sample at 1280×720', async () => {
      const png = await extractLastFramePng(VIDEO_720P);
      expect(pngSize(png)).toEqual({ width: 1280, height: 720 });
      expect(png.equals(lastFrameTheSlowWay(VIDEO_720P))).toBe(true);
    });

    it('reads a path with spaces and quotes as one argument (no shell)', async () => {
      const odd = path.join(scratch(), `it's a "clip"; rm -rf x.mp4`);
      fs.copyFileSync(VIDEO_480P, odd);
      expect(pngSize(await extractLastFramePng(odd))).toEqual({ width: 854, height: 480 });
    });
  });

  describe('when the file cannot be used', () => {
    it('refuses a missing file as not_found', async () => {
      expect((await mediaError(extractLastFramePng(path.join(scratch(), 'gone.mp4')))).kind).toBe('not_found');
    });

    it('refuses bytes that are not a video, and an MP4 cut in half, as bad_type with ffmpeg’s words for the log', async () => {
      const dir = scratch();
      const garbage = path.join(dir, 'garbage.mp4');
      fs.writeFileSync(garbage, 'this is not a video\n'.repeat(100));
      const error = await mediaError(extractLastFramePng(garbage));
      expect(error.kind).toBe('bad_type');
      expect(error.detail).toMatch(/Invalid data|moov atom not found/);

      const cut = path.join(dir, 'cut.mp4');
      const whole = fs.readFileSync(VIDEO_480P);
      fs.writeFileSync(cut, whole.subarray(0, whole.length / 2));
      expect((await mediaError(extractLastFramePng(cut))).kind).toBe('bad_type');
    });

    it('kills ffmpeg and refuses a frame larger than the cap as too_large', async () => {
      expect((await mediaError(extractLastFramePng(VIDEO_720P, { maxBytes: 4096 }))).kind).toBe('too_large');
    });

    it('kills ffmpeg and refuses as timeout when the video never arrives (a FIFO nobody writes)', async () => {
      const fifo = path.join(scratch(), 'never.mp4');
      execFileSync('mkfifo', [fifo]);
      const error = await mediaError(extractLastFramePng(fifo, { timeoutMs: 300 }));
      expect(error.kind).toBe('timeout');
    });
  });
});

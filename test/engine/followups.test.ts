import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { pruneExpiredMedia } from '../../src/core/media-retention.js';
import { silentLogger } from '../../src/logger.js';
import { createLocalMediaStore } from '../../src/media/local-store.js';
import { FAL_SIM_MARKERS } from '../../src/sim/fal.js';
import { KIE_SIM_MARKERS } from '../../src/sim/kie.js';
import { EngineHarness } from '../helpers/engine-harness.js';
import { expectJobLedger, expectLedgerBalanced } from '../helpers/ledger.js';
import { followupOrder, rejection } from '../helpers/outcomes.js';
import { lastFrameTheSlowWay, pngOfDataUri, pngSize } from '../helpers/png.js';

/**
 * Follow-ups (Extend, Upscale) through the real engine, kie adapter and kie simulator, on the test store
 * (SQLite, or PostgreSQL under CLIPBOT_TEST_STORE=postgres): each is a job of its own with its own hold, settled once.
 */

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function harness() {
  h = await EngineHarness.start({
    kie: { queueMs: 0, runMs: 60, hdReadyMs: 60, uhdReadyMs: 60 },
    settings: { startingCredits: 1000 },
  });
  return h;
}

/** A delivered Veo 3.1 Fast clip at 720p (160 credits: 100 per 5 s, 8 s). */
async function deliveredVeo(t: EngineHarness, user = 'ann') {
  const job = await t.submit(user, 'a red fox running through snow', { modelId: 'veo3.1-fast', options: {} });
  expect(job.price).toBe(160);
  return t.engine.waitForJob(job.id);
}

const refusal = (promise: Promise<unknown>) => rejection(promise, UserError);

describe('follow-ups of a delivered clip', () => {
  describe('when the requester upscales a 720p Veo clip', () => {
    it('offers 1080p, 4K and Extend under the clip, then makes the 1080p copy as a child job charged the difference', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      expect(t.platform.deliveries[0]!.delivery.followups).toEqual({
        upscaleTo: [
          { resolution: '1080p', price: 32 },
          { resolution: '4k', price: 320 },
        ],
        extend: { price: 160 },
      });

      const { job } = await t.engine.followup(followupOrder(t, 'ann', { kind: 'upscale', parentJobId: parent.id }));
      expect(job).toMatchObject({
        parentJobId: parent.id,
        followup: 'upscale',
        model: 'veo3.1-fast',
        price: 192 - 160,
        prompt: parent.prompt,
      });
      expect(job.params.resolution).toBe('1080p');
      expect(await t.balance('ann')).toBe(1000 - 160 - 32);
      const done = await t.engine.waitForJob(job.id);

      expect(done.status).toBe('succeeded');
      expect(done.resultUrl).toBe(`${t.kie!.url}/files/${parent.providerTaskId}/output-1080p.mp4`);
      // No second generation at kie: the parent's task was upgraded.
      expect(t.kie!.stats.submissions).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 160 - 32);
      await expectJobLedger(t.rows, done);
      await expectLedgerBalanced(t.rows);
      // An upscaled clip offers nothing more.
      expect(t.platform.deliveries.at(-1)!.delivery).toMatchObject({
        jobId: job.id,
        followups: { upscaleTo: [], extend: null },
      });
    });

    it('charges 4K its own difference (480 − 160) and delivers kie’s 4K video', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      const { job } = await t.engine.followup(
        followupOrder(t, 'ann', { kind: 'upscale', parentJobId: parent.id, resolution: '4k' }),
      );
      expect(job.price).toBe(320);
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(t.kie!.request(done.resultUrl!.split('/').at(-2)!)).toMatchObject({ upgradeOf: parent.providerTaskId });
      expect(await t.balance('ann')).toBe(1000 - 160 - 320);
      await expectLedgerBalanced(t.rows);
    });

    it('refunds the difference when kie has no 4K version', async () => {
      const t = await harness();
      const job = await t.submit('ann', `a fox ${KIE_SIM_MARKERS.uhdUnavailable}`, {
        modelId: 'veo3.1-fast',
        options: {},
      });
      const parent = await t.engine.waitForJob(job.id);
      const { job: up } = await t.engine.followup(
        followupOrder(t, 'ann', { kind: 'upscale', parentJobId: parent.id, resolution: '4k' }),
      );
      const done = await t.engine.waitForJob(up.id);
      expect(done.status).toBe('failed');
      expect(await t.balance('ann')).toBe(1000 - 160);
      await expectJobLedger(t.rows, done);
      await expectLedgerBalanced(t.rows);
    });
  });

  describe('when the requester extends a clip', () => {
    it('submits kie’s extend of the parent task with the new prompt, charges a new clip and delivers the joined video', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      const { job } = await t.engine.followup(
        followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'the fox dives into a river' }),
      );
      expect(job).toMatchObject({
        parentJobId: parent.id,
        followup: 'extend',
        prompt: 'the fox dives into a river',
        price: 160,
      });
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(t.kie!.request(done.providerTaskId!)).toMatchObject({
        extendOf: parent.providerTaskId,
        input: { prompt: 'the fox dives into a river' },
      });
      expect(done.resultUrl).toMatch(/\/full\.mp4$/);
      expect(await t.balance('ann')).toBe(1000 - 160 - 160);
      await expectLedgerBalanced(t.rows);
      // A continuation is a 720p Veo clip of its own: it can be followed up again.
      expect(t.platform.deliveries.at(-1)!.delivery.followups).toEqual({
        upscaleTo: [
          { resolution: '1080p', price: 32 },
          { resolution: '4k', price: 320 },
        ],
        extend: { price: 160 },
      });
    });

    it('refunds the whole hold when kie fails the continuation', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      const { job } = await t.engine.followup(
        followupOrder(t, 'ann', {
          kind: 'extend',
          parentJobId: parent.id,
          prompt: `it explodes ${KIE_SIM_MARKERS.fail}`,
        }),
      );
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('failed');
      expect(await t.balance('ann')).toBe(1000 - 160);
      await expectJobLedger(t.rows, done);
      await expectLedgerBalanced(t.rows);
    });

    it('refuses an empty prompt and charges nothing', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      expect(
        (
          await refusal(
            t.engine.followup(followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: '  ' })),
          )
        ).identifier,
      ).toBe('prompt_empty');
      expect(await t.jobCount()).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 160);
    });
  });

  describe('when the requester extends an Ark clip', () => {
    it('continues from the parent task’s last frame as image-to-video, charged as a new clip, and delivers the continuation', async () => {
      h = await EngineHarness.start({ ark: { queueMs: 0, runMs: 60 }, settings: { startingCredits: 1000 } });
      const t = h;
      const first = await t.submit('ann', 'a fox in the snow', {
        modelId: 'seedance-2-ark',
        options: { resolution: '480p', duration: 5 },
      });
      const parent = await t.engine.waitForJob(first.id);
      expect(t.platform.deliveries[0]!.delivery.followups).toEqual({ upscaleTo: [], extend: { price: parent.price } });
      const { job } = await t.engine.followup(
        followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'the fox dives into a river' }),
      );
      expect(job).toMatchObject({ followup: 'extend', parentJobId: parent.id, price: parent.price });
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(t.ark!.task(done.providerTaskId!)).toMatchObject({
        prompt: 'the fox dives into a river',
        image: { role: 'first_frame', url: expect.stringContaining(`/files/${parent.providerTaskId}/last_frame.png`) },
      });
      expect(await t.balance('ann')).toBe(1000 - 2 * parent.price);
      await expectLedgerBalanced(t.rows);
    });
  });

  describe('when the requester extends a fal clip (fal has no extend call)', () => {
    async function falHarness() {
      h = await EngineHarness.start({ sim: { queueMs: 0, runMs: 60 }, settings: { startingCredits: 1000 } });
      return h;
    }
    /** A delivered Seedance 1.0 Pro clip at 720p (50 credits) and where our store keeps it. */
    async function deliveredFal(t: EngineHarness, prompt = 'a fox in the snow') {
      const parent = await t.engine.waitForJob(
        (await t.submit('ann', prompt, { options: { resolution: '720p', duration: 5 } })).id,
      );
      expect(parent.status).toBe('succeeded');
      const file = createLocalMediaStore({
        dir: path.join(t.dir, 'media'),
        publicBaseUrl: 'http://127.0.0.1:9',
      }).localPath(parent.mediaKey!)!;
      return { parent, file };
    }
    /** Files in the store's temp dir and in inputs/: a refused Extend must leave none. */
    const leftovers = (t: EngineHarness) =>
      ['.tmp', 'inputs'].flatMap((d) =>
        fs.existsSync(path.join(t.dir, 'media', d)) ? fs.readdirSync(path.join(t.dir, 'media', d)) : [],
      );

    it('sends fal image-to-video with the last frame of our stored clip and the new prompt, charged as a new clip', async () => {
      const t = await falHarness();
      const { parent, file } = await deliveredFal(t);
      expect(t.platform.deliveries[0]!.delivery.followups).toEqual({ upscaleTo: [], extend: { price: 50 } });

      const { job } = await t.engine.followup(
        followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'the fox dives into a river' }),
      );
      expect(job).toMatchObject({
        parentJobId: parent.id,
        followup: 'extend',
        providerModel: 'fal-ai/bytedance/seedance/v1/pro/image-to-video',
        inputMediaKey: `inputs/${job.id}.png`,
        price: 50,
      });
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');

      const sent = t.sim.request(done.providerTaskId!)!;
      expect(sent).toMatchObject({
        model: 'fal-ai/bytedance/seedance/v1/pro/image-to-video',
        input: { prompt: 'the fox dives into a river', resolution: '720p' },
      });
      // No public URL here: the frame goes inline, as the schema's image_url allows.
      const frame = pngOfDataUri(sent.input['image_url']);
      expect(pngSize(frame)).toEqual({ width: 1280, height: 720 });
      expect(frame.equals(lastFrameTheSlowWay(file))).toBe(true);
      expect(t.sim.stats.submissions).toBe(2);
      expect(await t.balance('ann')).toBe(1000 - 50 - 50);
      await expectJobLedger(t.rows, done);
      await expectLedgerBalanced(t.rows);
      // The continuation is a fal clip of its own: it can be extended again.
      expect(t.platform.deliveries.at(-1)!.delivery).toMatchObject({
        jobId: job.id,
        followups: { upscaleTo: [], extend: { price: 50 } },
      });
    });

    it('copies the clip out of a store with no local files (S3) to read its frame, and leaves no copy behind', async () => {
      // The real local store, seen through the port as an S3 store is: no local path, only openRead.
      const t = (h = await EngineHarness.start({
        sim: { queueMs: 0, runMs: 60 },
        settings: { startingCredits: 1000 },
        wrapStore: (local) => ({ ...local, localPath: () => undefined }),
      }));
      const { parent, file } = await deliveredFal(t);
      const { job } = await t.engine.followup(
        followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'the fox dives into a river' }),
      );
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(
        pngOfDataUri(t.sim.request(done.providerTaskId!)!.input['image_url']).equals(lastFrameTheSlowWay(file)),
      ).toBe(true);
      expect(leftovers(t)).toEqual([`${job.id}.png`]);
    });

    it('refunds the whole hold when fal fails the continuation', async () => {
      const t = await falHarness();
      const { parent } = await deliveredFal(t);
      const { job } = await t.engine.followup(
        followupOrder(t, 'ann', {
          kind: 'extend',
          parentJobId: parent.id,
          prompt: `it explodes ${FAL_SIM_MARKERS.fail}`,
        }),
      );
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('failed');
      expect(t.sim.request(done.providerTaskId!)!.input['image_url']).toMatch(/^data:image\/png;base64,/);
      expect(await t.balance('ann')).toBe(1000 - 50);
      await expectJobLedger(t.rows, done);
      await expectLedgerBalanced(t.rows);
    });

    it('refuses once media retention removed the clip, with nothing charged, no job and no file', async () => {
      const t = await falHarness();
      const { parent } = await deliveredFal(t);
      const later = { now: () => Date.now() + 31 * 86_400_000 };
      const store = createLocalMediaStore({ dir: path.join(t.dir, 'media'), publicBaseUrl: 'http://127.0.0.1:9' });
      expect(await pruneExpiredMedia(t.db, later, store, 30, silentLogger)).toBe(1);

      const error = await refusal(
        t.engine.followup(followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'more' })),
      );
      expect(error.identifier).toBe('clip_gone');
      expect(error.message).toMatch(/no longer stored/);
      expect(await t.jobCount()).toBe(1);
      expect(await t.holdCount()).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 50);
      expect(leftovers(t)).toEqual([]);
      expect(t.sim.stats.submissions).toBe(1);
    });

    it('refuses a clip whose file went missing or is no video any more, with nothing charged, no job and no file', async () => {
      const t = await falHarness();
      const { parent, file } = await deliveredFal(t);
      fs.writeFileSync(file, 'not a video');
      const unreadable = await refusal(
        t.engine.followup(followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'more' })),
      );
      expect(unreadable.identifier).toBe('last_frame_unreadable');
      fs.rmSync(file);
      expect(
        (
          await refusal(
            t.engine.followup(followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'more' })),
          )
        ).identifier,
      ).toBe('clip_gone');
      expect(await t.jobCount()).toBe(1);
      expect(await t.holdCount()).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 50);
      expect(leftovers(t)).toEqual([]);
    });

    it('retries a continuation from the same stored frame, without reading the parent clip again', async () => {
      const t = await falHarness();
      const { parent, file } = await deliveredFal(t);
      const { job } = await t.engine.followup(
        followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'the fox dives into a river' }),
      );
      const first = await t.engine.waitForJob(job.id);
      fs.rmSync(file);
      const { identity, dest, intakeKey } = t.request('ann', '');
      const again = await t.engine.waitForJob((await t.engine.retry(first.id, { identity, dest, intakeKey })).job.id);
      expect(again.status).toBe('succeeded');
      const frame = (id: string) => pngOfDataUri(t.sim.request(id)!.input['image_url']);
      expect(frame(again.providerTaskId!).equals(frame(first.providerTaskId!))).toBe(true);
    });
  });

  describe('when it cannot or may not be done', () => {
    it('refuses another member, with nothing charged to anyone and no job made', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      expect(
        (await refusal(t.engine.followup(followupOrder(t, 'bob', { kind: 'upscale', parentJobId: parent.id }))))
          .identifier,
      ).toBe('not_yours');
      expect(await t.jobCount()).toBe(1);
      expect(await t.holdCount()).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 160);
    });

    it('refuses a model without that follow-up, an unfinished clip, and a resolution the clip already has', async () => {
      const t = await harness();
      const seedance = await t.engine.waitForJob((await t.submit('ann', 'a fox')).id);
      expect(
        (await refusal(t.engine.followup(followupOrder(t, 'ann', { kind: 'upscale', parentJobId: seedance.id }))))
          .identifier,
      ).toBe('no_upscale');
      const running = await t.submit('ann', `a fox ${KIE_SIM_MARKERS.hang}`, { modelId: 'veo3.1-fast', options: {} });
      expect(
        (await refusal(t.engine.followup(followupOrder(t, 'ann', { kind: 'upscale', parentJobId: running.id }))))
          .identifier,
      ).toBe('no_upscale');
      const hd = await t.engine.waitForJob(
        (await t.submit('ann', 'a fox', { modelId: 'veo3.1-fast', options: { resolution: '1080p' } })).id,
      );
      expect(
        (
          await refusal(
            t.engine.followup(followupOrder(t, 'ann', { kind: 'upscale', parentJobId: hd.id, resolution: '1080p' })),
          )
        ).identifier,
      ).toBe('no_upscale');
      expect(
        (
          await refusal(
            t.engine.followup(followupOrder(t, 'ann', { kind: 'extend', parentJobId: hd.id, prompt: 'more' })),
          )
        ).identifier,
      ).toBe('no_extend');
      expect((await t.rows.jobs()).filter((j) => j.parentJobId !== null)).toEqual([]);
    });

    it('refuses to extend a clip once it was upscaled (kie would refuse it), and allows it again if the upscale failed', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      const up = await t.engine.followup(followupOrder(t, 'ann', { kind: 'upscale', parentJobId: parent.id }));
      await t.engine.waitForJob(up.job.id);
      expect(
        (
          await refusal(
            t.engine.followup(followupOrder(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'more' })),
          )
        ).identifier,
      ).toBe('extend_after_upscale');
      expect(await t.jobCount()).toBe(2);
      expect(await t.balance('ann')).toBe(1000 - 160 - 32);

      const other = await t.engine.waitForJob(
        (await t.submit('ann', `a fox ${KIE_SIM_MARKERS.uhdUnavailable}`, { modelId: 'veo3.1-fast', options: {} })).id,
      );
      const failed = await t.engine.followup(
        followupOrder(t, 'ann', { kind: 'upscale', parentJobId: other.id, resolution: '4k' }),
      );
      expect((await t.engine.waitForJob(failed.job.id)).status).toBe('failed');
      const { job } = await t.engine.followup(
        followupOrder(t, 'ann', { kind: 'extend', parentJobId: other.id, prompt: 'more' }),
      );
      expect((await t.engine.waitForJob(job.id)).status).toBe('succeeded');
      await expectLedgerBalanced(t.rows);
    });

    it('refuses a member who cannot pay the difference, and charges nothing', async () => {
      h = await EngineHarness.start({ kie: { queueMs: 0, runMs: 60 }, settings: { startingCredits: 200 } });
      const parent = await deliveredVeo(h);
      expect(
        (
          await refusal(
            h.engine.followup(followupOrder(h, 'ann', { kind: 'upscale', parentJobId: parent.id, resolution: '4k' })),
          )
        ).identifier,
      ).toBe('insufficient_credits');
      expect(await h.jobCount()).toBe(1);
      expect(await h.balance('ann')).toBe(40);
    });

    it('makes one job of one press delivered twice (the same intake key)', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      const press = followupOrder(t, 'ann', { kind: 'upscale', parentJobId: parent.id });
      const first = await t.engine.followup(press);
      const again = await t.engine.followup(press);
      expect(again).toMatchObject({ duplicate: true, job: { id: first.job.id } });
      await t.engine.waitForJob(first.job.id);
      expect(await t.holdCount()).toBe(2);
    });
  });
});

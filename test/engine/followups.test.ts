import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import type { FollowupOrder } from '../../src/core/engine/followups.js';
import { KIE_SIM_MARKERS } from '../../src/sim/kie.js';
import { EngineHarness } from '../helpers/engine-harness.js';
import { expectJobLedger, expectLedgerBalanced } from '../helpers/ledger.js';

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
  h = await EngineHarness.start({ kie: { queueMs: 0, runMs: 60, hdReadyMs: 60, uhdReadyMs: 60 }, settings: { startingCredits: 1000 } });
  return h;
}

/** A delivered Veo 3.1 Fast clip at 720p (160 credits: 100 per 5 s, 8 s). */
async function deliveredVeo(t: EngineHarness, user = 'ann') {
  const job = await t.submit(user, 'a red fox running through snow', { modelId: 'veo3.1-fast', options: {} });
  expect(job.price).toBe(160);
  return t.engine.waitForJob(job.id);
}

const order = (t: EngineHarness, user: string, extra: Omit<FollowupOrder, 'identity' | 'dest' | 'intakeKey'>): FollowupOrder => {
  const { identity, dest, intakeKey } = t.request(user, '');
  return { identity, dest, intakeKey, ...extra };
};

async function refusal(promise: Promise<unknown>): Promise<UserError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(UserError);
  return error as UserError;
}

describe('follow-ups of a delivered clip', () => {
  describe('when the requester upscales a 720p Veo clip', () => {
    it('offers 1080p, 4K and Extend under the clip, then makes the 1080p copy as a child job charged the difference', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      expect(t.platform.deliveries[0]!.delivery.followups).toEqual({ upscaleTo: [{ resolution: '1080p', price: 32 }, { resolution: '4k', price: 320 }], extend: { price: 160 } });

      const { job } = await t.engine.followup(order(t, 'ann', { kind: 'upscale', parentJobId: parent.id }));
      expect(job).toMatchObject({ parentJobId: parent.id, followup: 'upscale', model: 'veo3.1-fast', price: 192 - 160, prompt: parent.prompt });
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
      expect(t.platform.deliveries.at(-1)!.delivery).toMatchObject({ jobId: job.id, followups: { upscaleTo: [], extend: null } });
    });

    it('charges 4K its own difference (480 − 160) and delivers kie’s 4K video', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      const { job } = await t.engine.followup(order(t, 'ann', { kind: 'upscale', parentJobId: parent.id, resolution: '4k' }));
      expect(job.price).toBe(320);
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(t.kie!.request(done.resultUrl!.split('/').at(-2)!)).toMatchObject({ upgradeOf: parent.providerTaskId });
      expect(await t.balance('ann')).toBe(1000 - 160 - 320);
      await expectLedgerBalanced(t.rows);
    });

    it('refunds the difference when kie has no 4K version', async () => {
      const t = await harness();
      const job = await t.submit('ann', `a fox ${KIE_SIM_MARKERS.uhdUnavailable}`, { modelId: 'veo3.1-fast', options: {} });
      const parent = await t.engine.waitForJob(job.id);
      const { job: up } = await t.engine.followup(order(t, 'ann', { kind: 'upscale', parentJobId: parent.id, resolution: '4k' }));
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
      const { job } = await t.engine.followup(order(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'the fox dives into a river' }));
      expect(job).toMatchObject({ parentJobId: parent.id, followup: 'extend', prompt: 'the fox dives into a river', price: 160 });
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(t.kie!.request(done.providerTaskId!)).toMatchObject({ extendOf: parent.providerTaskId, input: { prompt: 'the fox dives into a river' } });
      expect(done.resultUrl).toMatch(/\/full\.mp4$/);
      expect(await t.balance('ann')).toBe(1000 - 160 - 160);
      await expectLedgerBalanced(t.rows);
      // A continuation is a 720p Veo clip of its own: it can be followed up again.
      expect(t.platform.deliveries.at(-1)!.delivery.followups).toEqual({ upscaleTo: [{ resolution: '1080p', price: 32 }, { resolution: '4k', price: 320 }], extend: { price: 160 } });
    });

    it('refunds the whole hold when kie fails the continuation', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      const { job } = await t.engine.followup(order(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: `it explodes ${KIE_SIM_MARKERS.fail}` }));
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('failed');
      expect(await t.balance('ann')).toBe(1000 - 160);
      await expectJobLedger(t.rows, done);
      await expectLedgerBalanced(t.rows);
    });

    it('refuses an empty prompt and charges nothing', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      expect((await refusal(t.engine.followup(order(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: '  ' })))).identifier).toBe('prompt_empty');
      expect(await t.jobCount()).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 160);
    });
  });

  describe('when the requester extends an Ark clip', () => {
    it('continues from the parent task’s last frame as image-to-video, charged as a new clip, and delivers the continuation', async () => {
      h = await EngineHarness.start({ ark: { queueMs: 0, runMs: 60 }, settings: { startingCredits: 1000 } });
      const t = h;
      const first = await t.submit('ann', 'a fox in the snow', { modelId: 'seedance-2-ark', options: { resolution: '480p', duration: 5 } });
      const parent = await t.engine.waitForJob(first.id);
      expect(t.platform.deliveries[0]!.delivery.followups).toEqual({ upscaleTo: [], extend: { price: parent.price } });
      const { job } = await t.engine.followup(order(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'the fox dives into a river' }));
      expect(job).toMatchObject({ followup: 'extend', parentJobId: parent.id, price: parent.price });
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(t.ark!.task(done.providerTaskId!)).toMatchObject({ prompt: 'the fox dives into a river', image: { role: 'first_frame', url: expect.stringContaining(`/files/${parent.providerTaskId}/last_frame.png`) } });
      expect(await t.balance('ann')).toBe(1000 - 2 * parent.price);
      await expectLedgerBalanced(t.rows);
    });
  });

  describe('when it cannot or may not be done', () => {
    it('refuses another member, with nothing charged to anyone and no job made', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      expect((await refusal(t.engine.followup(order(t, 'bob', { kind: 'upscale', parentJobId: parent.id })))).identifier).toBe('not_yours');
      expect(await t.jobCount()).toBe(1);
      expect(await t.holdCount()).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 160);
    });

    it('refuses a model without follow-ups, an unfinished clip, and a resolution the clip already has', async () => {
      const t = await harness();
      const seedance = await t.engine.waitForJob((await t.submit('ann', 'a fox')).id);
      expect((await refusal(t.engine.followup(order(t, 'ann', { kind: 'upscale', parentJobId: seedance.id })))).identifier).toBe('no_upscale');
      expect((await refusal(t.engine.followup(order(t, 'ann', { kind: 'extend', parentJobId: seedance.id, prompt: 'more' })))).identifier).toBe('no_extend');
      const running = await t.submit('ann', `a fox ${KIE_SIM_MARKERS.hang}`, { modelId: 'veo3.1-fast', options: {} });
      expect((await refusal(t.engine.followup(order(t, 'ann', { kind: 'upscale', parentJobId: running.id })))).identifier).toBe('no_upscale');
      const hd = await t.engine.waitForJob((await t.submit('ann', 'a fox', { modelId: 'veo3.1-fast', options: { resolution: '1080p' } })).id);
      expect((await refusal(t.engine.followup(order(t, 'ann', { kind: 'upscale', parentJobId: hd.id, resolution: '1080p' })))).identifier).toBe('no_upscale');
      expect((await refusal(t.engine.followup(order(t, 'ann', { kind: 'extend', parentJobId: hd.id, prompt: 'more' })))).identifier).toBe('no_extend');
      expect((await t.rows.jobs()).filter((j) => j.parentJobId !== null)).toEqual([]);
    });

    it('refuses to extend a clip once it was upscaled (kie would refuse it), and allows it again if the upscale failed', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      const up = await t.engine.followup(order(t, 'ann', { kind: 'upscale', parentJobId: parent.id }));
      await t.engine.waitForJob(up.job.id);
      expect((await refusal(t.engine.followup(order(t, 'ann', { kind: 'extend', parentJobId: parent.id, prompt: 'more' })))).identifier).toBe('extend_after_upscale');
      expect(await t.jobCount()).toBe(2);
      expect(await t.balance('ann')).toBe(1000 - 160 - 32);

      const other = await t.engine.waitForJob((await t.submit('ann', `a fox ${KIE_SIM_MARKERS.uhdUnavailable}`, { modelId: 'veo3.1-fast', options: {} })).id);
      const failed = await t.engine.followup(order(t, 'ann', { kind: 'upscale', parentJobId: other.id, resolution: '4k' }));
      expect((await t.engine.waitForJob(failed.job.id)).status).toBe('failed');
      const { job } = await t.engine.followup(order(t, 'ann', { kind: 'extend', parentJobId: other.id, prompt: 'more' }));
      expect((await t.engine.waitForJob(job.id)).status).toBe('succeeded');
      await expectLedgerBalanced(t.rows);
    });

    it('refuses a member who cannot pay the difference, and charges nothing', async () => {
      h = await EngineHarness.start({ kie: { queueMs: 0, runMs: 60 }, settings: { startingCredits: 200 } });
      const parent = await deliveredVeo(h);
      expect((await refusal(h.engine.followup(order(h, 'ann', { kind: 'upscale', parentJobId: parent.id, resolution: '4k' })))).identifier).toBe('insufficient_credits');
      expect(await h.jobCount()).toBe(1);
      expect(await h.balance('ann')).toBe(40);
    });

    it('makes one job of one press delivered twice (the same intake key)', async () => {
      const t = await harness();
      const parent = await deliveredVeo(t);
      const press = order(t, 'ann', { kind: 'upscale', parentJobId: parent.id });
      const first = await t.engine.followup(press);
      const again = await t.engine.followup(press);
      expect(again).toMatchObject({ duplicate: true, job: { id: first.job.id } });
      await t.engine.waitForJob(first.job.id);
      expect(await t.holdCount()).toBe(2);
    });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { updateChatSettings } from '../../src/core/chat-settings.js';
import type { VideoRequest } from '../../src/core/engine/intake.js';
import { QUOTE_TTL_MS, type RequestOutcome } from '../../src/core/engine/quotes.js';
import { findUser } from '../../src/core/users.js';
import { EngineHarness } from '../helpers/engine-harness.js';
import { jobOf, refusal } from '../helpers/outcomes.js';

/**
 * Quote and Confirm at the engine: above `confirmAboveCredits` a request is stored as a quote and nothing is held
 * until Confirm. Runs on SQLite and, with CLIPBOT_TEST_STORE=postgres, on PostgreSQL.
 */

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The engine's clock, moved by the test instead of sleeping. */
const clock = {
  offset: 0,
  now() {
    return Date.now() + this.offset;
  },
};

// seedance-1-pro: 40 credits for 5 s at 480p, 50 at 720p; the harness starts members with 200.
async function harness(options: Parameters<typeof EngineHarness.start>[0] = {}): Promise<EngineHarness> {
  clock.offset = 0;
  h = await EngineHarness.start({ settings: { confirmAboveCredits: 45 }, clock, ...options });
  return h;
}

const at720 = (extra: Partial<VideoRequest> = {}): Partial<VideoRequest> => ({
  options: { resolution: '720p', duration: 5 },
  ...extra,
});
const ann = { platform: 'console', platformUserId: 'ann' } as const;
const press = (t: EngineHarness, user = 'ann') => ({ dest: t.request(user, '').dest });

function quoteOf(outcome: RequestOutcome) {
  if (outcome.kind !== 'quote') throw new Error(`expected a quote, got ${outcome.kind}`);
  return outcome.quote;
}

describe('quote and confirm', () => {
  describe('when the price is at most the threshold', () => {
    it('makes the job at once, as before', async () => {
      const t = await harness();
      const result = jobOf(await t.engine.requestVideo(t.request('ann', 'a fox')));
      expect(result.job.price).toBe(40);
      expect(await t.holdCount()).toBe(1);
      expect(await t.balance('ann')).toBe(160);
    });
  });

  describe('when the price is above the threshold', () => {
    it('quotes without holding anything, and Confirm makes one job with one hold at the quoted price', async () => {
      const t = await harness();
      const quote = quoteOf(await t.engine.requestVideo(t.request('ann', 'a fox', at720())));
      expect(quote).toMatchObject({ price: 50, model: 'seedance-1-pro', status: 'open' });
      expect(quote.expiresAt - quote.createdAt).toBe(QUOTE_TTL_MS);
      expect(await t.jobCount()).toBe(0);
      expect(await t.holdCount()).toBe(0);
      expect(await t.balance('ann')).toBe(200);

      const { job, duplicate } = jobOf(await t.engine.confirmQuote(quote.id, ann, press(t)));
      expect(duplicate).toBe(false);
      expect(job).toMatchObject({ price: 50, prompt: 'a fox', model: 'seedance-1-pro' });
      expect(await t.holdCount()).toBe(1);
      expect(await t.balance('ann')).toBe(150);
      expect(await t.engine.getQuote(quote.id)).toMatchObject({ status: 'confirmed', jobId: job.id });
      expect((await t.engine.waitForJob(job.id)).status).toBe('succeeded');
    });

    it('refuses a member who could not pay before quoting', async () => {
      const t = await harness();
      expect(
        await refusal(
          t.engine.requestVideo(
            t.request('ann', 'a fox', { modelId: 'seedance-2', options: { resolution: '720p', duration: 10 } }),
          ),
        ),
      ).toBe('insufficient_credits');
      expect(await t.holdCount()).toBe(0);
    });

    it('makes one job when Confirm is pressed twice, one after the other or at once', async () => {
      const t = await harness();
      const first = quoteOf(await t.engine.requestVideo(t.request('ann', 'a fox', at720())));
      const a = jobOf(await t.engine.confirmQuote(first.id, ann, press(t)));
      const again = jobOf(await t.engine.confirmQuote(first.id, ann, press(t)));
      expect(again).toMatchObject({ duplicate: true, job: { id: a.job.id } });

      const second = quoteOf(await t.engine.requestVideo(t.request('ann', 'a hare', at720())));
      const presses = await Promise.allSettled(
        Array.from({ length: 4 }, () => t.engine.confirmQuote(second.id, ann, press(t))),
      );
      const made = presses.filter((p) => p.status === 'fulfilled').map((p) => jobOf(p.value));
      expect(made.length).toBeGreaterThan(0);
      expect(new Set(made.map((r) => r.job.id)).size).toBe(1);
      expect(made.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(await t.jobCount()).toBe(2);
      expect(await t.holdCount()).toBe(2);
      expect(await t.balance('ann')).toBe(100);
    });

    it('says an expired quote expired, and charges nothing', async () => {
      const t = await harness();
      const quote = quoteOf(await t.engine.requestVideo(t.request('ann', 'a fox', at720())));
      clock.offset = QUOTE_TTL_MS;
      expect(await refusal(t.engine.confirmQuote(quote.id, ann, press(t)))).toBe('quote_expired');
      expect(await refusal(t.engine.confirmQuote(quote.id, ann, press(t)))).toBe('quote_expired');
      expect((await t.engine.getQuote(quote.id))!.status).toBe('expired');
      expect(await t.jobCount()).toBe(0);
      expect(await t.balance('ann')).toBe(200);
    });

    it('lets only the member who asked confirm or cancel', async () => {
      const t = await harness();
      const quote = quoteOf(await t.engine.requestVideo(t.request('ann', 'a fox', at720())));
      const bob = { platform: 'console', platformUserId: 'bob' } as const;
      expect(await refusal(t.engine.confirmQuote(quote.id, bob, press(t, 'bob')))).toBe('quote_not_yours');
      expect(await refusal(t.engine.dropQuote(quote.id, bob))).toBe('quote_not_yours');
      expect(
        await refusal(t.engine.confirmQuote(quote.id, { platform: 'discord', platformUserId: 'ann' }, press(t))),
      ).toBe('quote_not_yours');
      expect((await t.engine.getQuote(quote.id))!.status).toBe('open');
      expect(await t.jobCount()).toBe(0);
    });

    it('refuses to charge when the price changed meanwhile, and quotes the new price instead', async () => {
      const t = await harness();
      const { modelId: _, ...request } = t.request('ann', 'a fox', at720());
      const quote = quoteOf(await t.engine.requestVideo(request));
      expect(quote).toMatchObject({ model: 'seedance-1-pro', price: 50 });
      const annId = (await findUser(t.db, 'console', 'ann'))!.id;
      await updateChatSettings(t.db, clock, { platform: 'console', chatId: 'chat' }, annId, {
        defaultModel: 'seedance-2',
      });

      const outcome = await t.engine.confirmQuote(quote.id, ann, press(t));
      if (outcome.kind !== 'requoted') throw new Error('expected a new quote');
      expect(outcome).toMatchObject({ previousPrice: 50, quote: { model: 'seedance-2', price: 190, status: 'open' } });
      expect((await t.engine.getQuote(quote.id))!.status).toBe('superseded');
      expect(await refusal(t.engine.confirmQuote(quote.id, ann, press(t)))).toBe('quote_superseded');
      expect(await t.jobCount()).toBe(0);
      expect(await t.balance('ann')).toBe(200);

      const { job } = jobOf(await t.engine.confirmQuote(outcome.quote.id, ann, press(t)));
      expect(job).toMatchObject({ model: 'seedance-2', price: 190 });
    });

    it('refuses a member whose balance dropped below the price meanwhile, holding nothing', async () => {
      const t = await harness();
      const quote = quoteOf(
        await t.engine.requestVideo(
          t.request('ann', 'a fox', at720({ options: { resolution: '720p', duration: 12 } })),
        ),
      );
      expect(quote.price).toBe(120);
      await t.submit('ann', 'another fox', { options: { resolution: '720p', duration: 10 } });
      expect(await t.balance('ann')).toBe(100);

      expect(await refusal(t.engine.confirmQuote(quote.id, ann, press(t)))).toBe('insufficient_credits');
      expect(await t.jobCount()).toBe(1);
      expect(await t.holdCount()).toBe(1);
      expect((await t.engine.getQuote(quote.id))!.status).toBe('open');
    });

    it('Cancel closes the quote with nothing held, and Confirm afterwards makes nothing', async () => {
      const t = await harness();
      const quote = quoteOf(await t.engine.requestVideo(t.request('ann', 'a fox', at720())));
      await t.engine.dropQuote(quote.id, ann);
      expect(await refusal(t.engine.confirmQuote(quote.id, ann, press(t)))).toBe('quote_cancelled');
      expect(await refusal(t.engine.dropQuote(quote.id, ann))).toBe('quote_cancelled');
      expect(await t.jobCount()).toBe(0);
      expect(await t.balance('ann')).toBe(200);
    });

    it('keeps the quote across a restart', async () => {
      const t = await harness();
      const quote = quoteOf(await t.engine.requestVideo(t.request('ann', 'a fox', at720())));
      await t.crash();
      await t.boot();
      const { job } = jobOf(await t.engine.confirmQuote(quote.id, ann, press(t)));
      expect(job.price).toBe(50);
    });

    it('quotes a Retry above the threshold, since it charges again', async () => {
      const t = await harness();
      const first = await t.submit('ann', 'a fox', { options: { resolution: '720p', duration: 5 } });
      await t.engine.waitForJob(first.id);
      const base = t.request('ann', '');
      const quote = quoteOf(
        await t.engine.requestRetry(first.id, { identity: base.identity, dest: base.dest, intakeKey: base.intakeKey }),
      );
      expect(quote).toMatchObject({ price: 50, request: { prompt: 'a fox' } });
      expect(await t.holdCount()).toBe(1);
      const { job } = jobOf(await t.engine.confirmQuote(quote.id, ann, press(t)));
      expect(job.id).not.toBe(first.id);
    });
  });

  describe('when a music video is priced above the threshold', () => {
    it('quotes /musicvideo too, with its song kept for Confirm', async () => {
      const t = await harness({ settings: { confirmAboveCredits: 25 }, kie: {} });
      const musicVideo = { taskId: 'task-1', audioId: 'audio-1', author: 'Ann' };
      const outcome = await t.engine.requestVideo(
        t.request('ann', 'Music video for Suno track audio-1', {
          modelId: 'suno-music-video',
          options: {},
          musicVideo,
        }),
      );
      if (outcome.kind !== 'quote') throw new Error('expected a quote');
      expect(outcome.detail.durationS).toBe(0);
      expect(outcome.quote).toMatchObject({ price: 30, request: { musicVideo } });
      const { job } = jobOf(await t.engine.confirmQuote(outcome.quote.id, ann, press(t)));
      expect(job).toMatchObject({ model: 'suno-music-video', price: 30, params: { musicVideo } });
    });
  });
});

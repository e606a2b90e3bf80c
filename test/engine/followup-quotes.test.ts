import { afterEach, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/core/catalog.js';
import type { RequestOutcome } from '../../src/core/engine/quotes.js';
import { EngineHarness, FAST_MODELS } from '../helpers/engine-harness.js';
import { expectLedgerBalanced } from '../helpers/ledger.js';
import { followupOrder, jobOf, refusal } from '../helpers/outcomes.js';

/**
 * Follow-ups under Quote and Confirm: Extend and Upscale charge like any job, so above `confirmAboveCredits` they are
 * quoted first, at the price their button showed, and Confirm runs the follow-up again from its parent. Real engine,
 * kie adapter and kie simulator, on the test store (SQLite, or PostgreSQL under CLIPBOT_TEST_STORE=postgres).
 */

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const ann = { platform: 'console', platformUserId: 'ann' } as const;

/** veo3.1-fast, 8 s at 720p: 160 credits; 1080p costs 32 more and 4K 320 more. Members start with 1000. */
async function harness(
  models: ModelSpec[] = FAST_MODELS,
  startingCredits = 1000,
): Promise<{ t: EngineHarness; parentId: string }> {
  h = await EngineHarness.start({
    kie: { queueMs: 0, runMs: 60, hdReadyMs: 60, uhdReadyMs: 60 },
    models,
    settings: { startingCredits, confirmAboveCredits: 100 },
  });
  const job = await h.submit('ann', 'a red fox running through snow', { modelId: 'veo3.1-fast', options: {} });
  const parent = await h.engine.waitForJob(job.id);
  expect(parent.status).toBe('succeeded');
  return { t: h, parentId: parent.id };
}

const press = (t: EngineHarness) => ({ dest: t.request('ann', '').dest });

function quoteOf(outcome: RequestOutcome) {
  if (outcome.kind !== 'quote') throw new Error(`expected a quote, got ${outcome.kind}`);
  return outcome;
}

describe('follow-ups under quote and confirm', () => {
  describe('when the follow-up costs at most the threshold', () => {
    it('makes it at once, at the price its button showed', async () => {
      const { t, parentId } = await harness();
      const offered = t.platform.deliveries[0]!.delivery.followups!.upscaleTo.find((u) => u.resolution === '1080p')!;
      const { job } = jobOf(
        await t.engine.requestFollowup(
          followupOrder(t, 'ann', { kind: 'upscale', parentJobId: parentId, resolution: '1080p' }),
        ),
      );
      expect(job).toMatchObject({ followup: 'upscale', parentJobId: parentId, price: offered.price });
      expect(await t.balance('ann')).toBe(1000 - 160 - offered.price);
    });
  });

  describe('when the follow-up costs more than the threshold', () => {
    it('quotes a 4K upscale at its button’s price holding nothing, and Confirm, pressed twice, makes one job charged that once', async () => {
      const { t, parentId } = await harness();
      const offered = t.platform.deliveries[0]!.delivery.followups!.upscaleTo.find((u) => u.resolution === '4k')!;
      expect(offered.price).toBe(320);

      const { quote, detail } = quoteOf(
        await t.engine.requestFollowup(
          followupOrder(t, 'ann', { kind: 'upscale', parentJobId: parentId, resolution: '4k' }),
        ),
      );
      expect(quote).toMatchObject({
        price: offered.price,
        model: 'veo3.1-fast',
        status: 'open',
        request: { followup: { kind: 'upscale', parentJobId: parentId, resolution: '4k' } },
      });
      expect(detail).toMatchObject({ followup: 'upscale', resolution: '4k' });
      expect(await t.jobCount()).toBe(1);
      expect(await t.holdCount()).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 160);

      const { job, duplicate } = jobOf(await t.engine.confirmQuote(quote.id, ann, press(t)));
      expect(duplicate).toBe(false);
      expect(job).toMatchObject({
        followup: 'upscale',
        parentJobId: parentId,
        price: 320,
        params: { resolution: '4k' },
      });
      const again = jobOf(await t.engine.confirmQuote(quote.id, ann, press(t)));
      expect(again).toMatchObject({ duplicate: true, job: { id: job.id } });
      expect(await t.jobCount()).toBe(2);

      expect((await t.engine.waitForJob(job.id)).status).toBe('succeeded');
      expect(await t.balance('ann')).toBe(1000 - 160 - 320);
      await expectLedgerBalanced(t.rows);
    });

    it('quotes Extend with its prompt kept, and Cancel leaves nothing charged and nothing to confirm', async () => {
      const { t, parentId } = await harness();
      const { quote, detail } = quoteOf(
        await t.engine.requestFollowup(
          followupOrder(t, 'ann', { kind: 'extend', parentJobId: parentId, prompt: 'the fox dives into a river' }),
        ),
      );
      expect(quote).toMatchObject({
        price: t.platform.deliveries[0]!.delivery.followups!.extend!.price,
        request: { prompt: 'the fox dives into a river', followup: { kind: 'extend' } },
      });
      expect(detail.followup).toBe('extend');

      await t.engine.dropQuote(quote.id, ann);
      expect(await refusal(t.engine.confirmQuote(quote.id, ann, press(t)))).toBe('quote_cancelled');
      expect(await t.jobCount()).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 160);
    });

    it('confirms Extend as a continuation of the parent with the quoted prompt', async () => {
      const { t, parentId } = await harness();
      const { quote } = quoteOf(
        await t.engine.requestFollowup(
          followupOrder(t, 'ann', { kind: 'extend', parentJobId: parentId, prompt: 'the fox dives into a river' }),
        ),
      );
      const { job } = jobOf(await t.engine.confirmQuote(quote.id, ann, press(t)));
      expect(job).toMatchObject({
        followup: 'extend',
        parentJobId: parentId,
        prompt: 'the fox dives into a river',
        price: 160,
      });
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(t.kie!.request(done.providerTaskId!)).toMatchObject({ extendOf: (await t.job(parentId)).providerTaskId });
      expect(await t.balance('ann')).toBe(1000 - 160 - 160);
    });

    it('refuses to charge when the price changed meanwhile, and quotes the new one', async () => {
      const models = [...FAST_MODELS];
      const { t, parentId } = await harness(models);
      const { quote } = quoteOf(
        await t.engine.requestFollowup(
          followupOrder(t, 'ann', { kind: 'extend', parentJobId: parentId, prompt: 'more snow' }),
        ),
      );
      expect(quote.price).toBe(160);
      // The owner raises Veo 3.1 Fast's price while the quote waits.
      const at = models.findIndex((m) => m.id === 'veo3.1-fast');
      models[at] = { ...models[at]!, creditsPer5s: { ...models[at]!.creditsPer5s, '720p': 125 } };

      const outcome = await t.engine.confirmQuote(quote.id, ann, press(t));
      if (outcome.kind !== 'requoted') throw new Error('expected a new quote');
      expect(outcome).toMatchObject({
        previousPrice: 160,
        quote: { price: 200, request: { followup: { kind: 'extend', parentJobId: parentId } } },
      });
      expect(await t.jobCount()).toBe(1);
      expect(await t.balance('ann')).toBe(1000 - 160);

      const { job } = jobOf(await t.engine.confirmQuote(outcome.quote.id, ann, press(t)));
      expect(job).toMatchObject({ followup: 'extend', price: 200, prompt: 'more snow' });
    });

    it('quotes only for the parent’s requester, and refuses one who could not pay before quoting', async () => {
      const { t, parentId } = await harness(FAST_MODELS, 400);
      expect(
        await refusal(
          t.engine.requestFollowup(
            followupOrder(t, 'bob', { kind: 'upscale', parentJobId: parentId, resolution: '4k' }),
          ),
        ),
      ).toBe('not_yours');
      // 240 left after the parent: 4K's 320 cannot be paid.
      expect(
        await refusal(
          t.engine.requestFollowup(
            followupOrder(t, 'ann', { kind: 'upscale', parentJobId: parentId, resolution: '4k' }),
          ),
        ),
      ).toBe('insufficient_credits');
      expect(await t.jobCount()).toBe(1);
      expect(await t.balance('ann')).toBe(400 - 160);
    });
  });
});

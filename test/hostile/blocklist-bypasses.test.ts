import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { EngineHarness } from '../helpers/engine-harness.js';

/**
 * Spellings members used to get blocked words past the blocklist (issue 11, finding 6), through the real engine:
 * each is refused with the word filter's plain message, and nothing moves (no job, no hold, no credit, no provider
 * call). Ordinary text that sits close to them still goes through.
 */

let h: EngineHarness;
beforeAll(async () => {
  h = await EngineHarness.start({ blocklist: ['nude', 'sex', 'penis'] });
  // The member exists and has credits to lose, so a refusal cannot hide behind a first-use grant.
  const job = await h.submit('eve', 'a fox');
  // Settled at the provider, so nothing of it moves while a test below compares before with after.
  await vi.waitFor(async () => expect((await h.job(job.id)).status).toBe('succeeded'), { timeout: 10_000 });
});
afterAll(async () => h.close());

const BYPASSES: [string, string][] = [
  ['small capitals', 'a ɴᴜᴅᴇ person on a beach'],
  ['small capitals with the capital small I', 'ꜱᴇx'],
  ['modifier-letter small capitals', 'ᶰude'],
  ['a Cherokee letter for d', 'a nuᏧe person'],
  ['a lowercase Cherokee letter for d', 'a nuꮷe person'],
  ['an Armenian letter for n', 'a ոude person'],
  ['Armenian letters for n and u', 'a ոսde person'],
  ['a Greek letter for u', 'a nυde person'],
  ['a word split by one space', 'a nu de person'],
  ['a word split by one space, in capitals', 'NU DE'],
  ['a short word split after its first letter', 's ex scene'],
  ['a split word with a look-alike in it', 'se х'],
];

const ORDINARY: [string, string][] = [
  ['a menu detail', 'a close-up of a menu detail in a cafe'],
  ['the pen is', 'the pen is red and the ink is blue'],
  ['an apostrophe before a word', "the robot's ex-wife waves"],
  ['Cyrillic words', 'секс и город, вид сверху'],
  ['Armenian words', 'Երևան քաղաքի տեսարան'],
  ['Greek words', 'ΟΔΟΣ με δέντρα'],
  ['Chinese', '一只小狐狸在雪地里奔跑，电影感'],
];

async function state() {
  return {
    jobs: await h.jobCount(),
    holds: await h.holdCount(),
    balance: await h.balance('eve'),
    submits: h.sim.stats.submitCalls,
  };
}

describe('blocklist bypasses', () => {
  describe.each(BYPASSES)('when a blocked word is written with %s', (_what, prompt) => {
    it('refuses the prompt with the word filter message and moves nothing', async () => {
      const before = await state();
      const error = await h.submit('eve', prompt).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).identifier).toBe('prompt_blocked');
      expect((error as UserError).message).toBe(
        'Your prompt was blocked by this server’s word filter. Please rephrase it and try again.',
      );
      expect(await state()).toEqual(before);
    });
  });

  describe.each(ORDINARY)('when an ordinary prompt has %s', (_what, prompt) => {
    it('accepts it and holds the price once', async () => {
      const before = await state();
      const job = await h.submit(`olga-${ORDINARY.findIndex(([, p]) => p === prompt)}`, prompt);
      expect(job.prompt).toBe(prompt);
      expect(await h.holdCount()).toBe(before.holds + 1);
    });
  });
});

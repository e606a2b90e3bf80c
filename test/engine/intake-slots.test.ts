import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { publicNetwork, viaPublicName } from '../helpers/public-network.js';
import { EngineHarness } from '../helpers/engine-harness.js';
import { until } from '../hostile/world.js';
import { startTrickleServer, type TrickleServer } from '../helpers/trickle-server.js';
import { pngBytes } from '../media/fixtures.js';

/**
 * Issue 11, finding 2: the work of preparing a request (its image download) is bounded in total across members,
 * not only per member. The real engine on SQLite, images on a local host that sends a byte a second.
 */

let harness: EngineHarness | undefined;
let trickle: TrickleServer | undefined;
afterEach(async () => {
  await harness?.close();
  await trickle?.close();
  harness = undefined;
  trickle = undefined;
});

describe('intake work in progress', () => {
  describe('when more members send an image at once than MAX_INTAKE_IN_PROGRESS', () => {
    it('downloads only that many, tells the others the bot is busy without charging them, and takes requests again once done', async () => {
      trickle = await startTrickleServer(pngBytes());
      const h = (harness = await EngineHarness.start({
        fetcher: publicNetwork,
        settings: { intakeInProgress: { total: 3, perUser: 2 } },
      }));
      const members = ['ann', 'ben', 'cat', 'dan', 'eve'];
      let answered = 0;
      const outcomes = members.map((m) =>
        h
          .submit(m, 'the fox wakes up', { imageUrl: viaPublicName(trickle!.url()) })
          .then(
            (job) => ({ member: m, job }),
            (error: unknown) => ({ member: m, error }),
          )
          .finally(() => answered++),
      );
      await until('three downloads', () => trickle!.requests === 3);
      // Every request has reached the slots (a slow store may take a while to get a member there): two were refused.
      await until('two answers', () => answered === 2);

      trickle.release();
      const settled = await Promise.all(outcomes);
      const refused = settled.filter((o) => 'error' in o);
      // Which three are served first is the order the requests reach the slots in, not the order they were sent.
      expect(refused).toHaveLength(2);
      for (const { error } of refused as { error: unknown }[]) {
        expect(error).toBeInstanceOf(UserError);
        expect(error).toMatchObject({
          identifier: 'intake_busy',
          message: 'Too many requests are being prepared right now. Please try again in a minute.',
        });
      }
      expect(trickle.requests).toBe(3);
      expect(await h.jobCount()).toBe(3);
      expect(await h.holdCount()).toBe(3);
      for (const { member } of refused) expect(await h.balance(member)).toBe(200);

      // The slots came back with the jobs: a refused member is served now.
      const job = await h.submit(refused[0]!.member, 'the fox wakes up', { imageUrl: viaPublicName(trickle.url()) });
      expect(job.status).toBe('queued');
      expect(trickle.requests).toBe(4);
    });
  });

  describe("when a member's download fails", () => {
    it('gives the slot back, so the member can try again at once', async () => {
      const h = (harness = await EngineHarness.start({ settings: { intakeInProgress: { total: 3, perUser: 1 } } }));
      await expect(
        h.submit('ann', 'the fox wakes up', { imageUrl: 'http://127.0.0.1:9/missing.png' }),
      ).rejects.toMatchObject({ identifier: 'bad_image' });
      await expect(
        h.submit('ann', 'the fox wakes up', { imageUrl: 'http://127.0.0.1:9/missing.png' }),
      ).rejects.toMatchObject({ identifier: 'bad_image' });
      expect(await h.jobCount()).toBe(0);
      expect(await h.balance('ann')).toBe(200);
    });
  });
});

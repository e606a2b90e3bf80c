import { afterEach, describe, expect, it } from 'vitest';
import type { FakeInteraction } from '../fakes/discord.js';
import { viaPublicName } from '../helpers/public-network.js';
import { DiscordWorld as World, EPHEMERAL, PRICE, STARTING } from '../helpers/discord-world.js';
import { startTrickleServer, type TrickleServer } from '../helpers/trickle-server.js';
import { pngBytes } from '../media/fixtures.js';

/**
 * Issue 11, finding 2: rate limits count job rows, and a job row exists only once its image is downloaded, so the
 * downloads themselves need a bound of their own. The whole bot with the real discord.js against the fake Discord;
 * the member's image is on a host that sends a byte a second.
 */

let world: World | undefined;
let trickle: TrickleServer | undefined;
afterEach(async () => {
  await world?.close();
  await trickle?.close();
  world = undefined;
  trickle = undefined;
});

describe('Discord /video with an image', () => {
  describe('when one member sends 40 at once', () => {
    it('starts USER_MAX_INTAKE_IN_PROGRESS downloads, tells the other 38 plainly, and charges only the two that became jobs', async () => {
      trickle = await startTrickleServer(pngBytes());
      const w = (world = await World.start({
        env: () => ({ USER_MAX_INTAKE_IN_PROGRESS: '2', USER_MAX_PENDING_JOBS: '50' }),
      }));
      const alice = w.fake.member('Alice');
      // Discord hands the bot the attachment's CDN link; here that link leads to the slow host.
      const image = {
        ...w.fake.hostFile(pngBytes(), 'fox.png', 'image/png'),
        url: viaPublicName(trickle.url('fox.png')),
      };
      const interactions = Array.from({ length: 40 }, (_, n) =>
        w.fake.slash(alice, 'video', { prompt: `fox number ${n}`, image, resolution: '480p' }),
      );

      const privateText = (i: FakeInteraction) => w.fake.followUps(i).find((m) => m.flags & EPHEMERAL)?.content;
      const refusals = await w.fake.waitFor('38 refusals', () => {
        const said = interactions.map(privateText).filter((text) => text !== undefined);
        return said.length >= 38 && said;
      });
      expect(refusals).toHaveLength(38);
      expect(new Set(refusals)).toEqual(
        new Set([
          'I am still preparing your other 2 requests (downloading the image, checking the prompt). Wait for them to be queued, then try again.',
        ]),
      );
      expect(trickle.requests).toBe(2);
      expect(trickle.open).toBe(2);
      expect(await w.jobs()).toEqual([]);
      expect(await w.balance(alice)).toBe(STARTING);

      trickle.release();
      await w.jobIn('succeeded', 0);
      await w.jobIn('succeeded', 1);
      expect(await w.jobs()).toHaveLength(2);
      expect(trickle.requests).toBe(2);
      expect(await w.balance(alice)).toBe(STARTING - 2 * PRICE);
      await w.expectLedgerBalanced();
    });
  });
});

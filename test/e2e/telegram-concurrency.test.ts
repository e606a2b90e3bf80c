import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SIM_ASSETS } from '../../src/sim/assets.js';
import type { FakeUser } from '../fakes/telegram-api.js';
import { freePort } from '../hostile/world.js';
import { startTrickleServer, type TrickleServer } from '../helpers/trickle-server.js';
import { viaPublicName } from '../helpers/public-network.js';
import { eventually, STARTING, TelegramWorld as World } from '../helpers/telegram-world.js';

/**
 * Issue 11, finding 1: one member's slow input must not hold up anyone else's chat. The whole bot with the real
 * grammY against the fake Bot API; the slow input is an `--image` URL on a host that sends a byte a second, or a
 * Telegram photo whose download the fake holds. "Not delayed" is read as an order of events, not a stopwatch:
 * the other chat's answer arrives while the slow download is still open.
 */

let world: World | undefined;
let trickle: TrickleServer | undefined;
afterEach(async () => {
  await world?.close();
  await trickle?.close();
  world = undefined;
  trickle = undefined;
});

async function startWorld(
  env: Record<string, string> = {},
  before?: (w: World) => Record<string, string>,
): Promise<World> {
  world = await World.start();
  await world.boot({ ...env, ...before?.(world) });
  return world;
}

const simImage = () => fs.readFileSync(SIM_ASSETS.image);
const balanceReply = /^You have \d+ credits/;

/** The bot's texts in reply to a member's message, in the order it sent them. */
function replyTexts(w: World, message: { message_id: number; chat: { id: number } }): string[] {
  return w.fake.repliesTo(message as never).map((m) => m.text ?? '');
}

async function askBalance(w: World, member: FakeUser): Promise<string> {
  const update = w.fake.sendText(member, w.fake.privateChat(member), '/balance');
  return (await w.replyTo(update)).text ?? '';
}

describe('Telegram updates', () => {
  describe("when a member's --image URL trickles in a byte a second", () => {
    it("another chat's /balance is answered while that download is still going, and the slow member is not charged", async () => {
      trickle = await startTrickleServer(simImage());
      const w = await startWorld();
      const alice = w.fake.user({ first_name: 'Alice' });
      const bob = w.fake.user({ first_name: 'Bob' });
      w.fake.sendText(
        alice,
        w.fake.privateChat(alice),
        `/video the fox wakes up --image ${viaPublicName(trickle.url())} --resolution 480p`,
      );
      await eventually(() => expect(trickle!.open).toBe(1));

      expect(await askBalance(w, bob)).toMatch(balanceReply);
      expect(trickle.open).toBe(1);
      // Nothing is held while the image is still coming: the job (and its hold) exists only once it is here.
      expect(await w.jobs()).toEqual([]);
      expect(await w.balance(alice)).toBe(STARTING);
    });
  });

  describe('when a photo downloads slowly from Telegram', () => {
    it("answers other chats at once, keeps that chat's own updates in order, and makes the video once the photo is in", async () => {
      const w = await startWorld();
      const alice = w.fake.user({ first_name: 'Alice' });
      const bob = w.fake.user({ first_name: 'Bob' });
      const aliceChat = w.fake.privateChat(alice);
      const stall = w.fake.stallDownloads();
      const photo = w.fake.sendPhoto(alice, aliceChat, {
        bytes: simImage(),
        caption: 'the fox wakes up --resolution 480p',
      });
      await eventually(() => expect(w.fake.downloads).toHaveLength(1));
      const alicesBalance = w.fake.sendText(alice, aliceChat, '/balance');

      expect(await askBalance(w, bob)).toMatch(balanceReply);
      // Alice's /balance came after her photo, in the same chat: it waits for the photo's turn to end.
      expect(replyTexts(w, alicesBalance.message!)).toEqual([]);

      stall.release();
      await w.jobsReach(1);
      const status = await w.replyTo(photo);
      expect(status.text).toMatch(/^“the fox wakes up”\n/);
      const balance = await w.replyTo(alicesBalance);
      expect(balance.text).toMatch(balanceReply);
      expect(balance.messageId).toBeGreaterThan(status.messageId);
      await w.expectLedgerBalanced();
    });
  });

  describe('when a member of a group sends a photo that downloads slowly', () => {
    it("answers the group's other members at once, and keeps that member's own updates in order", async () => {
      const w = await startWorld();
      const alice = w.fake.user({ first_name: 'Alice' });
      const bob = w.fake.user({ first_name: 'Bob' });
      const group = w.fake.group();
      const stall = w.fake.stallDownloads();
      w.fake.sendPhoto(alice, group, { bytes: simImage(), caption: '/video the fox wakes up --resolution 480p' });
      await eventually(() => expect(w.fake.downloads).toHaveLength(1));
      const alicesBalance = w.fake.sendText(alice, group, '/balance');

      const bobsBalance = w.fake.sendText(bob, group, '/balance');
      expect((await w.replyTo(bobsBalance)).text).toMatch(balanceReply);
      // Alice's own /balance came after her photo: it waits for the photo's turn to end.
      expect(replyTexts(w, alicesBalance.message!)).toEqual([]);

      stall.release();
      await w.jobsReach(1);
      expect((await w.replyTo(alicesBalance)).text).toMatch(balanceReply);
      await w.expectLedgerBalanced();
    });
  });

  describe('when a banned member sends a photo', () => {
    it('tells them they are banned and never downloads the photo', async () => {
      let owner!: FakeUser;
      const w = await startWorld({}, (world) => {
        owner = world.fake.user({ first_name: 'Owner' });
        return { OWNER_IDS: `telegram:${owner.id}` };
      });
      const mallory = w.fake.user({ first_name: 'Mallory' });
      const ban = w.fake.sendText(owner, w.fake.privateChat(owner), `/ban ${mallory.id} spam`);
      expect((await w.replyTo(ban)).text).toMatch(/is banned everywhere: spam\.$/);

      const photo = w.fake.sendPhoto(mallory, w.fake.privateChat(mallory), {
        bytes: simImage(),
        caption: 'the fox wakes up',
      });
      expect((await w.replyTo(photo)).text).toBe('You are banned from using this bot: spam');
      expect(w.fake.callsTo('getFile')).toEqual([]);
      expect(w.fake.downloads).toEqual([]);
      expect(await w.jobs()).toEqual([]);
    });
  });

  describe('in webhook mode', () => {
    it("keeps one chat's updates in order and answers other chats while a photo downloads slowly", async () => {
      const port = await freePort();
      const w = await startWorld({
        HTTP_PORT: String(port),
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        TELEGRAM_WEBHOOK_SECRET: 'wh-secret_0123456789',
      });
      const alice = w.fake.user({ first_name: 'Alice' });
      const bob = w.fake.user({ first_name: 'Bob' });
      const aliceChat = w.fake.privateChat(alice);
      const stall = w.fake.stallDownloads();
      const photo = w.fake.sendPhoto(alice, aliceChat, {
        bytes: simImage(),
        caption: 'the fox wakes up --resolution 480p',
      });
      await eventually(() => expect(w.fake.downloads).toHaveLength(1));
      const alicesBalance = w.fake.sendText(alice, aliceChat, '/balance');

      expect(await askBalance(w, bob)).toMatch(balanceReply);
      expect(replyTexts(w, alicesBalance.message!)).toEqual([]);

      stall.release();
      const status = await w.replyTo(photo);
      const balance = await w.replyTo(alicesBalance);
      expect(status.text).toMatch(/^“the fox wakes up”\n/);
      expect(balance.messageId).toBeGreaterThan(status.messageId);
      await w.jobsReach(1);
    });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../db/schema.js';
import type { FakeChat, FakeUser } from '../fakes/telegram-api.js';
import type { FakeMember } from '../fakes/discord.js';
import {
  CHANNEL_POST,
  channelEdit,
  DiscordWorld,
  isMp4,
  PRICE,
  STARTING,
  WEBHOOK_EDIT,
} from '../helpers/discord-world.js';
import { FAST_RETRY } from '../helpers/engine-harness.js';
import { eventually, FOX, TelegramWorld } from '../helpers/telegram-world.js';
import { escapeForDiscord } from '../../src/platforms/discord/discord-markdown.js';
import {
  doneStatusText,
  expectState,
  failed,
  failedStatusText,
  failureNoticeText,
  succeeded,
  type Outcome,
} from './outcome.js';

/**
 * Chat-platform faults, through the whole bot (`startClipbot`) and the real libraries: discord.js against the fake
 * Discord, grammY against the fake Bot API, fal.ai simulated behind. 429s on status edits and uploads, 5xx on
 * uploads, status messages deleted by someone, interaction tokens that expire. Every case checks the job's final
 * state, the exact words the member saw on the platform, and the ledger; every 429 shows on /metrics.
 */

/** discord.js sends a request that got a 5xx three more times before giving up on it. */
const DISCORD_TRIES_PER_CALL = 4;

const rateLimitedTotal = (metrics: string, platform: string) =>
  Number(
    new RegExp(`^clipbot_platform_rate_limited_total\\{platform="${platform}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0,
  );

describe('platform faults', () => {
  describe('on Discord', () => {
    let w: DiscordWorld | undefined;
    afterEach(async () => {
      await w?.close();
      w = undefined;
    });

    /** A member's `/video` whose generation waits for `complete()`, once its status shows. */
    async function videoRunning(world: DiscordWorld, member: FakeMember) {
      const i = world.fake.slash(member, 'video', { prompt: '[sim:hang] a red fox', resolution: '480p' });
      const status = await world.status(i, 'elapsed');
      const job = await world.jobIn('running');
      return { i, status, job, complete: () => world.sim.complete(world.sim.requests()[0]!.id) };
    }

    /** State, words (the job's status message, and its one delivery or failure notice) and money. */
    async function expectDiscordOutcome(world: DiscordWorld, member: FakeMember, want: Outcome): Promise<Job> {
      const job = await world.jobIn('final');
      expectState(job, want);
      const status = async () => world.fake.message((await world.job(job.id)).statusMessageId!)!;
      const notices = () => world.fake.channelMessages().filter((m) => m.content.includes(`Job ${job.id} failed`));
      if (want.status === 'succeeded') {
        // Discord gets the text escaped for its Markdown (the prompt here starts with "[sim:hang]").
        await world.fake.waitFor('the final status', async () =>
          doneStatusText({ ...job, prompt: escapeForDiscord(job.prompt) }).test((await status()).content),
        );
        const [delivery, ...more] = world.deliveries(member);
        expect(more).toEqual([]);
        expect(delivery!.content).toBe(`<@${member.id}> Your video is ready: ${escapeForDiscord(job.prompt)}`);
        expect(isMp4(world.fileOf(delivery!))).toBe(true);
        expect(notices()).toEqual([]);
      } else {
        await world.fake.waitFor(
          'the final status',
          async () => (await status()).content === escapeForDiscord(failedStatusText(job, want.reason)),
        );
        const [notice] = await world.fake.waitFor('the failure notice', () =>
          notices().length ? notices() : undefined,
        );
        expect(notices()).toHaveLength(1);
        expect(notice!.content).toBe(`<@${member.id}> ${escapeForDiscord(failureNoticeText(job, want.reason))}`);
        expect(world.deliveries(member)).toEqual([]);
        expect(world.fake.botMessages().filter((m) => m.files.length > 0)).toEqual([]);
      }
      await world.expectLedgerBalanced();
      expect(await world.balance(member)).toBe(STARTING - (want.status === 'succeeded' ? PRICE : 0));
      return job;
    }

    it('waits out a 429 on a status edit: the edit lands, the video is delivered once, and /metrics counts the 429', async () => {
      w = await DiscordWorld.start({ retry: FAST_RETRY });
      const alice = w.fake.member('Alice');
      const run = await videoRunning(w, alice);
      w.fake.rateLimit('PATCH', WEBHOOK_EDIT, 0.3);
      await w.fake.waitFor('the edit after the 429', () => {
        const edits = w!.fake.calls('PATCH', WEBHOOK_EDIT);
        const limited = edits.findIndex((r) => r.status === 429);
        return limited >= 0 && edits[limited + 1]?.status === 200;
      });
      run.complete();

      await expectDiscordOutcome(w, alice, succeeded);
      expect(rateLimitedTotal(await w.metrics(), 'discord')).toBe(1);
    });

    it('waits out a 429 on the upload and delivers the video once; /metrics counts the 429', async () => {
      w = await DiscordWorld.start({ retry: FAST_RETRY });
      const alice = w.fake.member('Alice');
      w.fake.rateLimit('POST', CHANNEL_POST, 0.3, 1, { uploadsOnly: true });
      w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });

      await expectDiscordOutcome(w, alice, succeeded);
      const uploads = w.fake.calls('POST', CHANNEL_POST).filter((r) => r.files.length > 0);
      expect(uploads.map((r) => r.status)).toEqual([429, 200]);
      expect(rateLimitedTotal(await w.metrics(), 'discord')).toBe(1);
    });

    it('retries a burst of 502s on the upload (discord.js, then the engine) and leaves one video', async () => {
      w = await DiscordWorld.start({ retry: FAST_RETRY });
      const alice = w.fake.member('Alice');
      // One more than discord.js tries by itself, so the engine's own retry is needed too.
      w.fake.inject({
        method: 'POST',
        path: CHANNEL_POST,
        uploadsOnly: true,
        times: DISCORD_TRIES_PER_CALL + 1,
        respond: { status: 502 },
      });
      w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });

      await expectDiscordOutcome(w, alice, succeeded);
      const uploads = w.fake.calls('POST', CHANNEL_POST).filter((r) => r.files.length > 0);
      expect(uploads.map((r) => r.status)).toEqual([...Array<number>(DISCORD_TRIES_PER_CALL + 1).fill(502), 200]);
      expect(new Set(uploads.map((r) => r.body?.nonce)).size).toBe(1);
    });

    it('fails the job, says why in the status and a notice, and refunds when every upload gets a 502', async () => {
      w = await DiscordWorld.start({ retry: FAST_RETRY });
      const alice = w.fake.member('Alice');
      w.fake.inject({ method: 'POST', path: CHANNEL_POST, uploadsOnly: true, times: 1000, respond: { status: 502 } });
      w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });

      await expectDiscordOutcome(
        w,
        alice,
        failed('media_network', 'Delivery failed: Discord did not answer: Bad Gateway'),
      );
      const uploads = w.fake.calls('POST', CHANNEL_POST).filter((r) => r.files.length > 0);
      expect(uploads).toHaveLength(FAST_RETRY.maxAttempts * DISCORD_TRIES_PER_CALL);
    });

    it('posts a fresh status when the status message was deleted, and finishes there', async () => {
      w = await DiscordWorld.start({ retry: FAST_RETRY });
      const alice = w.fake.member('Alice');
      const run = await videoRunning(w, alice);
      w.fake.deleteMessage(run.status.id);
      await w.fake.waitFor('a fresh status', async () => (await w!.job(run.job.id)).statusMessageId !== run.status.id);
      run.complete();

      await expectDiscordOutcome(w, alice, succeeded);
      const fresh = w.fake.message((await w.job(run.job.id)).statusMessageId!)!;
      expect(fresh.origin).toBe('channel');
      expect(w.fake.message(run.status.id)!.deleted).toBe(true);
    });

    it('edits through the channel route once the interaction token expired, and finishes on the same message', async () => {
      w = await DiscordWorld.start({ retry: FAST_RETRY });
      const alice = w.fake.member('Alice');
      const run = await videoRunning(w, alice);
      w.fake.expireToken(run.i);
      await w.fake.waitFor('an edit through the channel route', () =>
        w!.fake.calls('PATCH', channelEdit(run.status.id)).some((r) => r.status === 200),
      );
      run.complete();

      await expectDiscordOutcome(w, alice, succeeded);
      expect((await w.job(run.job.id)).statusMessageId).toBe(run.status.id);
      expect(w.fake.message(run.status.id)!.history.at(-1)!.via).toBe('channel');
    });
  });

  describe('on Telegram', () => {
    let w: TelegramWorld | undefined;
    afterEach(async () => {
      await w?.close();
      w = undefined;
    });

    async function start(): Promise<{ world: TelegramWorld; alice: FakeUser; chat: FakeChat }> {
      w = await TelegramWorld.start({ retry: FAST_RETRY });
      await w.boot();
      const alice = w.fake.user({ first_name: 'Alice' });
      return { world: w, alice, chat: w.fake.privateChat(alice) };
    }

    /** State, words (the job's status message, and its one video or link) and money. */
    async function expectTelegramOutcome(
      world: TelegramWorld,
      chat: FakeChat,
      alice: FakeUser,
      delivered: 'video' | 'link',
    ): Promise<Job> {
      const [job] = await world.jobsReach(1, 'succeeded');
      expectState(job!, succeeded);
      const status = async () => {
        const { statusMessageId } = (await world.jobs())[0]!;
        return world.fake.botMessages(chat).find((m) => String(m.messageId) === statusMessageId)!;
      };
      await eventually(async () => expect((await status()).text).toMatch(doneStatusText(job!)));
      const results = world.fake.botMessages(chat).filter((m) => m.video || m.text?.includes('/media/'));
      expect(results).toHaveLength(1);
      if (delivered === 'video') {
        expect(results[0]!.caption).toBe(`Your video is ready: ${job!.prompt}`);
        expect(results[0]!.video!.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      } else {
        expect(results[0]!.text).toBe(`Your video is ready: ${job!.prompt}\nDownload it:\n${job!.mediaUrl}`);
        expect(world.fake.videosIn(chat)).toEqual([]);
      }
      await world.expectLedgerBalanced();
      expect(await world.balance(alice)).toBe(STARTING - PRICE);
      return job!;
    }

    it('waits out a 429 on a status edit, delivers the video once, and /metrics counts the 429', async () => {
      const { world, alice, chat } = await start();
      world.fake.rateLimitNext('editMessageText', 1);
      world.fake.sendText(alice, chat, FOX);

      await expectTelegramOutcome(world, chat, alice, 'video');
      const edits = world.fake.callsTo('editMessageText');
      expect(edits[0]!.status).toBe(429);
      expect(edits[1]!.status).toBe(200);
      expect(rateLimitedTotal(await world.metrics(), 'telegram')).toBe(1);
    });

    it('waits out a 429 on the upload and sends the video once; /metrics counts the 429', async () => {
      const { world, alice, chat } = await start();
      world.fake.rateLimitNext('sendVideo', 1);
      world.fake.sendText(alice, chat, FOX);

      await expectTelegramOutcome(world, chat, alice, 'video');
      expect(world.fake.callsTo('sendVideo').map((c) => c.status)).toEqual([429, 200]);
      expect(rateLimitedTotal(await world.metrics(), 'telegram')).toBe(1);
    });

    it('sends the link instead when the upload gets a 500 (never a second upload), charged once', async () => {
      const { world, alice, chat } = await start();
      world.fake.failNext('sendVideo', { error_code: 500, description: 'Internal Server Error' });
      world.fake.sendText(alice, chat, FOX);

      await expectTelegramOutcome(world, chat, alice, 'link');
      expect(world.fake.callsTo('sendVideo').map((c) => c.status)).toEqual([500]);
    });

    it('posts a fresh status when the status message was deleted, and finishes there', async () => {
      const { world, alice, chat } = await start();
      world.fake.sendText(alice, chat, '/video [sim:hang] a red fox running through snow --resolution 480p');
      const first = await world.fake.waitForCall('sendMessage');
      const original = world.fake.botMessages(chat).find((m) => m.text === first.params['text'])!;
      await eventually(async () => expect((await world.jobs())[0]?.status).toBe('running'));
      world.fake.deleteMessage(original);
      await eventually(
        async () => expect((await world.jobs())[0]!.statusMessageId).not.toBe(String(original.messageId)),
        { timeout: 10_000, interval: 20 },
      );
      world.sim.complete(world.sim.requests()[0]!.id);

      await expectTelegramOutcome(world, chat, alice, 'video');
      expect(
        world.fake.callsTo('editMessageText').some((c) => c.error === 'Bad Request: message to edit not found'),
      ).toBe(true);
    });
  });
});

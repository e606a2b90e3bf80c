import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Update } from 'grammy/types';
import { afterEach, describe, expect, it } from 'vitest';
import { ZH_DESCRIPTIONS } from '../../commands/i18n.js';
import { SIM_ASSETS } from '../../src/sim/assets.js';
import type { FakeChat, StoredMessage } from '../fakes/telegram-api.js';
import { eventually, FOX, PRICE, STARTING, TelegramWorld as World } from '../helpers/telegram-world.js';
import { mp4Bytes } from '../media/fixtures.js';

/**
 * The whole bot (`startClipbot`: engine, SQLite on disk, HTTP server, the real grammY) serving Telegram through a
 * fake Bot API on 127.0.0.1, with the fal.ai simulator behind it. Assertions read what the fake received, the
 * bot's database and the simulator. Each test owns its fake, simulator, data directory and bot.
 *
 * One user on Discord and Telegram sharing one fair queue: see cross-platform.test.ts.
 */

const NOT_MODIFIED =
  'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function startWorld(opts: Parameters<typeof World.start>[0] = {}, boot = true): Promise<World> {
  world = await World.start(opts);
  if (boot) await world.boot();
  return world;
}

const button = (message: StoredMessage | undefined) =>
  message?.replyMarkup?.inline_keyboard.flat().map((b) => ('callback_data' in b ? b.callback_data : b.text));
const statusOf = (w: World, update: Update) =>
  w.fake.repliesTo(update.message!).find((m) => m.text?.includes('Cost:') || m.edits.length > 0);
const simImage = () => fs.readFileSync(SIM_ASSETS.image);

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the Telegram bot', () => {
  describe('when it starts', () => {
    it('registers the command menu in English and Chinese, moderator commands for chat administrators only', async () => {
      const w = await startWorld();
      const en = w.fake.commands('default', '');
      const zh = w.fake.commands('default', 'zh');
      expect(en?.find((c) => c.command === 'video')?.description).toMatch(/^Generate a short video/);
      expect(zh?.find((c) => c.command === 'video')?.description).toBe(ZH_DESCRIPTIONS['video']);
      expect(en?.map((c) => c.command)).not.toContain('credits');
      expect(w.fake.commands('all_chat_administrators', '')?.map((c) => c.command)).toContain('credits');
      expect(w.fake.commands('all_chat_administrators', 'zh')?.find((c) => c.command === 'credits')?.description).toBe(
        ZH_DESCRIPTIONS['credits'],
      );
      // Long polling: the webhook is removed and getUpdates is held open.
      expect(w.fake.callsTo('deleteWebhook')).toHaveLength(1);
      await w.fake.waitForCall('getMe');
      expect(w.fake.unauthorized).toBe(0);
    });
  });

  describe('when several processes serve the same bot', () => {
    it("a second poller ends the first one's long poll with 409 Conflict, as Telegram does, and the first stops polling", async () => {
      const w = await startWorld();
      // Held open: not answered yet.
      await eventually(() => expect(w.fake.callsTo('getUpdates').filter((c) => c.status === 0)).toHaveLength(1));
      // Another process of the same bot, polling too.
      const other = await fetch(`${w.fake.apiRoot}/bot${w.fake.token}/getUpdates`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ timeout: 0 }),
      });
      expect(other.status).toBe(200);
      await eventually(() => expect(w.logs.join('\n')).toContain('telegram long polling stopped'));
      expect(
        w.fake
          .callsTo('getUpdates')
          .filter((c) => c.status === 409)
          .map((c) => c.error),
      ).toEqual(['Conflict: terminated by other getUpdates request; make sure that only one bot instance is running']);
    });

    it('with TELEGRAM_POLLING=false one never polls, and still posts, edits and delivers', async () => {
      const w = await startWorld({ env: { TELEGRAM_POLLING: 'false' } });
      const alice = w.fake.user({ first_name: 'Alice' });
      const chat = w.fake.privateChat(alice);
      // The request reached the process that polls; this one runs the job.
      await w.bot!.engine.submitVideo({
        identity: { platform: 'telegram', platformUserId: String(alice.id) },
        dest: { platform: 'telegram', chatId: String(chat.id), userId: String(alice.id) },
        intakeKey: 'telegram:other-process:1',
        prompt: 'a red fox running through snow',
        modelId: 'seedance-1-pro',
        options: { resolution: '480p', duration: 5 },
      });
      await w.jobsReach(1);
      expect(w.fake.videosIn(chat)).toHaveLength(1);
      expect(w.fake.callsTo('editMessageText').length).toBeGreaterThan(0);
      expect(w.fake.callsTo('getUpdates')).toEqual([]);
      expect(w.fake.callsTo('deleteWebhook')).toEqual([]);
      await w.expectLedgerBalanced();
    });
  });

  describe('when a member sends /video in a private chat', () => {
    it('posts the price with a Cancel button, edits it to done, and replies with the MP4 and a Retry button', async () => {
      const w = await startWorld();
      const alice = w.fake.user({ first_name: 'Alice' });
      const chat = w.fake.privateChat(alice);
      const update = w.fake.sendText(alice, chat, `${FOX} --seed 42`);

      const upload = await w.fake.waitForCall('sendVideo');
      const [job] = await w.jobsReach(1);
      const status = statusOf(w, update)!;
      const firstPost = w.fake.callsTo('sendMessage')[0]!;
      expect(firstPost.params['text']).toMatch(/Queued: next in line\.\nCost: 40 credits/);
      expect(firstPost.params['reply_markup']).toEqual({
        inline_keyboard: [[{ text: 'Cancel', callback_data: `cancel:${job!.id}` }]],
      });
      expect(status.replyTo).toBe(update.message!.message_id);
      await eventually(() => expect(status.text).toMatch(/^✅ Done in \d+s · 40 credits\.$/m));
      expect(status.replyMarkup).toBeUndefined();

      expect(upload.multipart).toBe(true);
      const video = upload.files['video']!;
      expect(video.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      expect(video.bytes.equals(fs.readFileSync(path.join(w.dir, 'media', job!.mediaKey!)))).toBe(true);
      expect(upload.params).toMatchObject({
        chat_id: String(chat.id),
        supports_streaming: true,
        reply_parameters: { message_id: update.message!.message_id, allow_sending_without_reply: true },
        reply_markup: {
          inline_keyboard: [
            [{ text: 'Retry', callback_data: `retry:${job!.id}` }],
            [{ text: `Extend · ${PRICE} credits`, callback_data: `extend:${job!.id}` }],
          ],
        },
      });
      expect(upload.params['caption']).toBe('Your video is ready: a red fox running through snow');
      expect(w.fake.callsTo('sendChatAction')[0]?.params).toMatchObject({ action: 'upload_video' });
      expect(w.fake.videosIn(chat)).toHaveLength(1);

      expect(job).toMatchObject({
        platform: 'telegram',
        chatId: String(chat.id),
        requestMessageId: String(update.message!.message_id),
        price: PRICE,
      });
      expect(await w.balance(alice)).toBe(STARTING - PRICE);
      expect(await w.ledgerKinds(alice)).toEqual([
        ['starting', STARTING],
        ['hold', -PRICE],
        ['capture', 0],
      ]);
      await w.expectLedgerBalanced();
      expect(w.sim.requests()[0]!.input).toMatchObject({
        prompt: 'a red fox running through snow',
        resolution: '480p',
        seed: 42,
      });
    });

    it('answers in Chinese to a Chinese client, and refuses bad options before charging anything', async () => {
      const w = await startWorld();
      const li = w.fake.user({ first_name: 'Li', language_code: 'zh-hans' });
      const chat = w.fake.privateChat(li);
      const bad = w.fake.sendText(li, chat, '/video a fox --duration 99');
      expect((await w.replyTo(bad)).text).toBe('这个模型不支持这个时长，请用 /models 查看。');
      const unknown = w.fake.sendText(li, chat, '/fly away');
      expect((await w.replyTo(unknown)).text).toBe('There is no command /fly. Try /help.');
      expect(await w.jobs()).toEqual([]);
      expect(await w.balance(li)).toBe(STARTING);
    });
  });

  describe('when a member writes plain text in a private chat', () => {
    it('takes it as a /video prompt', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      w.fake.sendText(alice, chat, 'a paper boat on a rainy street --resolution 480p');
      await w.fake.waitForCall('sendVideo');
      const [job] = await w.jobsReach(1);
      expect(job!.prompt).toBe('a paper boat on a rainy street');
      expect(w.fake.videosIn(chat)[0]!.video!.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      await w.expectLedgerBalanced();
    });
  });

  describe('when a member sends a photo with a caption', () => {
    it('animates it: the photo is fetched with getFile, re-hosted, and sent to the provider inline, never as a Telegram URL', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      w.fake.sendPhoto(alice, chat, { bytes: simImage(), caption: 'the fox wakes up and runs away --resolution 480p' });
      await w.fake.waitForCall('sendVideo');
      const [job] = await w.jobsReach(1);

      expect(w.fake.callsTo('getFile')).toHaveLength(1);
      expect(w.fake.downloads).toEqual(['photos/file_1.png']);
      expect(job).toMatchObject({
        prompt: 'the fox wakes up and runs away',
        inputImageUrl: null,
        providerModel: 'fal-ai/bytedance/seedance/v1/pro/image-to-video',
      });
      expect(fs.readFileSync(path.join(w.dir, 'media', job!.inputMediaKey!)).equals(simImage())).toBe(true);
      expect(w.sim.requests()[0]!.input['image_url']).toBe(`data:image/png;base64,${simImage().toString('base64')}`);
      expect(fs.readdirSync(path.join(w.dir, 'media', '.tmp'))).toEqual([]);
      await w.expectLedgerBalanced();
    });

    it('asks for a caption when there is none', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const update = w.fake.sendPhoto(alice, w.fake.privateChat(alice), { bytes: simImage() });
      expect((await w.replyTo(update)).text).toMatch(/^Add a caption that describes the video/);
      expect(w.fake.callsTo('getFile')).toEqual([]);
    });

    it.each([
      ['says its size', 25 * 1024 * 1024, /^That image is 25\.0 MB; bots can download images up to 20 MB/, 0],
      [
        'does not say its size (getFile refuses it)',
        null,
        /^That image is too large; bots can download images up to 20 MB/,
        1,
      ],
    ])(
      'refuses an image over 20 MB whose message %s, clearly and without charging',
      async (_case, declaredSize, message, getFileCalls) => {
        const w = await startWorld({ env: { MAX_INPUT_IMAGE_MB: '50' } });
        const alice = w.fake.user();
        const update = w.fake.sendPhoto(alice, w.fake.privateChat(alice), {
          bytes: simImage(),
          size: 25 * 1024 * 1024,
          declaredSize,
          asDocument: true,
          caption: 'a huge picture',
        });
        expect((await w.replyTo(update)).text).toMatch(message);
        expect(w.fake.callsTo('getFile')).toHaveLength(getFileCalls);
        expect(w.fake.downloads).toEqual([]);
        expect(await w.jobs()).toEqual([]);
        expect(await w.balance(alice)).toBe(STARTING);
      },
    );
  });

  describe('in a group', () => {
    it('ignores chatter and other bots’ commands, and answers commands, mentions and replies to the bot', async () => {
      const w = await startWorld();
      const bob = w.fake.user({ first_name: 'Bob' });
      const group = w.fake.group();
      const chatter = w.fake.sendText(bob, group, 'hello everyone, nice weather');
      const otherBot = w.fake.sendText(bob, group, '/video@some_other_bot a cat');
      const balance = w.fake.sendText(bob, group, '/balance');
      expect((await w.replyTo(balance)).text).toBe(`You have ${STARTING} credits.`);
      const mention = w.fake.sendText(bob, group, `@${w.fake.bot.username} a fox in the snow --resolution 480p`);
      await w.jobsReach(1);
      const answer = w.fake.repliesTo(balance.message!)[0]!;
      const reply = w.fake.sendText(bob, group, 'a cat on a boat --resolution 480p', { replyTo: answer });
      const done = await w.jobsReach(2);

      expect(done.map((j) => j.prompt)).toEqual(['a fox in the snow', 'a cat on a boat']);
      expect(done.map((j) => j.guildId)).toEqual([String(group.id), String(group.id)]);
      expect(w.fake.repliesTo(chatter.message!)).toEqual([]);
      expect(w.fake.repliesTo(otherBot.message!)).toEqual([]);
      await eventually(() => expect(w.fake.videosIn(group)).toHaveLength(2));
      const [first, second] = w.fake.videosIn(group);
      expect(first!.replyTo).toBe(mention.message!.message_id);
      expect(second!.replyTo).toBe(reply.message!.message_id);
      // In a group the requester is mentioned by name, so they are notified.
      expect(first!.caption).toBe(`<a href="tg://user?id=${bob.id}">Bob</a> Your video is ready: a fox in the snow`);
      expect(first!.parseMode).toBe('HTML');
      await w.expectLedgerBalanced();
    });
  });

  describe('when the result is over 50 MB', () => {
    it('posts a link to the stored copy instead of uploading it', async () => {
      const w = await startWorld();
      // 0x03404040 bytes (52 MiB); every byte of this MP4 is ASCII, so the simulator can serve it as text.
      const big = mp4Bytes(0x03404040);
      w.sim.injectFault(
        { kind: 'respond', status: 200, text: big.toString('latin1'), headers: { 'content-type': 'video/mp4' } },
        { routes: 'files' },
      );
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      const update = w.fake.sendText(alice, chat, FOX);
      const [job] = await w.jobsReach(1);

      expect(job!.mediaBytes).toBe(big.length);
      expect(w.fake.callsTo('sendVideo')).toEqual([]);
      const link = w.fake.repliesTo(update.message!).find((m) => m.text?.includes('/media/'))!;
      expect(link.text).toBe(
        `Your video is ready: a red fox running through snow\nToo large to upload here (52.0 MB); download it:\n${job!.mediaUrl}`,
      );
      expect(job!.mediaUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/media\/results\/\w+\.mp4$/);
      expect(button(link)).toEqual([`retry:${job!.id}`, `extend:${job!.id}`]);
      await w.expectLedgerBalanced();
    });
  });

  describe('status messages', () => {
    it('are edited at most once per STATUS_EDIT_INTERVAL_MS, never with identical content', async () => {
      const w = await startWorld({ env: { STATUS_EDIT_INTERVAL_MS: '400' }, sim: { queueMs: 100, runMs: 2500 } });
      const alice = w.fake.user();
      const update = w.fake.sendText(alice, w.fake.privateChat(alice), FOX);
      await w.jobsReach(1, 'succeeded', 15_000);
      const status = statusOf(w, update)!;
      await eventually(() => expect(status.text).toMatch(/^✅ Done/m));

      const edits = status.edits;
      expect(edits.some((e) => /elapsed/.test(e.text ?? ''))).toBe(true);
      const starts = edits.slice(0, -1).map((e) => e.at);
      for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(350);
      for (let i = 1; i < edits.length; i++)
        expect(edits[i]).not.toEqual(
          expect.objectContaining({ text: edits[i - 1]!.text, replyMarkup: edits[i - 1]!.replyMarkup }),
        );
      expect(w.fake.callsTo('editMessageText').filter((c) => c.status !== 200)).toEqual([]);
    });

    it('shrug off "message is not modified" and keep editing the same message', async () => {
      const w = await startWorld();
      w.fake.failNext('editMessageText', { error_code: 400, description: NOT_MODIFIED });
      const alice = w.fake.user();
      const update = w.fake.sendText(alice, w.fake.privateChat(alice), FOX);
      await w.jobsReach(1);
      const status = statusOf(w, update)!;
      await eventually(() => expect(status.text).toMatch(/^✅ Done/m));
      expect(w.fake.callsTo('editMessageText')[0]!.error).toBe(NOT_MODIFIED);
      // One status message: the error did not make the engine post a fresh one.
      expect(w.fake.repliesTo(update.message!).filter((m) => !m.video)).toEqual([status]);
      expect(w.logText()).not.toMatch(/status update failed/);
    });

    it('are posted afresh when the member deleted the old one', async () => {
      const w = await startWorld({ sim: { runMs: 400 } });
      const alice = w.fake.user();
      const update = w.fake.sendText(alice, w.fake.privateChat(alice), FOX);
      const first = await w.replyTo(update);
      w.fake.deleteMessage(first);
      await w.jobsReach(1);
      await eventually(() => {
        const statuses = w.fake.repliesTo(update.message!).filter((m) => !m.video);
        expect(statuses).toHaveLength(2);
        expect(statuses[1]!.text).toMatch(/^✅ Done/m);
      });
      expect(w.fake.callsTo('editMessageText').some((c) => c.error === 'Bad Request: message to edit not found')).toBe(
        true,
      );
    });
  });

  describe('when Telegram answers 429', () => {
    it('waits out retry_after and sends the video once', async () => {
      const w = await startWorld();
      w.fake.rateLimitNext('sendVideo', 1);
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      w.fake.sendText(alice, chat, FOX);
      await w.jobsReach(1);
      const [limited, sent] = w.fake.callsTo('sendVideo');
      expect(limited!.status).toBe(429);
      expect(sent!.status).toBe(200);
      expect(sent!.at - limited!.at).toBeGreaterThanOrEqual(1000);
      // The file was read again for the second attempt.
      expect(sent!.files['video']!.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      expect(w.fake.videosIn(chat)).toHaveLength(1);
      await w.expectLedgerBalanced();
    });
  });

  describe('the Cancel button', () => {
    it('cancels the job for its requester and refunds the credits', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      const update = w.fake.sendText(alice, chat, '/video a fox [sim:hang] --resolution 480p');
      await w.jobsReach(1, 'running');
      const status = (await w.replyTo(update))!;
      const { callbackId } = w.fake.pressButton(alice, status, 'cancel:');
      await w.jobsReach(1, 'cancelled');

      await eventually(() =>
        expect(w.fake.callbackAnswer(callbackId)).toMatchObject({
          text: 'Cancelled; your credits are back.',
          show_alert: false,
        }),
      );
      await eventually(() =>
        expect(status.text).toMatch(/^🚫 Cancelled: Cancelled by you\.\nYour 40 credits were returned\.$/m),
      );
      expect(status.replyMarkup).toBeUndefined();
      await eventually(() =>
        expect(
          w.fake.repliesTo(update.message!).some((m) => /was cancelled\. 40 credits refunded/.test(m.text ?? '')),
        ).toBe(true),
      );
      expect(w.sim.stats.cancelCalls).toBe(1);
      expect(await w.balance(alice)).toBe(STARTING);
      await w.expectLedgerBalanced();
    });

    it('is refused to other members with an alert, and works for a chat administrator', async () => {
      const w = await startWorld();
      const group = w.fake.group();
      const [alice, bob, carol] = [
        w.fake.user({ first_name: 'Alice' }),
        w.fake.user({ first_name: 'Bob' }),
        w.fake.user({ first_name: 'Carol' }),
      ];
      w.fake.setMemberStatus(group, carol, 'administrator');
      const update = w.fake.sendText(alice, group, '/video a fox [sim:hang] --resolution 480p');
      await w.jobsReach(1, 'running');
      const status = await w.replyTo(update);

      const byBob = w.fake.pressButton(bob, status, 'cancel:').callbackId;
      await eventually(() =>
        expect(w.fake.callbackAnswer(byBob)).toMatchObject({
          text: 'Only the person who asked for this video (or a moderator) can do that.',
          show_alert: true,
        }),
      );
      expect((await w.jobs())[0]!.status).toBe('running');
      expect(await w.balance(alice)).toBe(STARTING - PRICE);

      const byCarol = w.fake.pressButton(carol, status, 'cancel:').callbackId;
      await w.jobsReach(1, 'cancelled');
      await eventually(() =>
        expect(w.fake.callbackAnswer(byCarol)).toMatchObject({
          text: 'Cancelled; the credits went back to the member who asked for it.',
        }),
      );
      expect(w.fake.callsTo('getChatMember').map((c) => c.params['user_id'])).toEqual([bob.id, carol.id]);
      const [job] = await w.jobs();
      expect(job!.errorMessage).toBe('Cancelled by a moderator.');
      // The requester is told, with a mention, in reply to their request.
      await eventually(() =>
        expect(w.fake.repliesTo(update.message!).map((m) => m.text)).toContain(
          `<a href="tg://user?id=${alice.id}">Alice</a> Job ${job!.id} was cancelled. 40 credits refunded.`,
        ),
      );
      expect(await w.balance(alice)).toBe(STARTING);
      await w.expectLedgerBalanced();
    });
  });

  describe('the Retry button', () => {
    it('makes the same video again with a new seed, as a new job, for its requester only', async () => {
      const w = await startWorld();
      const group = w.fake.group();
      const [alice, bob] = [w.fake.user({ first_name: 'Alice' }), w.fake.user({ first_name: 'Bob' })];
      w.fake.sendText(alice, group, `${FOX} --seed 42`);
      await w.jobsReach(1);
      const [video] = w.fake.videosIn(group);

      const byBob = w.fake.pressButton(bob, video!, 'retry:').callbackId;
      await eventually(() =>
        expect(w.fake.callbackAnswer(byBob)).toMatchObject({
          text: 'Only the person who asked for this video can retry it.',
          show_alert: true,
        }),
      );
      expect(await w.jobs()).toHaveLength(1);

      const byAlice = w.fake.pressButton(alice, video!, 'retry:').callbackId;
      const [first, second] = await w.jobsReach(2);
      expect(w.fake.callbackAnswer(byAlice)).toMatchObject({ text: `Retrying as job ${second!.id}.` });
      await eventually(() => expect(w.fake.videosIn(group)).toHaveLength(2));
      expect(w.fake.videosIn(group)[1]!.replyTo).toBe(video!.messageId);
      expect(second).toMatchObject({ prompt: first!.prompt, model: first!.model, price: PRICE });
      const [seed1, seed2] = w.sim.requests().map((r) => r.input['seed']);
      expect(seed1).toBe(42);
      expect(seed2).toEqual(expect.any(Number));
      expect(seed2).not.toBe(42);
      expect(await w.balance(alice)).toBe(STARTING - 2 * PRICE);
      await w.expectLedgerBalanced();
    });
  });

  describe('when the same update is delivered twice', () => {
    it('makes one job and one charge', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const update = w.fake.sendText(alice, w.fake.privateChat(alice), FOX);
      await w.jobsReach(1);
      w.fake.redeliver(update);
      const again = await w.replyTo(update, 2);
      const [job] = await w.jobs();
      expect(again.text).toBe(`This request was already accepted as job ${job!.id}.`);
      expect(await w.jobs()).toHaveLength(1);
      expect(await w.ledgerKinds(alice)).toEqual([
        ['starting', STARTING],
        ['hold', -PRICE],
        ['capture', 0],
      ]);
      expect(w.sim.stats.submissions).toBe(1);
    });

    it('makes one job and one charge even when it comes again after a restart', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      const update = w.fake.sendText(alice, chat, FOX);
      await w.jobsReach(1);
      await w.stopBot();
      w.fake.redeliver(update);
      await w.boot();
      await eventually(() =>
        expect(w.fake.repliesTo(update.message!).some((m) => /already accepted/.test(m.text ?? ''))).toBe(true),
      );
      expect(await w.jobs()).toHaveLength(1);
      expect(w.fake.videosIn(chat)).toHaveLength(1);
      expect(await w.ledgerKinds(alice)).toEqual([
        ['starting', STARTING],
        ['hold', -PRICE],
        ['capture', 0],
      ]);
      await w.expectLedgerBalanced();
    });
  });

  describe('when the answer to a video upload is lost', () => {
    it('never uploads the video a second time: it posts the link instead', async () => {
      const w = await startWorld();
      w.fake.dropResponseNext('sendVideo');
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      const update = w.fake.sendText(alice, chat, FOX);
      const [job] = await w.jobsReach(1);
      expect(w.fake.callsTo('sendVideo')).toHaveLength(1);
      expect(w.fake.videosIn(chat)).toHaveLength(1);
      const link = w.fake.repliesTo(update.message!).find((m) => m.text?.includes('/media/'))!;
      expect(link.text).toBe(`Your video is ready: a red fox running through snow\nDownload it:\n${job!.mediaUrl}`);
      expect(job!.deliveryRef).toBe(`${chat.id}:${link.messageId}`);
      await w.expectLedgerBalanced();
    });
  });

  describe('in webhook mode', () => {
    async function webhookWorld(): Promise<World> {
      const port = await freePort();
      return startWorld({
        env: {
          HTTP_PORT: String(port),
          PUBLIC_URL: `http://127.0.0.1:${port}`,
          TELEGRAM_WEBHOOK_SECRET: 'wh-secret_0123456789',
        },
      });
    }

    it('registers the webhook with its secret and answers each update before the job is done', async () => {
      const w = await webhookWorld();
      expect(w.fake.webhook).toEqual({
        url: `${w.bot!.baseUrl}/telegram/webhook`,
        secret: 'wh-secret_0123456789',
        allowedUpdates: ['message', 'callback_query', 'pre_checkout_query'],
      });
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      const update = w.fake.sendText(alice, chat, FOX);
      const upload = await w.fake.waitForCall('sendVideo');
      await w.jobsReach(1);
      const [delivery] = w.fake.webhookDeliveries;
      expect(delivery).toMatchObject({ updateId: update.update_id, status: 200 });
      expect(delivery!.answeredAt).toBeLessThan(upload.at);
      expect(w.fake.callsTo('getUpdates')).toEqual([]);

      // Telegram retries a webhook it got no answer for: still one job.
      w.fake.redeliver(update);
      await eventually(() => expect(w.fake.webhookDeliveries).toHaveLength(2));
      expect(w.fake.webhookDeliveries[1]!.status).toBe(200);
      expect(await w.jobs()).toHaveLength(1);
      expect(w.fake.videosIn(chat)).toHaveLength(1);
      await w.expectLedgerBalanced();
    });

    it.each([
      ['a wrong secret', 'not-the-secret'],
      ['no secret', null],
    ])('refuses an update with %s (401) and acts on nothing', async (_case, secret) => {
      const w = await webhookWorld();
      const alice = w.fake.user();
      const forged = {
        update_id: 424242,
        message: {
          message_id: 1,
          date: 0,
          chat: { id: alice.id, type: 'private', first_name: 'Alice' },
          from: alice,
          text: FOX,
        },
      } as Update;
      const delivery = await w.fake.postToWebhook(forged, { secret });
      expect(delivery.status).toBe(401);
      // A genuine update from Alice in the same chat after it: her updates there are handled in order, so once this
      // one is answered, the forged one would have been handled too had it got in.
      const chat = w.fake.privateChat(alice);
      await w.replyTo(w.fake.sendText(alice, chat, '/help'));
      expect(w.fake.botMessages(chat)).toHaveLength(1);
      expect(await w.jobs()).toEqual([]);
      expect((await w.rows.ledger()).map((e) => e.kind)).not.toContain('hold');
    });
  });

  describe('secrets', () => {
    it('the bot token never appears in a log line, in the database or in any request the provider received', async () => {
      const w = await startWorld();
      w.fake.dropResponseNext('sendVideo');
      w.fake.failNext('getChatMember', { error_code: 400, description: 'Bad Request: member list is inaccessible' });
      const alice = w.fake.user();
      const group = w.fake.group();
      w.fake.sendPhoto(alice, w.fake.privateChat(alice), {
        bytes: simImage(),
        caption: 'the fox wakes up --resolution 480p',
      });
      await w.jobsReach(1);
      const denied = w.fake.sendText(alice, group, '/stats');
      await w.replyTo(denied);
      await w.stopBot();

      const logs = w.logText();
      expect(logs).toMatch(/video upload failed/);
      expect(logs).toMatch(/could not read chat membership/);
      const secretPart = w.fake.token.split(':')[1]!;
      for (const text of [
        logs,
        JSON.stringify(w.sim.calls),
        JSON.stringify(w.sim.requests()),
        JSON.stringify(await w.jobs()),
      ]) {
        expect(text).not.toContain(w.fake.token);
        expect(text).not.toContain(secretPart);
      }
      expect(w.fake.downloads).toHaveLength(1);
    });
  });

  describe('moderator commands', () => {
    async function moderatorWorld(
      role: 'owner' | 'creator' | 'administrator' | 'member' | 'anonymous admin' | 'admin in a private chat',
    ) {
      world = await World.start();
      const w = world;
      const chat: FakeChat = w.fake.group();
      const actor = w.fake.user({ first_name: 'Mod' });
      const target = w.fake.user({ first_name: 'Target' });
      const owner = role === 'owner' ? actor : w.fake.user({ first_name: 'Owner' });
      if (role === 'creator' || role === 'administrator' || role === 'admin in a private chat')
        w.fake.setMemberStatus(chat, actor, role === 'creator' ? 'creator' : 'administrator');
      await w.boot({ OWNER_IDS: `telegram:${owner.id}` });
      if (role !== 'owner') {
        // Moderators grant only out of the budget the owner gave their group.
        const funded = w.fake.sendText(owner, w.fake.privateChat(owner), `/budget give 80 telegram:${chat.id}`);
        expect((await w.replyTo(funded)).text).toBe(`Gave 80 credits to the budget of telegram:${chat.id}. Left: 80.`);
      }
      const command = `/credits grant telegram:${target.id} 50 welcome`;
      const update =
        role === 'anonymous admin'
          ? w.fake.sendAsAnonymousAdmin(chat, command)
          : w.fake.sendText(actor, role === 'admin in a private chat' ? w.fake.privateChat(actor) : chat, command);
      return { w, actor, target, reply: await w.replyTo(update) };
    }

    it.each(['owner', 'creator', 'administrator'] as const)(
      'work for the %s, audited, with the ledger balanced',
      async (role) => {
        const { w, actor, target, reply } = await moderatorWorld(role);
        const fromBudget = role === 'owner' ? '' : " from this community's budget (30 left)";
        expect(reply.text).toBe(
          `Gave 50 credits to telegram:${target.id}${fromBudget}. New balance: ${STARTING + 50}.`,
        );
        expect(await w.balance(target)).toBe(STARTING + 50);
        const audit = (await w.rows.auditLog()).at(-1);
        const actorId = (await w.user(actor))!.id;
        expect(audit).toMatchObject({ actorUserId: actorId, action: 'credits.grant' });
        expect(w.fake.callsTo('getChatMember')).toHaveLength(role === 'owner' ? 0 : 1);
        await w.expectLedgerBalanced();
      },
    );

    it.each([
      ['a member', 'member', /^\/credits is for moderators and the bot owner\.$/],
      [
        'a group admin in a private chat',
        'admin in a private chat',
        /^\/credits is for moderators and the bot owner\.$/,
      ],
      [
        'an anonymous admin',
        'anonymous admin',
        /^You are posting anonymously as the group, so I cannot tell who you are\./,
      ],
    ] as const)('are refused to %s, changing nothing', async (_case, role, message) => {
      const { w, target, reply } = await moderatorWorld(role);
      expect(reply.text).toMatch(message);
      expect(await w.balance(target)).toBe(STARTING);
      expect((await w.rows.auditLog()).filter((a) => a.action === 'credits.grant')).toEqual([]);
      expect(
        (await w.rows.ledger()).filter(
          (e) => e.kind === 'transfer' || (e.kind === 'grant' && e.reason !== 'budget give by owner'),
        ),
      ).toEqual([]);
      await w.expectLedgerBalanced();
    });
  });

  describe('owner alerts', () => {
    it('go to the OWNER_ALERT_CHAT group and name the Telegram owners from OWNER_IDS, nobody else', async () => {
      const w = await startWorld({}, false);
      const owners = w.fake.group('Owners');
      const olga = w.fake.user({ first_name: 'Olga' });
      await w.boot({
        OWNER_ALERT_CHAT: `telegram:${owners.id}`,
        OWNER_IDS: `telegram:${olga.id},discord:310000000000000001`,
        BUDGET_DAILY_USD: '0.2',
        BUDGET_WARN_PERCENT: '50',
      });
      const alice = w.fake.user({ first_name: 'Alice' });
      w.fake.sendText(alice, w.fake.privateChat(alice), FOX);
      await w.jobsReach(1);

      await eventually(() => expect(w.fake.botMessages(owners)).toHaveLength(1));
      const [alert] = w.fake.botMessages(owners);
      expect(alert).toMatchObject({
        parseMode: 'HTML',
        text: `<a href="tg://user?id=${olga.id}">👤</a> ⚠️ Provider spend is nearing its cap: $0.15 of the $0.20 daily cap spent today (75%, estimated). New videos will be refused at the cap (BUDGET_DAILY_USD).`,
      });
      expect(w.logText()).toContain('"alert":"budget_near"');
    });
  });
});

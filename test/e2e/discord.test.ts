import fs from 'node:fs';
import path from 'node:path';
import { GatewayIntentBits } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { COMMANDS_HASH_FILE } from '../../src/platforms/discord/command-definitions.js';
import { PERMISSIONS, type FakeAttachment, type FakeMember } from '../fakes/discord.js';
import {
  buttonIds,
  CHANNEL_POST,
  channelEdit,
  DISCORD_COMMANDS,
  DiscordWorld as World,
  EPHEMERAL,
  isMp4,
  OWNER_ID,
  PRICE,
  STARTING,
  WEBHOOK_EDIT,
} from '../helpers/discord-world.js';
import { pngBytes } from '../media/fixtures.js';
import { viaPublicName } from '../helpers/public-network.js';

/** Discord's CDN is a public host; the fake serves attachments on loopback, which member URLs may not reach. */
const onPublicCdn = (a: FakeAttachment): FakeAttachment => ({ ...a, url: viaPublicName(a.url) });

/**
 * Discord end to end: the whole bot (`startClipbot`: engine, SQLite on disk, fal.ai simulator, HTTP server) with the
 * real discord.js Client logged in to a fake Discord (REST v10 + gateway v10). Members and moderators act through
 * the fake; the tests read what the bot sent (the fake's request log and messages), the database and the simulator.
 */

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function start(opts: Parameters<typeof World.start>[0] = {}): Promise<World> {
  world = await World.start(opts);
  return world;
}

describe('the Discord adapter', () => {
  describe('when it connects', () => {
    it('logs in with the Guilds and GuildMessages intents only: no privileged intent to enable in the portal', async () => {
      const w = await start();
      const intents = w.fake.gateway.identifies.at(-1)!.intents;
      expect(intents).toBe(GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages);
      expect(w.fake.gateway.connected).toBe(1);
    });

    it('registers every command to DISCORD_GUILD_IDS with typed options, choices, Chinese descriptions and moderator permissions', async () => {
      const w = await start();
      const registered = w.fake.commands.guilds.get(w.fake.guild.id)!;
      expect(w.fake.commands.global).toBeUndefined();
      expect(registered.map((c) => c.name).sort()).toEqual([...DISCORD_COMMANDS].sort());
      const video = registered.find((c) => c.name === 'video')!;
      const option = (name: string) => video.options!.find((o) => o.name === name)!;
      expect(video.options![0]).toMatchObject({ name: 'prompt', type: 3, required: true });
      expect(option('image')).toMatchObject({ type: 11, required: false });
      expect(option('model')).toMatchObject({ type: 3, autocomplete: true });
      expect(option('resolution').choices!.map((c) => c.value)).toEqual(['480p', '720p', '1080p', '4k']);
      expect(option('seed')).toMatchObject({ type: 4, min_value: 0, max_value: 2147483647 });
      expect(option('camera_fixed')).toMatchObject({ type: 5 });
      expect(video['description_localizations']).toEqual({ 'zh-CN': '根据提示词（可附图片）生成短视频' });
      expect(video).toMatchObject({ default_member_permissions: null, contexts: [0, 1] });
      for (const name of [
        'credits',
        'quota',
        'ban',
        'unban',
        'blocklist',
        'stats',
        'refund',
        'settings',
        'budget',
        'communities',
      ]) {
        expect(registered.find((c) => c.name === name)).toMatchObject({
          default_member_permissions: String(PERMISSIONS.ManageGuild),
          contexts: [0],
        });
      }
      expect(registered.find((c) => c.name === 'credits')!.options!.find((o) => o.name === 'user')).toMatchObject({
        type: 6,
        required: true,
      });
    });

    it('registers again only when the definitions changed (a restart with the same commands sends nothing)', async () => {
      const w = await start();
      expect(w.fake.calls('PUT', /commands$/)).toHaveLength(1);
      const [hash, guilds] = fs.readFileSync(path.join(w.dir, COMMANDS_HASH_FILE), 'utf8').split('\n');
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect(guilds).toBe(w.fake.guild.id);
      await w.restart();
      expect(w.fake.calls('PUT', /commands$/)).toHaveLength(1);
      fs.writeFileSync(path.join(w.dir, COMMANDS_HASH_FILE), 'something older\n');
      await w.restart();
      expect(w.fake.calls('PUT', /commands$/)).toHaveLength(2);
    });

    it('registers globally when DISCORD_GUILD_IDS is empty', async () => {
      const w = await start({ env: () => ({ DISCORD_GUILD_IDS: '' }) });
      expect(w.fake.commands.global?.length).toBe(DISCORD_COMMANDS.length);
      expect(w.fake.commands.guilds.size).toBe(0);
    });

    it('clears a guild’s copy when DISCORD_GUILD_IDS is emptied for global registration', async () => {
      const w = await start();
      expect(w.fake.commands.guilds.get(w.fake.guild.id)).toHaveLength(DISCORD_COMMANDS.length);
      await w.restart({ DISCORD_GUILD_IDS: '' });
      expect(w.fake.commands.global).toHaveLength(DISCORD_COMMANDS.length);
      expect(w.fake.commands.guilds.get(w.fake.guild.id)).toEqual([]);
    });
  });

  describe('/video', () => {
    it('defers at once, edits the reply into a live status, and mentions the requester in a new message with the MP4 attached', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const i = w.fake.slash(alice, 'video', { prompt: 'a red fox running through snow', resolution: '480p' });

      const first = await w.status(i, 'Cost: 40 credits');
      expect(i.callbacks[0]).toMatchObject({ type: 5 });
      expect(i.callbacks[0]!.data?.flags ?? 0).toBe(0);
      expect(i.callbacks[0]!.at - i.dispatchedAt).toBeLessThan(3000);
      expect(first.content).toMatch(/^“a red fox running through snow”\n⏳ Queued/);
      const job = await w.jobIn('succeeded');
      expect(first.history[1]!.components.flatMap((r) => r.components.map((b) => [b.custom_id, b.label]))).toEqual([
        [`clipbot:cancel:${job.id}`, 'Cancel'],
      ]);

      const delivered = await w.delivery(alice);
      expect(delivered.content).toBe(`<@${alice.id}> Your video is ready: a red fox running through snow`);
      expect(delivered.pinged).toEqual({ everyone: false, users: [alice.id], roles: [] });
      expect(delivered.files[0]).toMatchObject({ filename: `${job.id}.mp4`, contentType: 'video/mp4' });
      expect(isMp4(w.fileOf(delivered))).toBe(true);
      // Seedance on fal offers Extend (from the clip's last frame) and no upscale.
      expect(buttonIds(delivered)).toEqual([`clipbot:retry:${job.id}`, `clipbot:extend:${job.id}`]);

      const status = await w.status(i, '✅ Done');
      const shown = status.history.map((h) => h.content);
      expect(shown.some((text) => /🎬 [█░]{10} \d+s elapsed/.test(text))).toBe(true);
      expect(status.components).toEqual([]);
      expect(status.history.slice(1).every((h) => h.via === 'webhook')).toBe(true);
      // Edits are coalesced: a handful for the whole job, not one per poll or tick.
      expect(status.history.length).toBeLessThan(12);

      expect(job).toMatchObject({
        platform: 'discord',
        chatId: w.fake.channelId,
        uploadLimitBytes: 10 * 1024 * 1024,
        statusMessageId: status.id,
      });
      expect(job.deliveryRef).toBe(`${w.fake.channelId}/${delivered.id}`);
      expect(await w.balance(alice)).toBe(STARTING - PRICE);
      expect(w.sim.requests().map((r) => r.prompt)).toEqual(['a red fox running through snow']);
      await w.expectLedgerBalanced();
    });

    it('does the same for "@clipbot <prompt>" in a channel, replying to the member’s message', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const asked = w.fake.mention(alice, 'a red fox running through snow --resolution 480p');

      const status = await w.fake.waitFor('a status reply', () =>
        w.fake.channelMessages().find((m) => m.referencedMessageId === asked.id),
      );
      expect(status.content).toContain('Cost: 40 credits');
      expect(status.pinged).toEqual({ everyone: false, users: [], roles: [] });
      const job = await w.jobIn('succeeded');
      expect(job).toMatchObject({ requestMessageId: asked.id, prompt: 'a red fox running through snow' });
      const delivered = await w.delivery(alice);
      expect(isMp4(w.fileOf(delivered))).toBe(true);
      expect(delivered.pinged.users).toEqual([alice.id]);
      await w.fake.waitFor('the final status', () => w.fake.message(status.id)!.content.includes('✅ Done'));
      expect(
        w.fake
          .message(status.id)!
          .history.slice(1)
          .every((h) => h.via === 'channel'),
      ).toBe(true);
      expect(await w.balance(alice)).toBe(STARTING - PRICE);
      await w.expectLedgerBalanced();
    });

    it('ignores messages that do not mention the bot, even ones that name it or ping everyone', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      w.fake.post(alice, '@everyone clipbot make a red fox');
      w.fake.post(alice, `<@${alice.id}> a red fox`);
      const asked = w.fake.mention(alice, 'a red fox --resolution 480p');
      await w.fake.waitFor('the status reply', () =>
        w.fake.channelMessages().find((m) => m.referencedMessageId === asked.id),
      );
      await w.jobIn('succeeded');
      expect(await w.jobs()).toHaveLength(1);
      expect(
        w.fake.channelMessages().filter((m) => m.referencedMessageId && m.referencedMessageId !== asked.id),
      ).toEqual([]);
    });

    it('animates an image attached to the command: fetched from its CDN link, re-hosted, never passed on as is', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const image = onPublicCdn(w.fake.hostFile(pngBytes(), 'fox.png', 'image/png'));
      const i = w.fake.slash(alice, 'video', { prompt: 'the fox wakes up', image, resolution: '480p' });

      await w.status(i, 'Cost: 40 credits');
      const job = await w.jobIn('succeeded');
      expect(job.inputImageUrl).toBe(image.url);
      expect(job.providerModel).toMatch(/image-to-video$/);
      expect(w.sim.requests()[0]!.input['image_url']).toMatch(/^data:image\/png;base64,/);
      expect(isMp4(w.fileOf(await w.delivery(alice)))).toBe(true);
      await w.expectLedgerBalanced();
    });

    it('animates an image attached to a mention', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const image = onPublicCdn(w.fake.hostFile(pngBytes(), 'fox.png', 'image/png'));
      w.fake.mention(alice, 'the fox wakes up --resolution 480p', { attachments: [image] });

      const job = await w.jobIn('succeeded');
      expect(job.inputImageUrl).toBe(image.url);
      expect(w.sim.requests()[0]!.input['image_url']).toMatch(/^data:image\/png;base64,/);
      expect(isMp4(w.fileOf(await w.delivery(alice)))).toBe(true);
    });

    it('works in a DM with the bot too', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const i = w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' }, { dm: true });
      await w.status(i, 'Cost: 40 credits');
      const job = await w.jobIn('succeeded');
      expect(job).toMatchObject({ chatId: i.channelId, guildId: null });
      const delivered = await w.fake.waitFor('a delivery in the DM', () => w.fake.channelMessages(i.channelId)[0]);
      expect(isMp4(w.fileOf(delivered))).toBe(true);
      await w.expectLedgerBalanced();
    });

    it('labels the buttons in the requester’s language', async () => {
      const w = await start();
      const li = w.fake.member('Li', { locale: 'zh-CN' });
      const i = w.fake.slash(li, 'video', { prompt: 'a red fox', resolution: '480p' });
      const status = await w.status(i, 'Cost');
      expect(status.components[0]!.components.map((b) => b.label)).toEqual(['取消']);
      const delivered = await w.delivery(li);
      expect(delivered.components.flatMap((r) => r.components.map((b) => b.label))).toEqual(['重试', '延长 · 40 积分']);
      expect((await w.jobIn('succeeded')).locale).toBe('zh-CN');
    });

    it('offers the catalog’s models as the member types, only those whose provider has a key', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const all = w.fake.autocomplete(alice, 'video', 'model', '');
      const veo = w.fake.autocomplete(alice, 'video', 'model', 'veo');
      await w.fake.waitFor('autocomplete answers', () => all.callbacks.length && veo.callbacks.length);
      expect(all.callbacks[0]).toMatchObject({ type: 8 });
      const choices = (all.callbacks[0]!.data as unknown as { choices: { value: string }[] }).choices;
      expect(choices.map((c) => c.value)).toEqual([
        'seedance-1-pro',
        'seedance-1.5-pro',
        'seedance-2',
        'seedance-2-fast',
      ]);
      expect((veo.callbacks[0]!.data as unknown as { choices: unknown[] }).choices).toEqual([]);
    });

    it('Retry on the result makes the same video again with a new seed, charged again; others may not press it', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const bob = w.fake.member('Bob');
      w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p', seed: 7 });
      const first = await w.jobIn('succeeded');
      const result = await w.delivery(alice);

      const refused = w.fake.press(bob, result, `clipbot:retry:${first.id}`);
      expect(await w.privateReply(refused)).toBe('Only the person who asked for this video can retry it.');

      const retry = w.fake.press(alice, result, `clipbot:retry:${first.id}`);
      await w.status(retry, 'Cost: 40 credits');
      const second = await w.jobIn('succeeded', 1);
      expect(second).toMatchObject({ prompt: 'a red fox', model: first.model });
      expect(w.sim.requests()[1]!.input['seed']).not.toBe(7);
      await w.fake.waitFor('a second delivery', () => w.deliveries(alice).length === 2);
      expect(await w.balance(alice)).toBe(STARTING - 2 * PRICE);
      await w.expectLedgerBalanced();
    });
  });

  describe('delivering the result', () => {
    it('posts a link to our stored copy when the video is larger than the interaction’s attachment_size_limit', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' }, { attachmentSizeLimit: 10_000 });

      const job = await w.jobIn('succeeded');
      const delivered = await w.delivery(alice);
      expect(job.uploadLimitBytes).toBe(10_000);
      expect(job.mediaBytes).toBeGreaterThan(10_000);
      expect(delivered.files).toEqual([]);
      const link = `${w.bot!.baseUrl}/media/results/${job.id}.mp4`;
      expect(delivered.content).toContain(link);
      expect(delivered.pinged.users).toEqual([alice.id]);
      expect(w.fake.calls('POST', CHANNEL_POST).every((r) => r.files.length === 0)).toBe(true);
      const served = Buffer.from(await (await fetch(link)).arrayBuffer());
      expect(isMp4(served)).toBe(true);
    });

    it('falls back to the link when Discord answers 413 / 40005 to the upload', async () => {
      const w = await start();
      w.fake.uploadLimitBytes = 10_000;
      const alice = w.fake.member('Alice');
      w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });

      const job = await w.jobIn('succeeded');
      const delivered = await w.delivery(alice);
      const posts = w.fake.calls('POST', CHANNEL_POST);
      expect(posts.map((r) => [r.status, r.files.length])).toEqual([
        [413, 1],
        [200, 0],
      ]);
      expect(delivered.content).toContain(`/media/results/${job.id}.mp4`);
      expect(w.deliveries(alice)).toHaveLength(1);
      await w.expectLedgerBalanced();
    });

    it.each([
      ['the connection drops after Discord stored the message', 'reset' as const],
      ['Discord answers 502 after storing it', { status: 502 }],
    ])('leaves one video when %s and the upload is sent again (nonce + enforce_nonce)', async (_case, respond) => {
      const w = await start();
      const alice = w.fake.member('Alice');
      w.fake.inject({ method: 'POST', path: CHANNEL_POST, phase: 'after', respond });
      w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });

      await w.jobIn('succeeded');
      const uploads = w.fake.calls('POST', CHANNEL_POST).filter((r) => r.files.length === 1);
      expect(uploads.length).toBeGreaterThanOrEqual(2);
      expect(new Set(uploads.map((r) => r.body?.nonce)).size).toBe(1);
      expect(uploads.every((r) => r.body?.enforce_nonce === true)).toBe(true);
      expect(w.fake.botMessages().filter((m) => m.files.length > 0)).toHaveLength(1);
      expect(w.deliveries(alice)).toHaveLength(1);
      await w.expectLedgerBalanced();
    });
  });

  describe('Cancel', () => {
    it('pressed by the requester cancels the job, refunds it, updates the status and tells them in a new message', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const i = w.fake.slash(alice, 'video', { prompt: '[sim:hang] a red fox', resolution: '480p' });
      const status = await w.status(i, 'elapsed');
      const running = await w.jobIn('running');

      const press = w.fake.press(alice, status, `clipbot:cancel:${running.id}`);
      expect(await w.privateReply(press)).toBe('Cancelled; your credits are back.');
      expect(press.callbacks[0]).toMatchObject({ type: 5, data: { flags: EPHEMERAL } });
      expect((await w.job(running.id)).status).toBe('cancelled');
      expect(await w.balance(alice)).toBe(STARTING);
      await w.status(i, '🚫 Cancelled');
      expect(w.fake.original(i)!.components).toEqual([]);
      const notice = await w.fake.waitFor('a notice', () =>
        w.fake.channelMessages().find((m) => m.content.includes('was cancelled')),
      );
      expect(notice.content).toMatch(
        new RegExp(`^<@${alice.id}> Job ${running.id} was cancelled\\. 40 credits refunded\\.$`),
      );
      expect(notice.pinged.users).toEqual([alice.id]);
      expect(w.sim.stats.cancelCalls).toBe(1);
      await w.expectLedgerBalanced();
    });

    it('pressed by someone else is refused privately and the job goes on', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const bob = w.fake.member('Bob', { locale: 'zh-CN' });
      const i = w.fake.slash(alice, 'video', { prompt: '[sim:hang] a red fox', resolution: '480p' });
      const status = await w.status(i, 'elapsed');
      const running = await w.jobIn('running');

      const press = w.fake.press(bob, status, `clipbot:cancel:${running.id}`);
      expect(await w.privateReply(press)).toBe('只有发起者（或管理员）可以这样做。');
      expect((await w.job(running.id)).status).toBe('running');
      expect(await w.balance(alice)).toBe(STARTING - PRICE);
      expect(buttonIds(w.fake.original(i)!)).toEqual([`clipbot:cancel:${running.id}`]);
      await w.expectLedgerBalanced();
    });

    it('pressed by a moderator (Manage Server) cancels someone else’s job and refunds its owner', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const mod = w.fake.member('Mod', { permissions: PERMISSIONS.ManageGuild | PERMISSIONS.ViewChannel });
      const i = w.fake.slash(alice, 'video', { prompt: '[sim:hang] a red fox', resolution: '480p' });
      const status = await w.status(i, 'elapsed');
      const running = await w.jobIn('running');

      const press = w.fake.press(mod, status, `clipbot:cancel:${running.id}`);
      expect(await w.privateReply(press)).toBe('Cancelled; the credits went back to the member who asked for it.');
      expect(await w.job(running.id)).toMatchObject({ status: 'cancelled', errorMessage: 'Cancelled by a moderator.' });
      expect(await w.balance(alice)).toBe(STARTING);
      await w.expectLedgerBalanced();
    });
  });

  describe('rate limits and expired tokens', () => {
    it('waits out a 429 on a status edit instead of hammering, and the edit lands', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const i = w.fake.slash(alice, 'video', { prompt: '[sim:hang] a red fox', resolution: '480p' });
      await w.status(i, 'Cost');
      w.fake.rateLimit('PATCH', WEBHOOK_EDIT, 0.6);
      const edits = await w.fake.waitFor('a rate-limited edit and its retry', () => {
        const sent = w.fake.calls('PATCH', WEBHOOK_EDIT);
        const limited = sent.findIndex((r) => r.status === 429);
        return limited >= 0 && sent[limited + 1] ? sent : undefined;
      });

      const limited = edits.findIndex((r) => r.status === 429);
      const retried = edits[limited + 1]!;
      expect(retried.path).toBe(edits[limited]!.path);
      expect(retried.status).toBe(200);
      expect(retried.at - edits[limited]!.at).toBeGreaterThanOrEqual(550);
      w.sim.complete(w.sim.requests()[0]!.id);
      await w.status(i, '✅ Done');
      await w.delivery(alice);
      await w.expectLedgerBalanced();
    });

    it('moves the status to the channel route when the interaction token expires mid-job (401 / 50027), then delivers there once', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const i = w.fake.slash(alice, 'video', { prompt: '[sim:hang] a red fox', resolution: '480p' });
      const status = await w.status(i, 'elapsed');
      const before = w.fake.calls('PATCH', WEBHOOK_EDIT).length;

      w.fake.expireToken(i);
      await w.fake.waitFor('an edit through the channel route', () =>
        w.fake.calls('PATCH', channelEdit(status.id)).some((r) => r.status === 200),
      );
      w.sim.complete(w.sim.requests()[0]!.id);
      const job = await w.jobIn('succeeded');
      await w.status(i, '✅ Done');

      const afterExpiry = w.fake.calls('PATCH', WEBHOOK_EDIT).slice(before);
      expect(afterExpiry.map((r) => [r.status, r.body === undefined])).toEqual([[401, false]]);
      expect(w.fake.message(status.id)!.history.at(-1)!.via).toBe('channel');
      expect((await w.job(job.id)).statusMessageId).toBe(status.id);
      expect(w.deliveries(alice)).toHaveLength(1);
      expect(isMp4(w.fileOf(w.deliveries(alice)[0]!))).toBe(true);
      await w.expectLedgerBalanced();
    });

    it('posts a fresh status in the channel when the status message was deleted', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const i = w.fake.slash(alice, 'video', { prompt: '[sim:hang] a red fox', resolution: '480p' });
      const status = await w.status(i, 'elapsed');
      const running = await w.jobIn('running');

      w.fake.deleteMessage(status.id);
      const fresh = await w.fake.waitFor('a fresh status', () =>
        w.fake.channelMessages().find((m) => m.content.includes('elapsed')),
      );
      await w.fake.waitFor(
        'the job to remember it',
        async () => (await w.job(running.id)).statusMessageId === fresh.id,
      );
      expect(fresh.pinged).toEqual({ everyone: false, users: [], roles: [] });
      w.sim.complete(w.sim.requests()[0]!.id);
      await w.jobIn('succeeded');
      await w.fake.waitFor('the fresh status to finish', () => w.fake.message(fresh.id)!.content.includes('✅ Done'));
    });
  });

  describe('after a restart mid-job', () => {
    it('edits the same status message on (through the channel route) and delivers once', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const i = w.fake.slash(alice, 'video', { prompt: '[sim:hang] a red fox', resolution: '480p' });
      const status = await w.status(i, 'elapsed');
      const running = await w.jobIn('running');

      await w.restart();
      const editsBefore = w.fake.calls('PATCH', channelEdit(status.id)).length;
      await w.fake.waitFor(
        'an edit of the same message',
        () => w.fake.calls('PATCH', channelEdit(status.id)).length > editsBefore,
      );
      w.sim.complete(w.sim.requests()[0]!.id);
      await w.jobIn('succeeded');
      await w.fake.waitFor('the final status', () => w.fake.message(status.id)!.content.includes('✅ Done'));

      expect((await w.job(running.id)).statusMessageId).toBe(status.id);
      expect(w.fake.channelMessages().filter((m) => !m.content.startsWith(`<@${alice.id}>`))).toEqual([]);
      expect(w.deliveries(alice)).toHaveLength(1);
      expect(w.sim.stats.submissions).toBe(1);
      expect(w.fake.gateway.identifies).toHaveLength(2);
      await w.expectLedgerBalanced();
    });
  });

  describe('mentions', () => {
    it('a prompt containing @everyone and <@id> pings nobody but the requester, wherever it is echoed', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const bob = w.fake.member('Bob');
      const prompt = `@everyone look at <@${bob.id}> and <@&${w.fake.guild.id}> dancing`;
      w.fake.slash(alice, 'video', { prompt, resolution: '480p' });
      await w.jobIn('succeeded');
      await w.delivery(alice);
      w.fake.mention(alice, `${prompt} again --resolution 480p`);
      await w.jobIn('succeeded', 1);
      await w.fake.waitFor('two deliveries', () => w.deliveries(alice).length === 2);

      const sent = w.fake.botMessages();
      expect(sent.filter((m) => m.content.includes('@everyone')).length).toBeGreaterThanOrEqual(4);
      for (const message of sent) {
        expect(message.pinged.everyone).toBe(false);
        expect(message.pinged.roles).toEqual([]);
        expect(message.pinged.users.filter((u) => u !== alice.id)).toEqual([]);
      }
      expect(w.deliveries(alice).map((m) => m.pinged.users)).toEqual([[alice.id], [alice.id]]);
    });
  });

  describe('owner alerts', () => {
    it('go to OWNER_ALERT_CHAT and ping the Discord owners from OWNER_IDS, nobody else', async () => {
      const w = await start({
        env: (fake) => ({
          OWNER_ALERT_CHAT: `discord:${fake.otherChannelId}`,
          OWNER_IDS: `discord:${OWNER_ID},telegram:5678`,
          BUDGET_DAILY_USD: '0.2',
          BUDGET_WARN_PERCENT: '50',
        }),
      });
      const alice = w.fake.member('Alice');
      w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });
      await w.jobIn('succeeded');
      const refused = w.fake.slash(alice, 'video', { prompt: 'another fox', resolution: '480p' });
      expect(await w.privateReply(refused)).toMatch(/spending limit/);

      const alerts = await w.fake.waitFor('two owner alerts', () => {
        const sent = w.fake.channelMessages(w.fake.otherChannelId);
        return sent.length === 2 ? sent : undefined;
      });
      // Escaped for Discord's Markdown: unescaped, "_DAILY_" would show in italics.
      expect(alerts.map((m) => m.content)).toEqual([
        `<@${OWNER_ID}> ⚠️ Provider spend is nearing its cap: $0.15 of the $0.20 daily cap spent today (75%, estimated). New videos will be refused at the cap (BUDGET\\_DAILY\\_USD).`,
        `<@${OWNER_ID}> 🛑 Provider spend cap reached: $0.15 of the $0.20 daily cap spent today (75%, estimated). New videos are refused until 00:00 UTC; raise BUDGET\\_DAILY\\_USD to allow more.`,
      ]);
      for (const message of alerts) expect(message.pinged).toEqual({ everyone: false, users: [OWNER_ID], roles: [] });
      expect(w.fake.channelMessages().some((m) => m.content.includes('spend'))).toBe(false);
    });
  });

  describe('/models', () => {
    it('shows members the credits only, and owners the provider’s cost beside them', async () => {
      const w = await start();
      const alice = w.fake.member('Alice');
      const owner = w.fake.member('Olga', { id: OWNER_ID });
      const forMember = (await w.privateReply(w.fake.slash(alice, 'models', {}))).split('\n');
      const forOwner = (await w.privateReply(w.fake.slash(owner, 'models', {}))).split('\n');
      expect(forMember[0]).toBe(
        'seedance-1-pro (default): Seedance 1.0 Pro (fal.ai). 2–12 s. Credits for 5 s: 480p 40 / 720p 50 / 1080p 70',
      );
      expect(forMember.join('\n')).not.toMatch(/cost|\$/);
      expect(forOwner[0]).toBe(
        'seedance-1-pro (default): Seedance 1.0 Pro (fal.ai). 2–12 s. Credits for 5 s: 480p 40 (cost $0.15) / 720p 50 (cost $0.30) / 1080p 70 (cost $0.62)',
      );
    });
  });

  describe('errors', () => {
    it('are private, in the member’s language, and say what to do next; nothing is charged', async () => {
      const w = await start({ env: () => ({ STARTING_CREDITS: '10' }) });
      const li = w.fake.member('Li', { locale: 'zh-CN' });
      const i = w.fake.slash(li, 'video', { prompt: 'a red fox', resolution: '480p' });

      expect(await w.privateReply(i)).toBe('这个视频需要 40 积分，你只有 10 积分。');
      expect(w.fake.original(i)!.deleted).toBe(true);
      expect(await w.jobs()).toEqual([]);
      expect(await w.balance(li)).toBe(10);
    });

    it('fall back to English for other languages', async () => {
      const w = await start({ env: () => ({ STARTING_CREDITS: '10' }) });
      const zoe = w.fake.member('Zoé', { locale: 'fr' });
      const i = w.fake.slash(zoe, 'video', { prompt: 'a red fox', resolution: '480p' });
      expect(await w.privateReply(i)).toBe('This video costs 40 credits and you have 10.');
    });

    it('caused by a bug carry a short correlation id, and nothing changes', async () => {
      const w = await start();
      const mod = w.fake.member('Mod', { permissions: PERMISSIONS.ManageGuild, locale: 'zh-CN' });
      const bob = w.fake.member('Bob');
      // Storage failing under the bot: every audit write is refused.
      await w.refuseInserts('audit_log', 'disk on fire');

      const i = w.fake.slash(mod, 'ban', { user: bob, reason: 'spam' });
      expect(await w.privateReply(i)).toMatch(/^出了点问题（编号 [0-9a-f]{8}），没有扣除积分。$/);
      expect((await w.user(bob))?.banned ?? false).toBe(false);
    });
  });

  describe('moderator commands', () => {
    const asks: [string, (w: World, target: FakeMember) => Record<string, string | number | FakeMember>][] = [
      ['credits', (_w, target) => ({ action: 'grant', user: target, amount: 50, reason: 'contest winner' })],
      ['quota', (_w, target) => ({ user: target, daily_jobs: '3' })],
      ['ban', (_w, target) => ({ user: target, reason: 'spam' })],
      ['unban', (_w, target) => ({ user: target })],
      ['blocklist', () => ({ action: 'add', term: 'gore' })],
      ['stats', () => ({})],
      ['refund', () => ({ job: 'jdoesnotexist', reason: 'test' })],
      ['settings', (w) => ({ channels: w.fake.otherChannelId })],
    ];

    const everything = async (w: World) => ({
      users: await w.rows.users(),
      ledger: await w.rows.ledger(),
      audit: await w.audit(),
    });

    it.each(asks)('/%s is refused to a member without Manage Server, and changes nothing', async (name, options) => {
      const w = await start();
      const member = w.fake.member('Mallory');
      const target = w.fake.member('Bob');
      const before = await everything(w);
      const i = w.fake.slash(member, name, options(w, target));
      expect(await w.privateReply(i)).toBe(`/${name} is for moderators and the bot owner.`);
      expect(i.callbacks[0]).toMatchObject({ type: 5, data: { flags: EPHEMERAL } });
      expect(await everything(w)).toEqual(before);
      await w.expectLedgerBalanced();
    });

    it('are refused server-side to a guild admin without Manage Server whose server re-enabled them for everyone', async () => {
      const w = await start();
      const admin = w.fake.member('Half-admin', {
        permissions: (1n << 1n) | (1n << 2n) | (1n << 4n) | (1n << 13n) | PERMISSIONS.ViewChannel,
      });
      const bob = w.fake.member('Bob');
      const i = w.fake.slash(admin, 'credits', { action: 'grant', user: bob, amount: 1000 });
      expect(await w.privateReply(i)).toBe('/credits is for moderators and the bot owner.');
      expect(await w.user(bob)).toBeUndefined();
      expect(await w.audit()).toEqual([]);
    });

    it('are refused in DMs, even to the owner', async () => {
      const w = await start();
      const owner = w.fake.member('Olga', { id: OWNER_ID });
      const i = w.fake.slash(owner, 'credits', { action: 'grant', user: owner, amount: 1000 }, { dm: true });
      expect(await w.privateReply(i)).toBe(
        '/credits works only in a server, where your Manage Server permission can be checked.',
      );
      expect(await w.audit()).toEqual([]);
      await w.expectLedgerBalanced();
    });

    it('work for a member with Manage Server, each one audited, and the ledger balances after each', async () => {
      const w = await start();
      const owner = w.fake.member('Olga', { id: OWNER_ID });
      expect(await w.privateReply(w.fake.slash(owner, 'budget', { action: 'give', amount: 100 }))).toBe(
        `Gave 100 credits to the budget of discord:${w.fake.guild.id}. Left: 100.`,
      );
      const mod = w.fake.member('Mod', { permissions: PERMISSIONS.ManageGuild | PERMISSIONS.ViewChannel });
      const alice = w.fake.member('Alice');
      w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });
      const job = await w.jobIn('succeeded');
      await w.expectLedgerBalanced();

      const run = async (name: string, options: Record<string, string | number | FakeMember>) => {
        const reply = await w.privateReply(w.fake.slash(mod, name, options));
        await w.expectLedgerBalanced();
        return reply;
      };
      expect(await run('credits', { action: 'grant', user: alice, amount: 50, reason: 'contest winner' })).toMatch(
        /^Gave 50 credits to Alice \(discord:\d+\) from this community's budget \(50 left\)\. New balance: 210\.$/,
      );
      expect(await run('credits', { action: 'take', user: alice, amount: 10, reason: 'typo' })).toBe(
        'Only the bot owner can take credits away.',
      );
      expect(await run('quota', { user: alice, daily_jobs: '3' })).toMatch(/3/);
      expect(await run('ban', { user: alice, reason: 'spam' })).toMatch(/Alice/);
      expect(await run('unban', { user: alice })).toMatch(/Alice/);
      expect(await run('blocklist', { action: 'add', term: 'gore' })).toMatch(/gore/);
      expect(await run('stats', {})).toMatch(/\S/);
      expect(await run('refund', { job: job.id, reason: 'blurry' })).toBe(
        `Refunded 40 credits for job ${job.id} to Alice (discord:${alice.id}).`,
      );
      expect(await run('settings', { channels: w.fake.otherChannelId })).toContain(
        `channels: ${w.fake.otherChannelId}`,
      );

      const modUser = (await w.user(mod))!;
      const byMod = (await w.audit()).filter((a) => a.actorUserId === modUser.id);
      expect(byMod.map((a) => a.action)).toEqual([
        'credits.grant',
        'quota.set',
        'user.ban',
        'user.unban',
        'blocklist.add',
        'job.refund',
        'settings.update',
      ]);
      expect(byMod.every((a) => a.community === `discord:${w.fake.guild.id}`)).toBe(true);
      expect(JSON.parse(byMod[0]!.detail!)).toEqual({ amount: 50, reason: 'contest winner', from: 'budget' });
      expect(await w.balance(alice)).toBe(STARTING - PRICE + 50 + PRICE);

      // The server's settings now hold: videos only in the other channel.
      const elsewhere = w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });
      expect(await w.privateReply(elsewhere)).toBe(
        'Videos cannot be made in this channel. Ask a moderator where they are allowed.',
      );
      await w.expectLedgerBalanced();
    });

    it('work for an owner from OWNER_IDS without any server permission', async () => {
      const w = await start();
      const owner = w.fake.member('Olga', { id: OWNER_ID });
      const bob = w.fake.member('Bob');
      const reply = await w.privateReply(w.fake.slash(owner, 'credits', { action: 'grant', user: bob, amount: 25 }));
      expect(reply).toMatch(/^Gave 25 credits to .*\. New balance: 225\.$/);
      expect((await w.audit()).map((a) => a.action)).toEqual(['credits.grant']);
      await w.expectLedgerBalanced();
    });
  });

  describe('/buy', () => {
    it('says buying is not set up without DISCORD_SKU_CREDITS, even with Telegram packs configured, and charges nothing', async () => {
      const w = await start({ env: () => ({ CREDIT_PACKS_TELEGRAM: '100:50' }) });
      const alice = w.fake.member('Alice');
      const i = w.fake.slash(alice, 'buy', {});
      expect(await w.privateReply(i)).toBe('Buying credits is not set up on this bot.');
      expect(w.fake.followUps(i)).toEqual([]);
      expect(await w.balance(alice)).toBe(STARTING);
    });
  });
});

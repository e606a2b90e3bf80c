import type { Update } from 'grammy/types';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '../../db/schema.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { FakeDiscord, PERMISSIONS, type FakeInteraction, type FakeMember } from '../fakes/discord.js';
import { FakeTelegram, type FakeUser, type StoredMessage } from '../fakes/telegram-api.js';
import { balanceIn, userIn } from '../helpers/bot-db.js';
import { tempDir } from '../helpers/db.js';
import { FAST_MODELS } from '../helpers/engine-harness.js';
import { expectLedgerBalanced } from '../helpers/ledger.js';
import { botTestStore, type BotStore, type StoreRows } from '../helpers/test-store.js';

/**
 * One process, one engine, both real chat libraries: the whole bot (`startClipbot`) logged in to the fake Discord
 * (discord.js) and polling the fake Telegram Bot API (grammY) at once, with the fal.ai simulator behind it. The
 * tests read what each fake received, the simulator, and the rows of the bot's store (SQLite, or PostgreSQL under
 * CLIPBOT_TEST_STORE=postgres).
 */

const STARTING = 1000;
const EPHEMERAL = 64;
const CHANNEL_POST = /^\/channels\/\d+\/messages$/;
const eventually = <T>(check: () => T, timeout = 10_000) => vi.waitFor(check, { timeout, interval: 20 });
const isMp4 = (data: Buffer) => data.subarray(4, 8).toString('latin1') === 'ftyp';

class World {
  bot: RunningBot | undefined;

  private constructor(
    readonly discord: FakeDiscord,
    readonly telegram: FakeTelegram,
    readonly sim: FalSimulator,
    readonly dir: string,
    private readonly store: BotStore,
    private readonly removeDir: () => void,
  ) {}

  static async start(env: (w: World) => Record<string, string> = () => ({})): Promise<World> {
    const discord = await FakeDiscord.start();
    const telegram = await FakeTelegram.start();
    const sim = await startFalSimulator({ queueMs: 20, runMs: 300 });
    const { dir, cleanup } = tempDir('clipbot-cross-');
    const store = await botTestStore(dir);
    const w = new World(discord, telegram, sim, dir, store, cleanup);
    const config = loadConfig({
      DATA_DIR: dir,
      ...store.env,
      HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      FETCH_ALLOW_CIDRS: '127.0.0.0/8',
      FAL_KEY: sim.key,
      FAL_QUEUE_URL: sim.url,
      FAL_JWKS_URL: sim.jwksUrl,
      DISCORD_TOKEN: discord.token,
      DISCORD_API_BASE: discord.apiBase,
      DISCORD_GUILD_IDS: discord.guild.id,
      TELEGRAM_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      STATUS_EDIT_INTERVAL_MS: '0',
      MAX_RUNNING_JOBS: '1',
      USER_MAX_PENDING_JOBS: '10',
      RATE_LIMIT_JOBS: '100',
      STARTING_CREDITS: String(STARTING),
      ...env(w),
    });
    w.bot = await startClipbot(config, { logger: silentLogger, models: FAST_MODELS });
    return w;
  }

  async close(): Promise<void> {
    await this.bot?.stop();
    await this.store.release();
    await this.discord.close();
    await this.telegram.close();
    await this.sim.close();
    this.removeDir();
  }

  get rows(): StoreRows {
    return this.store.rows;
  }

  /** Oldest first. */
  jobs(): Promise<Job[]> {
    return this.rows.jobs();
  }

  /** The balance of the account behind (platform, id); undefined when there is no such account yet. */
  async balance(platform: 'discord' | 'telegram', id: string | number): Promise<number | undefined> {
    const user = await userIn(this.rows, platform, String(id));
    return user ? balanceIn(this.rows, user.id) : undefined;
  }

  /** Every hold settled exactly once (captured on success, released otherwise); no balance below zero. */
  expectLedgerBalanced(): Promise<void> {
    return expectLedgerBalanced(this.rows);
  }

  /** The sum of the prices captured (spent) for the account behind (platform, id). */
  async captured(platform: 'discord' | 'telegram', id: string | number): Promise<number> {
    const user = (await userIn(this.rows, platform, String(id)))!;
    const captured = new Set(
      (await this.rows.ledger()).filter((e) => e.userId === user.id && e.kind === 'capture').map((e) => e.jobId),
    );
    return (await this.jobs())
      .filter((j) => j.userId === user.id && captured.has(j.id))
      .reduce((sum, j) => sum + j.price, 0);
  }

  /** What only the Discord member who acted sees: the ephemeral reply, or an ephemeral follow-up. */
  privateReply(i: FakeInteraction): Promise<string> {
    return this.discord.waitFor('a private reply', () => {
      const original = this.discord.original(i);
      if (original && !original.deleted && original.flags & EPHEMERAL && original.content) return original.content;
      return this.discord.followUps(i).find((m) => m.flags & EPHEMERAL)?.content;
    });
  }

  /** The bot's first reply on Telegram to `update`'s message. */
  async telegramReply(update: Update): Promise<StoredMessage> {
    let found: StoredMessage | undefined;
    await eventually(() => {
      found = this.telegram.repliesTo(update.message!)[0];
      expect(found).toBeDefined();
    });
    return found!;
  }
}

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('one bot on Discord and Telegram at once', () => {
  it('a member on Discord queues four videos, then a member on Telegram asks for one: the Telegram video starts before the Discord member’s second', async () => {
    const w = (world = await World.start());
    const dana: FakeMember = w.discord.member('Dana');
    const tom: FakeUser = w.telegram.user({ first_name: 'Tom' });
    const tomChat = w.telegram.privateChat(tom);

    // Dana's first video holds the only running slot (the simulator keeps it in progress until we complete it),
    // so the other three are certainly still queued when Tom asks.
    // Each is asked once the one before is a job: interactions are handled side by side, so four at once could become
    // jobs in any order (and the hanging one must be first).
    const prompts = ['[sim:hang] a red fox in snow', 'a blue whale', 'a green parrot', 'a yellow taxi'];
    for (const [n, prompt] of prompts.entries()) {
      w.discord.slash(dana, 'video', { prompt, resolution: '480p' });
      await eventually(async () => expect(await w.jobs()).toHaveLength(n + 1));
    }
    await eventually(async () => {
      const all = await w.jobs();
      expect(all.map((j) => [j.platform, j.prompt])).toEqual(prompts.map((p) => ['discord', p]));
      expect(all.map((j) => j.status)).toEqual(['running', 'queued', 'queued', 'queued']);
    });

    w.telegram.sendText(tom, tomChat, '/video a paper boat on a rainy street --resolution 480p');
    await eventually(async () =>
      expect((await w.jobs()).map((j) => [j.platform, j.status])).toEqual([
        ...Array(4).fill(['discord', expect.any(String)]),
        ['telegram', 'queued'],
      ]),
    );
    expect((await w.jobs())[0]!.status).toBe('running');

    w.sim.complete(w.sim.requests()[0]!.id);
    await eventually(
      async () => expect((await w.jobs()).map((j) => j.status)).toEqual(Array(5).fill('succeeded')),
      20_000,
    );

    const all = await w.jobs();
    const [d1, d2, d3, d4, t] = all as [Job, Job, Job, Job, Job];
    expect(t).toMatchObject({ platform: 'telegram', chatId: String(tomChat.id) });
    for (const d of [d1, d2, d3, d4]) expect(d).toMatchObject({ platform: 'discord', chatId: w.discord.channelId });
    // Fair order across platforms: the newcomer goes before Dana's second, though Dana asked first.
    expect(t.submittedAt!).toBeLessThan(d2.submittedAt!);
    expect(t.submittedAt!).toBeGreaterThan(d1.submittedAt!);
    const bySubmission = [...all].sort((a, b) => a.submittedAt! - b.submittedAt!).map((j) => j.id);
    expect(bySubmission).toEqual([d1.id, t.id, d2.id, d3.id, d4.id]);
    expect(w.sim.requests().map((r) => r.prompt)).toEqual([d1, t, d2, d3, d4].map((j) => j.prompt));

    // Each platform got its own deliveries, and only its own: four MP4 uploads to Discord, one sendVideo to Telegram.
    const uploads = w.discord.calls('POST', CHANNEL_POST).filter((r) => r.files.length > 0);
    expect(uploads).toHaveLength(4);
    expect(uploads.every((r) => r.status === 200 && r.files.length === 1 && isMp4(r.files[0]!.data))).toBe(true);
    const delivered = w.discord.channelMessages().filter((m) => m.files.length > 0);
    expect(delivered.map((m) => m.content.startsWith(`<@${dana.id}>`))).toEqual([true, true, true, true]);
    expect(delivered.map((m) => m.files[0]!.filename).sort()).toEqual(
      [d1, d2, d3, d4].map((j) => `${j.id}.mp4`).sort(),
    );

    const sendVideos = w.telegram.callsTo('sendVideo');
    expect(sendVideos).toHaveLength(1);
    expect(sendVideos[0]).toMatchObject({ multipart: true, status: 200 });
    expect(Number(sendVideos[0]!.params['chat_id'])).toBe(tomChat.id);
    const videos = w.telegram.videosIn(tomChat);
    expect(videos).toHaveLength(1);
    expect(isMp4(videos[0]!.video!.bytes)).toBe(true);
    expect((await w.jobs()).map((j) => j.deliveredAt !== null && j.deliveryRef !== null)).toEqual(Array(5).fill(true));

    // The ledger: every hold settled once; each account paid for its own videos only.
    await w.expectLedgerBalanced();
    const danaPaid = await w.captured('discord', dana.id);
    const tomPaid = await w.captured('telegram', tom.id);
    expect(danaPaid).toBe(d1.price + d2.price + d3.price + d4.price);
    expect(tomPaid).toBe(t.price);
    expect(tomPaid).toBeGreaterThan(0);
    expect(await w.balance('discord', dana.id)).toBe(STARTING - danaPaid);
    expect(await w.balance('telegram', tom.id)).toBe(STARTING - tomPaid);
  });

  it('the same person on Discord and on Telegram has two separate accounts', async () => {
    let sam: FakeUser | undefined;
    let owner: FakeUser | undefined;
    const w = (world = await World.start((w) => {
      sam = w.telegram.user({ first_name: 'Sam' });
      owner = w.telegram.user({ first_name: 'Olga' });
      return { OWNER_IDS: `telegram:${owner.id}` };
    }));
    // The same person, with (as it happens) the very same id on both platforms.
    const samOnDiscord = w.discord.member('Sam', { id: String(sam!.id) });
    const samChat = w.telegram.privateChat(sam!);
    const mod = w.discord.member('Mod', { permissions: PERMISSIONS.ManageGuild | PERMISSIONS.ViewChannel });

    expect(await w.privateReply(w.discord.slash(samOnDiscord, 'balance'))).toMatch(/^You have 1000 credits\./);
    // The Telegram owner funds the Discord server's budget from a private chat; its moderator grants out of it.
    const funded = w.telegram.sendText(
      owner!,
      w.telegram.privateChat(owner!),
      `/budget give 60 discord:${w.discord.guild.id}`,
    );
    expect((await w.telegramReply(funded)).text).toBe(
      `Gave 60 credits to the budget of discord:${w.discord.guild.id}. Left: 60.`,
    );
    expect(
      await w.privateReply(
        w.discord.slash(mod, 'credits', { action: 'grant', user: samOnDiscord, amount: 50, reason: 'contest' }),
      ),
    ).toMatch(/New balance: 1050\.$/);
    expect(await w.balance('discord', sam!.id)).toBe(STARTING + 50);
    expect(await w.balance('telegram', sam!.id)).toBeUndefined();

    const asked = w.telegram.sendText(sam!, samChat, '/balance');
    expect((await w.telegramReply(asked)).text).toMatch(/^You have 1000 credits\./);

    const group = w.telegram.group();
    const granted = w.telegram.sendText(owner!, group, `/credits grant telegram:${sam!.id} 7 welcome`);
    expect((await w.telegramReply(granted)).text).toBe(
      `Gave 7 credits to Sam (telegram:${sam!.id}). New balance: ${STARTING + 7}.`,
    );
    expect(await w.privateReply(w.discord.slash(samOnDiscord, 'balance'))).toMatch(/^You have 1050 credits\./);

    expect(await w.balance('discord', sam!.id)).toBe(STARTING + 50);
    expect(await w.balance('telegram', sam!.id)).toBe(STARTING + 7);
    const accounts = (await w.rows.users()).filter((u) => u.platformUserId === String(sam!.id));
    expect(accounts.map((u) => u.platform).sort()).toEqual(['discord', 'telegram']);
    expect(new Set(accounts.map((u) => u.id)).size).toBe(2);
    await w.expectLedgerBalanced();
  });
});

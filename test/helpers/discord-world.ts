import { expect } from 'vitest';
import type { Job, User } from '../../db/schema.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { RetryPolicy } from '../../src/core/engine/retry.js';
import type { Clock } from '../../src/core/ports.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { startFalSimulator, type FalSimOptions, type FalSimulator } from '../../src/sim/fal.js';
import { FakeDiscord, type FakeInteraction, type FakeMember, type FakeMessage } from '../fakes/discord.js';
import { balanceIn, userIn } from './bot-db.js';
import { tempDir } from './db.js';
import { FAST_MODELS } from './engine-harness.js';
import { expectLedgerBalanced } from './ledger.js';
import { publicNetwork } from './public-network.js';
import { botTestStore, type BotStore, type StoreRows } from './test-store.js';

/**
 * The whole bot (`startClipbot`: engine, store, fal.ai simulator, HTTP server) with the real discord.js Client logged
 * in to a fake Discord (REST v10 + gateway v10), and what a test reads back: the fake's request log and messages, the
 * store's rows and the simulator. Each world owns its fake, simulator, data directory, store (SQLite in the data
 * directory, or a PostgreSQL database under CLIPBOT_TEST_STORE=postgres: test-store.ts) and bot.
 */

export const STARTING = 200;
/** seedance-1-pro, 5 s at 480p. */
export const PRICE = 40;
export const OWNER_ID = '310000000000000001';
export const EPHEMERAL = 64;
export const WEBHOOK_EDIT = /^\/webhooks\/\d+\/[^/]+\/messages\/[^/]+$/;
export const CHANNEL_POST = /^\/channels\/\d+\/messages$/;
export const channelEdit = (messageId: string) => new RegExp(`^/channels/\\d+/messages/${messageId}$`);

export class DiscordWorld {
  bot: RunningBot | undefined;

  private constructor(
    readonly fake: FakeDiscord,
    readonly sim: FalSimulator,
    readonly dir: string,
    private readonly store: BotStore,
    public config: Config,
    private readonly env: Record<string, string>,
    private readonly removeDir: () => void,
    private readonly retry: RetryPolicy | undefined,
    private readonly clock?: Clock,
  ) {}

  static async start(
    opts: {
      env?: (fake: FakeDiscord) => Record<string, string>;
      sim?: FalSimOptions;
      retry?: RetryPolicy;
      clock?: Clock;
    } = {},
  ): Promise<DiscordWorld> {
    const fake = await FakeDiscord.start();
    const sim = await startFalSimulator({ queueMs: 20, runMs: 300, ...opts.sim });
    const { dir, cleanup } = tempDir('clipbot-discord-');
    const store = await botTestStore(dir);
    const env = {
      DATA_DIR: dir,
      ...store.env,
      HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      FETCH_ALLOW_CIDRS: '127.0.0.0/8',
      FAL_KEY: sim.key,
      FAL_QUEUE_URL: sim.url,
      FAL_JWKS_URL: sim.jwksUrl,
      DISCORD_TOKEN: fake.token,
      DISCORD_API_BASE: fake.apiBase,
      DISCORD_GUILD_IDS: fake.guild.id,
      OWNER_IDS: `discord:${OWNER_ID}`,
      STATUS_EDIT_INTERVAL_MS: '100',
      STARTING_CREDITS: String(STARTING),
      RATE_LIMIT_JOBS: '100',
      ...opts.env?.(fake),
    };
    const world = new DiscordWorld(fake, sim, dir, store, loadConfig(env), env, cleanup, opts.retry, opts.clock);
    await world.boot();
    return world;
  }

  async boot(): Promise<void> {
    this.bot = await startClipbot(this.config, {
      logger: silentLogger,
      models: FAST_MODELS,
      fetchNetwork: publicNetwork,
      ...(this.retry ? { retry: this.retry } : {}),
      ...(this.clock ? { clock: this.clock } : {}),
    });
  }

  /** A graceful restart, as a deploy does: the bot stops, then starts again on the same data (and new settings). */
  async restart(settings: Record<string, string> = {}): Promise<void> {
    await this.bot?.stop();
    this.bot = undefined;
    this.config = loadConfig({ ...this.env, ...settings });
    await this.boot();
  }

  async close(): Promise<void> {
    await this.bot?.stop();
    await this.store.release();
    await this.fake.close();
    await this.sim.close();
    this.removeDir();
  }

  // ---------------------------------------------------------------- the database

  /** The bot's raw rows, for what the accessors below do not cover. */
  get rows(): StoreRows {
    return this.store.rows;
  }

  /** Oldest first. */
  jobs(): Promise<Job[]> {
    return this.rows.jobs();
  }

  async job(id: string): Promise<Job> {
    return (await this.jobs()).find((j) => j.id === id)!;
  }

  /** The nth job once it has reached `status`. */
  async jobIn(status: Job['status'] | 'final', nth = 0): Promise<Job> {
    const done = (job: Job | undefined) =>
      job && (status === 'final' ? ['succeeded', 'failed', 'cancelled'].includes(job.status) : job.status === status);
    return this.fake.waitFor(
      `job ${nth} to be ${status}`,
      async () => {
        const job = (await this.jobs())[nth];
        return done(job) ? job : undefined;
      },
      10_000,
    );
  }

  /** The member's account, if the bot made one. */
  user(member: FakeMember): Promise<User | undefined> {
    return userIn(this.rows, 'discord', member.id);
  }

  async balance(member: FakeMember): Promise<number> {
    const user = await this.user(member);
    // A member the bot has never charged or credited has the starting credits waiting for them.
    return user ? balanceIn(this.rows, user.id) : this.config.STARTING_CREDITS;
  }

  /** Storage failing under the bot: every insert into `table` is refused from now on. */
  refuseInserts(table: string, reason: string): Promise<void> {
    return this.store.refuseInserts(table, reason);
  }

  /** Moderator actions, oldest first. */
  audit() {
    return this.rows.auditLog();
  }

  /** The ledger's invariants: one hold per job, settled exactly once when the job is final; no negative balance. */
  expectLedgerBalanced(): Promise<void> {
    return expectLedgerBalanced(this.rows);
  }

  /** The bot's own /metrics, as Prometheus scrapes it. */
  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.bot!.port}/metrics`)).text();
  }

  // ---------------------------------------------------------------- what members see

  /** What only the member who acted sees: the ephemeral reply, or an ephemeral follow-up. */
  privateReply(i: FakeInteraction): Promise<string> {
    return this.fake.waitFor('a private reply', () => {
      const original = this.fake.original(i);
      if (original && !original.deleted && original.flags & EPHEMERAL && original.content) return original.content;
      return this.fake.followUps(i).find((m) => m.flags & EPHEMERAL)?.content;
    });
  }

  /** The interaction's public reply once it shows something (a job's status). */
  status(i: FakeInteraction, containing = ''): Promise<FakeMessage> {
    return this.fake.waitFor(
      `the status to show "${containing}"`,
      () => {
        const original = this.fake.original(i);
        return original && !original.loading && !(original.flags & EPHEMERAL) && original.content.includes(containing)
          ? original
          : undefined;
      },
      10_000,
    );
  }

  /** The quote an interaction made (a `/video`, a follow-up's press), once it shows Confirm and Cancel. */
  async quoteOf(i: FakeInteraction): Promise<{ message: FakeMessage; confirm: string; cancel: string }> {
    const message = await this.status(i, 'Confirm within 2 minutes');
    const [confirm, cancel] = buttonIds(message);
    expect(confirm).toMatch(/^clipbot:confirm:q[a-z0-9]+$/);
    expect(cancel).toMatch(/^clipbot:dropquote:q[a-z0-9]+$/);
    return { message, confirm: confirm!, cancel: cancel! };
  }

  /** The new channel message that hands `member` their result (file or link). */
  delivery(member: FakeMember): Promise<FakeMessage> {
    return this.fake.waitFor(`a delivery to ${member.globalName}`, () => this.deliveries(member)[0], 10_000);
  }

  deliveries(member: FakeMember): FakeMessage[] {
    return this.fake
      .channelMessages()
      .filter(
        (m) =>
          m.content.startsWith(`<@${member.id}>`) &&
          m.components.some((r) => r.components.some((b) => b.custom_id?.startsWith('clipbot:retry:'))),
      );
  }

  fileOf(message: FakeMessage): Buffer {
    expect(message.files).toHaveLength(1);
    return message.files[0]!.data;
  }
}

/** Every slash command the bot registers on Discord (the console's own, such as /as, are not among them). */
export const DISCORD_COMMANDS = [
  'ban',
  'balance',
  'blocklist',
  'budget',
  'buy',
  'cancel',
  'communities',
  'credits',
  'extend',
  'help',
  'history',
  'models',
  'musicvideo',
  'paysupport',
  'queue',
  'quota',
  'refund',
  'refundpayment',
  'settings',
  'stats',
  'unban',
  'upscale',
  'video',
];

/** The custom ids of a message's buttons, in order. */
export const buttonIds = (message: FakeMessage) =>
  message.components.flatMap((r) => r.components.map((b) => b.custom_id));

export const isMp4 = (data: Buffer) => data.subarray(4, 8).toString('latin1') === 'ftyp';

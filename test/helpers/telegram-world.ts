import type { Update } from 'grammy/types';
import { expect, vi } from 'vitest';
import type { Job, User } from '../../db/schema.js';
import { loadConfig } from '../../src/config.js';
import type { RetryPolicy } from '../../src/core/engine/retry.js';
import type { Clock } from '../../src/core/ports.js';
import { createLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { publicNetwork } from './public-network.js';
import { startFalSimulator, type FalSimOptions, type FalSimulator } from '../../src/sim/fal.js';
import { FakeTelegram, type FakeUser, type StoredMessage } from '../fakes/telegram-api.js';
import { balanceIn, userIn } from './bot-db.js';
import { tempDir } from './db.js';
import { FAST_MODELS } from './engine-harness.js';
import { expectLedgerBalanced } from './ledger.js';
import { botTestStore, type BotStore, type StoreRows } from './test-store.js';

/**
 * The whole bot (`startClipbot`: engine, store, HTTP server, the real grammY) serving Telegram through a fake Bot
 * API on 127.0.0.1, with the fal.ai simulator behind it, and what a test reads back: what the fake received, the
 * store's rows and the simulator. Each world owns its fake, simulator, data directory, store (SQLite in the data
 * directory, or a PostgreSQL database under CLIPBOT_TEST_STORE=postgres: test-store.ts) and bot.
 */

export const STARTING = 200;
/** seedance-1-pro, 5 s at 480p. */
export const PRICE = 40;
export const FOX = '/video a red fox running through snow --resolution 480p';
/** Waits for `check` to pass: a few seconds, polled often (vi.waitFor's own default is one second). */
export const eventually = <T>(
  check: () => T,
  options: { timeout: number; interval: number } = { timeout: 5000, interval: 20 },
) => vi.waitFor(check, options);

export class TelegramWorld {
  readonly logs: string[] = [];
  bot: RunningBot | undefined;

  private constructor(
    readonly fake: FakeTelegram,
    readonly sim: FalSimulator,
    readonly dir: string,
    private readonly store: BotStore,
    private readonly env: Record<string, string>,
    private readonly removeDir: () => void,
    private readonly retry: RetryPolicy | undefined,
    private readonly clock?: Clock,
  ) {}

  static async start(
    opts: { env?: Record<string, string>; sim?: FalSimOptions; retry?: RetryPolicy; clock?: Clock } = {},
  ): Promise<TelegramWorld> {
    const fake = await FakeTelegram.start();
    const sim = await startFalSimulator({ queueMs: 20, runMs: 60, ...opts.sim });
    const { dir, cleanup } = tempDir('clipbot-telegram-');
    const store = await botTestStore(dir);
    const env = {
      DATA_DIR: dir,
      ...store.env,
      HTTP_PORT: '0',
      FETCH_ALLOW_CIDRS: '127.0.0.0/8',
      FAL_KEY: sim.key,
      FAL_QUEUE_URL: sim.url,
      FAL_JWKS_URL: sim.jwksUrl,
      STATUS_EDIT_INTERVAL_MS: '0',
      STARTING_CREDITS: String(STARTING),
      RATE_LIMIT_JOBS: '100',
      TELEGRAM_TOKEN: fake.token,
      TELEGRAM_API_ROOT: fake.apiRoot,
      ...opts.env,
    };
    return new TelegramWorld(fake, sim, dir, store, env, cleanup, opts.retry, opts.clock);
  }

  /** Starts the bot (again, on the same DATA_DIR, after `stopBot`); every log line is kept in `logs`. */
  async boot(env: Record<string, string> = {}): Promise<RunningBot> {
    const config = loadConfig({ ...this.env, ...env });
    const logger = createLogger('debug', { write: (line: string) => void this.logs.push(line) });
    this.bot = await startClipbot(config, {
      logger,
      models: FAST_MODELS,
      fetchNetwork: publicNetwork,
      ...(this.retry ? { retry: this.retry } : {}),
      ...(this.clock ? { clock: this.clock } : {}),
    });
    return this.bot;
  }

  async stopBot(): Promise<void> {
    await this.bot?.stop();
    this.bot = undefined;
  }

  async close(): Promise<void> {
    await this.stopBot();
    await this.store.release();
    await this.fake.close();
    await this.sim.close();
    this.removeDir();
  }

  /** The bot's raw rows, for what the accessors below do not cover. */
  get rows(): StoreRows {
    return this.store.rows;
  }

  /** Oldest first. */
  jobs(): Promise<Job[]> {
    return this.rows.jobs();
  }

  /** The user's account, if the bot made one. */
  user(user: FakeUser): Promise<User | undefined> {
    return userIn(this.rows, 'telegram', String(user.id));
  }

  async balance(user: FakeUser): Promise<number> {
    const row = await this.user(user);
    return row ? balanceIn(this.rows, row.id) : STARTING;
  }

  /** The user's ledger entries as (kind, amount), in the order they were written. */
  async ledgerKinds(user: FakeUser): Promise<[string, number][]> {
    const row = await this.user(user);
    if (!row) return [];
    return (await this.rows.ledger()).filter((e) => e.userId === row.id).map((e) => [e.kind, e.amount]);
  }

  /** Waits until `count` jobs exist and all are in `status`; returns them oldest first. */
  async jobsReach(count: number, status: Job['status'] = 'succeeded', timeout = 10_000): Promise<Job[]> {
    await eventually(
      async () => {
        const all = await this.jobs();
        expect(all.map((j) => j.status)).toEqual(Array(count).fill(status));
      },
      { timeout, interval: 20 },
    );
    return this.jobs();
  }

  /** Every hold settled once (captured on success, released otherwise), no balance below zero. */
  expectLedgerBalanced(): Promise<void> {
    return expectLedgerBalanced(this.rows);
  }

  /** The bot's own /metrics, as Prometheus scrapes it. */
  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.bot!.port}/metrics`)).text();
  }

  /** The bot's first reply to `update`'s message (status, answer or error), once it exists. */
  async replyTo(update: Update, nth = 0): Promise<StoredMessage> {
    let found: StoredMessage | undefined;
    await eventually(
      () => {
        found = this.fake.repliesTo(update.message!)[nth];
        expect(found).toBeDefined();
      },
      { timeout: 10_000, interval: 10 },
    );
    return found!;
  }

  logText(): string {
    return this.logs.join('\n');
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { Job, User } from '../../db/schema.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Engine } from '../../src/core/engine/engine.js';
import type { VideoRequest } from '../../src/core/engine/intake.js';
import { UserError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { startKieSimulator } from '../../src/sim/kie.js';
import { balanceIn, userIn } from '../helpers/bot-db.js';
import { tempDir } from '../helpers/db.js';
import { FAST_MODELS } from '../helpers/engine-harness.js';
import { botTestStore, type BotStore, type StoreRows } from '../helpers/test-store.js';
import { pngBytes, startServer, type TestServer } from '../media/fixtures.js';
import { publicNetwork, viaPublicName } from '../helpers/public-network.js';

/**
 * Every chat command through the real stack: the composition root (`startClipbot`) with the console chat
 * one-shot, the fal.ai simulator, a store (SQLite on disk, or PostgreSQL under CLIPBOT_TEST_STORE=postgres). A "session" is one bot run of a list of console lines; tests
 * that need two moments (a job made, then refunded) run two sessions on the same DATA_DIR, as a restart would.
 * Other members act through the engine's intake, the entry point every platform hands `/video` to (the console
 * chat is always the one local user).
 */

const STARTING = 200;
/** seedance-1-pro, 5 s at 480p. */
const PRICE_480P = 40;
const FOX = '/video a red fox running through snow --resolution 480p';

interface Transcript {
  code: number;
  text: string;
  /** What the bot printed after each console line, in order. */
  replies: string[];
  /** What the bot printed after `line` (the nth time it was typed). */
  replyTo(line: string, nth?: number): string;
}

class Clipbot {
  private bots = new Set<RunningBot>();
  private servers: TestServer[] = [];

  private constructor(
    readonly sim: FalSimulator,
    readonly dir: string,
    private readonly store: BotStore,
    readonly config: Config,
    private readonly removeDir: () => void,
  ) {}

  static async start(env: Record<string, string> = {}): Promise<Clipbot> {
    const sim = await startFalSimulator({ queueMs: 20, runMs: 50 });
    const { dir, cleanup } = tempDir('clipbot-commands-');
    const store = await botTestStore(dir);
    const config = loadConfig({
      DATA_DIR: dir,
      ...store.env,
      HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      FETCH_ALLOW_CIDRS: '127.0.0.0/8',
      FAL_KEY: sim.key,
      FAL_QUEUE_URL: sim.url,
      FAL_JWKS_URL: sim.jwksUrl,
      STATUS_EDIT_INTERVAL_MS: '0',
      STARTING_CREDITS: String(STARTING),
      RATE_LIMIT_JOBS: '100',
      ...env,
    });
    return new Clipbot(sim, dir, store, config, cleanup);
  }

  /** Starts the bot, types `lines` into the console one after another, waits for their videos, stops. */
  async console(...lines: string[]): Promise<Transcript> {
    const output = new PassThrough();
    let text = '';
    output.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    const bot = await this.boot({ console: { commands: lines, output } });
    const code = await bot.consoleDone!;
    await this.stopBot(bot);
    return transcript(code, text);
  }

  /** Starts the bot without a chat and hands its engine to `act` (another member's requests), then stops. */
  async withEngine<T>(act: (engine: Engine) => Promise<T>): Promise<T> {
    const bot = await this.boot({});
    try {
      return await act(bot.engine);
    } finally {
      await this.stopBot(bot);
    }
  }

  /** The bot's raw rows (its store may be running, and is its own). */
  get rows(): StoreRows {
    return this.store.rows;
  }

  /** The console member's account, if the bot made one. */
  user(platformUserId: string): Promise<User | undefined> {
    return userIn(this.rows, 'console', platformUserId);
  }

  /** The member's balance: the sum of their ledger entries (design.md §4). */
  async balance(platformUserId: string): Promise<number> {
    const user = await this.user(platformUserId);
    return user ? balanceIn(this.rows, user.id) : 0;
  }

  async userId(platformUserId: string): Promise<number> {
    return (await this.user(platformUserId))!.id;
  }

  /** Oldest first. */
  jobs(): Promise<Job[]> {
    return this.rows.jobs();
  }

  /** The member's ledger entries, in the order they were written. */
  async ledger(platformUserId: string) {
    const id = await this.userId(platformUserId);
    return (await this.rows.ledger()).filter((e) => e.userId === id);
  }

  /** Moderator actions, oldest first. */
  audit() {
    return this.rows.auditLog();
  }

  /** Every row a moderator command could touch. */
  async snapshot() {
    return {
      users: await this.rows.users(),
      ledger: await this.rows.ledger(),
      audit: await this.rows.auditLog(),
      blocklist: await this.rows.blocklistTerms(),
      jobs: await this.rows.jobs(),
    };
  }

  /** Files (not directories) under DATA_DIR/media, relative paths. */
  mediaFiles(): string[] {
    const root = path.join(this.dir, 'media');
    if (!fs.existsSync(root)) return [];
    return fs
      .readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
  }

  /** A `/video` request from another member of the console chat, as a platform adapter hands it to the engine. */
  request(platformUserId: string, prompt: string): VideoRequest {
    return {
      identity: { platform: 'console', platformUserId },
      dest: { platform: 'console', chatId: 'console', userId: platformUserId },
      intakeKey: `test:${platformUserId}:${Math.random().toString(36).slice(2)}`,
      prompt,
      options: { resolution: '480p' },
    };
  }

  /** Waits until the job has reached `status` (read from the database). */
  async jobReaches(id: string, status: Job['status']): Promise<void> {
    await vi.waitFor(async () => expect((await this.jobs()).find((j) => j.id === id)?.status).toBe(status), {
      timeout: 5000,
      interval: 20,
    });
  }

  async serve(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
    const server = await startServer(handler);
    this.servers.push(server);
    return server;
  }

  async close(): Promise<void> {
    for (const bot of this.bots) await bot.stop();
    for (const server of this.servers) await server.close();
    await this.store.release();
    await this.sim.close();
    this.removeDir();
  }

  private async boot(options: Parameters<typeof startClipbot>[1]): Promise<RunningBot> {
    const bot = await startClipbot(this.config, {
      logger: silentLogger,
      models: FAST_MODELS,
      fetchNetwork: publicNetwork,
      ...options,
    });
    this.bots.add(bot);
    return bot;
  }

  private async stopBot(bot: RunningBot): Promise<void> {
    await bot.stop();
    this.bots.delete(bot);
  }
}

function transcript(code: number, text: string): Transcript {
  const blocks: { line: string; reply: string[] }[] = [];
  for (const printed of text.split('\n')) {
    if (printed.startsWith('> ')) blocks.push({ line: printed.slice(2), reply: [] });
    else if (printed !== '') blocks.at(-1)?.reply.push(printed);
  }
  const replies = blocks.map((b) => b.reply.join('\n'));
  return {
    code,
    text,
    replies,
    replyTo(line, nth = 0) {
      const found = blocks.filter((b) => b.line === line)[nth];
      if (!found) throw new Error(`${JSON.stringify(line)} was not typed (${nth + 1} times) in:\n${text}`);
      return found.reply.join('\n');
    },
  };
}

/** A reply without the status lines of jobs that moved meanwhile (a status view starts with the quoted prompt). */
function withoutStatusLines(reply: string): string {
  return reply
    .split('\n')
    .filter((line) => !line.startsWith('“'))
    .join('\n');
}

const MODERATOR_ONLY = /is for moderators and the bot owner/;

let bot: Clipbot | undefined;
afterEach(async () => {
  await bot?.close();
  bot = undefined;
});

async function clipbot(env: Record<string, string> = {}): Promise<Clipbot> {
  bot = await Clipbot.start(env);
  return bot;
}

describe('the chat commands', () => {
  describe('/help', () => {
    describe('when the owner asks', () => {
      it('lists every command, moderator commands marked', async () => {
        const t = await clipbot();
        const out = await t.console('/help');
        const help = out.replyTo('/help');
        for (const name of ['video', 'balance', 'history', 'cancel', 'queue', 'models', 'help'])
          expect(help).toContain(`/${name}: `);
        for (const name of ['credits', 'quota', 'ban', 'unban', 'blocklist', 'stats', 'refund']) {
          const line = help.split('\n').find((l) => l.startsWith(`/${name}: `));
          expect(line?.match(/\(moderators\)/g)).toHaveLength(1);
        }
        expect(help).toContain('Example: /video a red fox running through snow');
        expect(out.code).toBe(0);
      });
    });

    describe('when a member asks', () => {
      it('lists only the commands a member may use', async () => {
        const t = await clipbot();
        const out = await t.console('/as member', '/help', '/help credits');
        const help = out.replyTo('/help');
        expect(out.replyTo('/as member')).toBe('You are now acting as member.');
        for (const name of ['video', 'balance', 'history', 'cancel', 'queue', 'models', 'help'])
          expect(help).toContain(`/${name}: `);
        for (const name of ['credits', 'quota', 'ban', 'unban', 'blocklist', 'stats', 'refund'])
          expect(help).not.toContain(`/${name}`);
        expect(out.replyTo('/help credits')).toBe('There is no command /credits. Try /help.');
      });
    });

    describe('when asked about one command', () => {
      it('shows its usage, description and what each option means', async () => {
        const t = await clipbot();
        const out = await t.console('/help video', '/help /balance');
        const lines = out.replyTo('/help video').split('\n');
        expect(lines[0]).toBe(
          '/video <prompt> [--image] [--model] [--duration] [--resolution] [--aspect] [--seed] [--camera_fixed] [--audio]',
        );
        expect(lines[1]).toMatch(/Generate a short video/);
        expect(lines).toContain('  duration: Length in seconds');
        expect(lines).toContain('  resolution: 480p, 720p, 1080p or 4k (Veo)');
        expect(out.replyTo('/help /balance')).toBe('/balance\nShow your credits');
      });
    });
  });

  describe('/models', () => {
    describe('when fal.ai is configured', () => {
      it('lists each model with its lengths and its price at each resolution, the default marked; the owner also sees the cost', async () => {
        const t = await clipbot();
        const out = await t.console('/models');
        const lines = out.replyTo('/models').split('\n');
        const [pro, pro15, v2, v2fast] = lines;
        expect(pro).toBe(
          'seedance-1-pro (default): Seedance 1.0 Pro (fal.ai). 2–12 s. Credits for 5 s: 480p 40 (cost $0.15) / 720p 50 (cost $0.30) / 1080p 70 (cost $0.62)',
        );
        expect(pro15).toMatch(
          /^seedance-1\.5-pro: .*4–12 s\. Credits for 5 s: 480p 40 \(cost \$[\d.]+\) \/ 720p 50 \(cost \$[\d.]+\) \/ 1080p 70 \(cost \$[\d.]+\)\. Optional audio$/,
        );
        expect(v2).toMatch(
          /^seedance-2: Seedance 2\.0 with audio \(fal\.ai\)\. 4–15 s\. Credits for 5 s: 480p 90 \(cost .*\) \/ 720p 190 \(cost .*\) \/ 1080p 430 \(cost .*\)\. Optional audio$/,
        );
        expect(v2fast).toMatch(
          /^seedance-2-fast: Seedance 2\.0 Fast with audio \(fal\.ai\)\. 4–15 s\. Credits for 5 s: 480p 70 \(cost .*\) \/ 720p 155 \(cost .*\)\. Optional audio$/,
        );
        expect(lines.at(-1)).toBe(
          "Cost is your provider's estimate in USD. Set CREDIT_VALUE_USD (what a credit is worth to you) to see the margin.",
        );
      });
    });

    describe('when the owner sets prices (MODEL_PRICES) and what a credit is worth (CREDIT_VALUE_USD)', () => {
      it('lists the owner’s prices with the margin (a loss too), and charges them', async () => {
        const { dir, cleanup } = tempDir('clipbot-prices-');
        onTestFinished(cleanup);
        const prices = path.join(dir, 'prices.json');
        fs.writeFileSync(
          prices,
          JSON.stringify({ 'seedance-1-pro': { credits: { '480p': 25 }, usd: { '480p': 0.3 } } }),
        );
        const t = await clipbot({ MODEL_PRICES: prices, CREDIT_VALUE_USD: '0.01' });
        const out = await t.console('/models', FOX);
        const lines = out.replyTo('/models').split('\n');
        expect(lines[0]).toBe(
          'seedance-1-pro (default): Seedance 1.0 Pro (fal.ai). 2–12 s. Credits for 5 s: 480p 25 (cost $0.30, margin -$0.050 (-20%)) / 720p 50 (cost $0.30, margin $0.20 (40%)) / 1080p 70 (cost $0.62, margin $0.080 (11%))',
        );
        expect(lines.at(-1)).toBe(
          "Cost is your provider's estimate in USD; margin at $0.010 a credit (CREDIT_VALUE_USD).",
        );
        expect(await t.balance('local')).toBe(STARTING - 25);
        expect((await t.jobs())[0]).toMatchObject({ price: 25, costUsd: 0.3 });
      });
    });
  });

  describe('/balance', () => {
    describe('when a member first asks', () => {
      it('shows the starting credits, from a ledger entry', async () => {
        const t = await clipbot();
        const out = await t.console('/balance');
        expect(out.replyTo('/balance')).toBe(`You have ${STARTING} credits.`);
        expect((await t.ledger('local')).map((e) => [e.kind, e.amount])).toEqual([['starting', STARTING]]);
      });
    });

    describe('when there is a free daily allowance', () => {
      it('tops the balance up to it and says so', async () => {
        const t = await clipbot({ FREE_DAILY_CREDITS: '300' });
        const out = await t.console('/balance', '/balance');
        expect(out.replyTo('/balance')).toBe('You have 300 credits. Your balance is topped up to 300 each day (UTC).');
        expect(out.replyTo('/balance', 1)).toBe(out.replyTo('/balance'));
        expect((await t.ledger('local')).map((e) => [e.kind, e.amount])).toEqual([
          ['starting', STARTING],
          ['daily', 100],
        ]);
      });
    });
  });

  describe('/buy', () => {
    it('says buying is not available on the console, even with Telegram packs configured', async () => {
      const t = await clipbot({ CREDIT_PACKS_TELEGRAM: '100:50' });
      const out = await t.console('/buy');
      expect(out.replyTo('/buy')).toBe('Buying credits is not available here yet.');
    });
  });

  describe('/video', () => {
    describe('when the options are good', () => {
      it('shows the price and queue position, delivers the clip, and passes every option to the provider', async () => {
        const t = await clipbot();
        const line = '/video a red fox --resolution 480p --duration 3 --seed 42 --aspect 9:16 --camera-fixed';
        const out = await t.console(line, '/balance');
        expect(out.code).toBe(0);
        const reply = out.replyTo(line);
        expect(reply).toContain('Queued: next in line.');
        expect(reply).toContain('Cost: 24 credits');
        expect(reply).toMatch(
          /Your video is ready: a red fox\n {3}file: .*\.mp4 \(\d+ KiB\)\n {3}link: http:\/\/127\.0\.0\.1:\d+\/media\/results\/\w+\.mp4/,
        );
        expect(reply).toContain('✅ Done');
        expect(out.replyTo('/balance')).toBe(`You have ${STARTING - 24} credits.`);
        expect(t.sim.requests()[0]!.input).toMatchObject({
          prompt: 'a red fox',
          resolution: '480p',
          duration: '3',
          seed: 42,
          aspect_ratio: '9:16',
          camera_fixed: true,
        });
        const [job] = await t.jobs();
        expect(job).toMatchObject({ status: 'succeeded', price: 24, platform: 'console' });
        expect(t.mediaFiles()).toEqual([`results/${job!.id}.mp4`]);
      });

      it('animates an image given by link, re-hosting it rather than passing the link on', async () => {
        const t = await clipbot();
        const images = await t.serve((_req, res) => {
          res.writeHead(200, { 'content-type': 'image/png' });
          res.end(pngBytes());
        });
        const imageUrl = viaPublicName(`${images.origin}/fox.png`);
        const line = `/video the fox wakes up --image ${imageUrl} --resolution 480p`;
        const out = await t.console(line);
        expect(out.code).toBe(0);
        const [job] = await t.jobs();
        expect(job).toMatchObject({ status: 'succeeded', inputImageUrl: imageUrl });
        expect(t.sim.requests()[0]!.input['image_url']).toMatch(/^data:image\/png;base64,/);
        expect(t.mediaFiles().sort()).toEqual([`inputs/${job!.id}.png`, `results/${job!.id}.mp4`]);
      });
    });

    describe('when an option is bad', () => {
      const longPrompt = `/video ${'a'.repeat(2001)}`;
      it.each([
        ['there is no prompt', '/video', /^\/video: prompt is missing\. See \/help video\.$/],
        ['the duration is out of range', '/video a fox --duration 99', /makes clips of 2 to 12 seconds/],
        [
          'the duration is not a number',
          '/video a fox --duration abc',
          /^\/video: --duration must be a number of seconds\. See \/help video\.$/,
        ],
        [
          'the resolution is unknown',
          '/video a fox --resolution 8k',
          /^\/video: --resolution must be 480p, 720p, 1080p or 4k\. See \/help video\.$/,
        ],
        [
          'the model has no 4K',
          '/video a fox --resolution 4k',
          /^Seedance 1\.0 Pro \(fal\.ai\) supports 480p, 720p, 1080p\.$/,
        ],
        [
          'the model does not exist',
          '/video a fox --model nope',
          /^There is no model called “nope”\. Available: seedance-1-pro, seedance-1\.5-pro, seedance-2, seedance-2-fast\.$/,
        ],
        ['the seed is negative', '/video a fox --seed -1', /^\/video: --seed must be 0 or more\. See \/help video\.$/],
        [
          'the prompt is over 2,000 characters',
          longPrompt,
          /^Your prompt is 2,001 characters long; the limit is 2,000\. Please shorten it\.$/,
        ],
        ['the prompt has control characters', '/video a fox\u001b[2J in the snow', /invisible control characters/],
        [
          'the image link is a private address',
          '/video a fox --image http://10.0.0.1/x.png',
          /^The image could not be used: that address is not allowed\.?$/,
        ],
        [
          'the image link is this machine',
          '/video a fox --image http://127.0.0.1:9/x.png',
          /^The image could not be used: that address is not allowed\.?$/,
        ],
      ])('when %s: says so, makes no job and charges nothing', async (_case, line, message) => {
        const t = await clipbot();
        const out = await t.console('/balance', line, '/balance');
        expect(out.replyTo(line)).toMatch(message);
        expect(out.code).toBe(1);
        expect(out.replyTo('/balance', 1)).toBe(`You have ${STARTING} credits.`);
        expect(await t.jobs()).toEqual([]);
        expect((await t.ledger('local')).map((e) => e.kind)).toEqual(['starting']);
        expect(t.mediaFiles()).toEqual([]);
        expect(t.sim.stats.submitCalls).toBe(0);
      });

      it('refuses an image link that serves a web page, keeping no file', async () => {
        const t = await clipbot();
        const page = await t.serve((_req, res) => {
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<!doctype html><html><body>not an image</body></html>');
        });
        const line = `/video a fox --image ${viaPublicName(`${page.origin}/fox.png`)}`;
        const out = await t.console(line, '/balance');
        expect(out.replyTo(line)).toMatch(
          /^The image could not be used: fake-\d+\.public\.clipbot\.example:\d+ sent .*, not a PNG, JPEG, WebP or GIF image$/,
        );
        expect(page.requests).toEqual(['/fox.png']);
        expect(out.replyTo('/balance')).toBe(`You have ${STARTING} credits.`);
        expect(await t.jobs()).toEqual([]);
        expect(t.mediaFiles()).toEqual([]);
      });

      it('gives up on an image link that never answers, after FETCH_TIMEOUT_S', async () => {
        const t = await clipbot({ FETCH_TIMEOUT_S: '1' });
        const silent = await t.serve(() => {
          // Never answers.
        });
        const line = `/video a fox --image ${viaPublicName(`${silent.origin}/fox.png`)}`;
        const started = Date.now();
        const out = await t.console(line, '/balance');
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(out.replyTo(line)).toMatch(/^The image could not be used: .*(longer than 1 s|stopped responding)/);
        expect(out.replyTo('/balance')).toBe(`You have ${STARTING} credits.`);
        expect(await t.jobs()).toEqual([]);
        expect(t.mediaFiles()).toEqual([]);
      });
    });
  });

  describe('/upscale and /extend', () => {
    it('follow up a delivered Veo clip from the console, where the clip lists them as commands, each its own job charged to the requester', async () => {
      const kie = await startKieSimulator({ queueMs: 0, runMs: 100, hdReadyMs: 50 });
      try {
        // Quotes (CONFIRM_ABOVE_CREDITS) have tests of their own; here each line makes its job at once.
        const t = await clipbot({
          KIE_API_KEY: kie.apiKey,
          KIE_BASE_URL: kie.url,
          STARTING_CREDITS: '1000',
          CONFIRM_ABOVE_CREDITS: '0',
        });
        const first = await t.console('/video a red fox running through snow --model veo3.1-fast');
        const [parent] = await t.jobs();
        // Each line says the price that is then charged.
        expect(first.text).toContain(`upscale: /upscale ${parent!.id} 1080p (32 credits)`);
        expect(first.text).toContain(`upscale: /upscale ${parent!.id} 4k (320 credits)`);
        expect(first.text).toContain(`extend: /extend ${parent!.id} <what happens next> (160 credits)`);
        const out = await t.console(
          `/extend ${parent!.id} the fox dives into a river`,
          `/upscale ${parent!.id} 4k`,
          `/upscale ${parent!.id} 720p`,
        );
        expect(out.replyTo(`/upscale ${parent!.id} 720p`)).toMatch(/resolution.*must be 1080p or 4k/);
        const [, extended, upscaled] = await t.jobs();
        expect(extended).toMatchObject({
          followup: 'extend',
          parentJobId: parent!.id,
          status: 'succeeded',
          price: 160,
        });
        expect(upscaled).toMatchObject({
          followup: 'upscale',
          parentJobId: parent!.id,
          status: 'succeeded',
          price: 320,
        });
        expect(await t.jobs()).toHaveLength(3);
        expect(await t.balance('local')).toBe(1000 - 160 - 160 - 320);
      } finally {
        await kie.close();
      }
    });
    it('quotes a follow-up above CONFIRM_ABOVE_CREDITS with the commands that confirm it, and /confirm charges its price once', async () => {
      const kie = await startKieSimulator({ queueMs: 0, runMs: 100, hdReadyMs: 50, uhdReadyMs: 50 });
      try {
        // 170: the Veo clip (160) is made at once, its 4K copy (320 more) is quoted.
        const t = await clipbot({
          KIE_API_KEY: kie.apiKey,
          KIE_BASE_URL: kie.url,
          STARTING_CREDITS: '1000',
          CONFIRM_ABOVE_CREDITS: '170',
        });
        await t.console('/video a red fox running through snow --model veo3.1-fast');
        const [parent] = await t.jobs();
        const asked = await t.console(`/upscale ${parent!.id} 4k`);
        const quoted = /^Upscaling this video to 4k costs 320 credits .*\nType \/confirm (q[a-z0-9]+) to go ahead/.exec(
          asked.replyTo(`/upscale ${parent!.id} 4k`),
        );
        expect(quoted).not.toBeNull();
        expect(await t.jobs()).toHaveLength(1);
        expect(await t.balance('local')).toBe(1000 - 160);

        const confirmed = await t.console(`/confirm ${quoted![1]}`, `/confirm ${quoted![1]}`);
        expect(confirmed.text).toMatch(/Confirmed: 320 credits for job \w+\.[^]*Already confirmed as job \w+\./);
        const [, upscaled] = await t.jobs();
        expect(upscaled).toMatchObject({
          followup: 'upscale',
          parentJobId: parent!.id,
          status: 'succeeded',
          price: 320,
        });
        expect(await t.jobs()).toHaveLength(2);
        expect(await t.balance('local')).toBe(1000 - 160 - 320);
      } finally {
        await kie.close();
      }
    });
  });

  describe('/history', () => {
    describe('when the member has made no video', () => {
      it('says so and suggests one', async () => {
        const t = await clipbot();
        const out = await t.console('/history');
        expect(out.replyTo('/history')).toBe(
          'You have not made any videos yet. Try /video a red fox running through snow',
        );
      });
    });

    describe('when the member has made videos', () => {
      it('lists them newest first with status, price, prompt, and the link or the reason', async () => {
        const t = await clipbot();
        const failing = '/video [sim:content_policy] a fox --resolution 480p';
        const out = await t.console(FOX, failing, '/history');
        expect(out.code).toBe(1);
        const [ok, failed] = await t.jobs();
        const lines = out.replyTo('/history').split('\n');
        expect(lines).toHaveLength(2);
        expect(lines[0]).toMatch(
          new RegExp(
            `^${failed!.id} · \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC · failed · 40 credits · “\\[sim:content_policy\\] a fox” \\(.*safety filter.*\\)$`,
          ),
        );
        expect(lines[1]).toMatch(
          new RegExp(
            `^${ok!.id} · .* UTC · succeeded · 40 credits · “a red fox running through snow” http://127\\.0\\.0\\.1:\\d+/media/results/${ok!.id}\\.mp4$`,
          ),
        );
      });
    });
  });

  describe('/queue and /cancel', () => {
    describe('when the member has a video running and one waiting', () => {
      it('shows both, cancels the latest, then the other by id, refunding each', async () => {
        const t = await clipbot();
        const [first, second] = await t.withEngine(async (engine) => {
          const a = (await engine.submitVideo(t.request('local', '[sim:queued_forever] a fox'))).job;
          await t.jobReaches(a.id, 'running');
          await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(a.createdAt));
          // One running job per member (USER_MAX_RUNNING_JOBS=1): this one waits in the queue.
          const b = (await engine.submitVideo(t.request('local', '[sim:queued_forever] another fox'))).job;
          return [a, b];
        });
        expect(await t.balance('local')).toBe(STARTING - 2 * PRICE_480P);

        const out = await t.console('/queue', '/cancel', `/cancel ${first!.id}`, '/queue', '/balance');
        // The running job's status line is printed when the console's bot first looks at it: maybe among the replies.
        expect(withoutStatusLines(out.replyTo('/queue'))).toBe(
          `1 video waiting in the queue.\n${first!.id}: running\n${second!.id}: queued, position 1`,
        );
        expect(out.replyTo('/cancel')).toContain(`Cancelled job ${second!.id}; 40 credits are back in your balance.`);
        expect(out.replyTo(`/cancel ${first!.id}`)).toContain(
          `Cancelled job ${first!.id}; 40 credits are back in your balance.`,
        );
        // The cancelled jobs' final status lines are printed as their edits go out: maybe among the later replies.
        expect(out.replyTo('/queue', 1).split('\n')).toContain(
          '0 videos waiting in the queue. You have none in progress.',
        );
        expect(out.replyTo('/balance').split('\n')).toContain(`You have ${STARTING} credits.`);
        expect((await t.jobs()).map((j) => j.status)).toEqual(['cancelled', 'cancelled']);
        expect(
          (await t.ledger('local'))
            .filter((e) => e.kind === 'release')
            .map((e) => e.jobId)
            .sort(),
        ).toEqual([first!.id, second!.id].sort());
        expect(t.sim.stats.cancelCalls).toBeGreaterThanOrEqual(1);
      });
    });

    describe('when the member has nothing in progress', () => {
      it('says there is nothing to cancel', async () => {
        const t = await clipbot();
        const out = await t.console('/queue', '/cancel');
        expect(out.replyTo('/queue')).toBe('0 videos waiting in the queue. You have none in progress.');
        expect(out.replyTo('/cancel')).toBe('You have no video in progress.');
      });
    });

    describe("when a member names someone else's job", () => {
      it('refuses as if the job did not exist, and leaves it alone', async () => {
        const t = await clipbot();
        const theirs = await t.withEngine(
          async (engine) => (await engine.submitVideo(t.request('ann', '[sim:queued_forever] a fox'))).job,
        );
        const out = await t.console('/as member', `/cancel ${theirs.id}`);
        // Ann's job also lives on the console platform, so its status lines may be printed in between.
        expect(withoutStatusLines(out.replyTo(`/cancel ${theirs.id}`))).toBe(`You have no job ${theirs.id}.`);
        expect(out.code).toBe(1);
        expect((await t.jobs())[0]!.status).toMatch(/^(queued|submitting|running)$/);
        expect((await t.ledger('ann')).map((e) => e.kind)).toEqual(['starting', 'hold']);
        expect(await t.balance('ann')).toBe(STARTING - PRICE_480P);
      });
    });

    describe("when the owner cancels someone else's job", () => {
      it('cancels it and refunds its owner, not the moderator', async () => {
        const t = await clipbot();
        const theirs = await t.withEngine(
          async (engine) => (await engine.submitVideo(t.request('ann', '[sim:queued_forever] a fox'))).job,
        );
        const out = await t.console(`/cancel ${theirs.id}`, '/balance');
        expect(out.replyTo(`/cancel ${theirs.id}`)).toContain(
          `Cancelled job ${theirs.id}; 40 credits are back in its owner’s balance.`,
        );
        expect((await t.jobs())[0]).toMatchObject({ status: 'cancelled', errorMessage: 'Cancelled by a moderator.' });
        expect(await t.balance('ann')).toBe(STARTING);
        // Ann's job's final status line is printed when its edit goes out, which may fall after /balance was typed.
        expect(out.replyTo('/balance').split('\n')).toContain(`You have ${STARTING} credits.`);
      });
    });
  });

  describe('moderator commands', () => {
    describe('/credits', () => {
      describe('when the owner grants and takes credits', () => {
        it('writes ledger entries carrying the actor and the reason, and audits each', async () => {
          const t = await clipbot();
          const out = await t.console(
            '/credits grant ann 50 contest winner',
            '/credits take ann 30 "chargeback on order 7"',
            '/credits grant local 10 for testing',
          );
          expect(out.code).toBe(0);
          expect(out.replyTo('/credits grant ann 50 contest winner')).toBe(
            'Gave 50 credits to console:ann. New balance: 250.',
          );
          expect(out.replyTo('/credits take ann 30 "chargeback on order 7"')).toBe(
            'Took 30 credits from console:ann. New balance: 220.',
          );
          expect(out.replyTo('/credits grant local 10 for testing')).toBe(
            'Gave 10 credits to console (console:local). New balance: 210.',
          );

          const owner = await t.userId('local');
          const ann = await t.userId('ann');
          expect(
            (await t.ledger('ann')).map(({ kind, amount, actorUserId, reason }) => ({
              kind,
              amount,
              actorUserId,
              reason,
            })),
          ).toEqual([
            { kind: 'starting', amount: STARTING, actorUserId: null, reason: 'welcome credits' },
            { kind: 'grant', amount: 50, actorUserId: owner, reason: 'contest winner' },
            { kind: 'deduct', amount: -30, actorUserId: owner, reason: 'chargeback on order 7' },
          ]);
          expect(
            (await t.audit()).map(({ actorUserId, action, targetUserId, detail }) => ({
              actorUserId,
              action,
              targetUserId,
              detail: JSON.parse(detail!),
            })),
          ).toEqual([
            {
              actorUserId: owner,
              action: 'credits.grant',
              targetUserId: ann,
              detail: { amount: 50, reason: 'contest winner' },
            },
            {
              actorUserId: owner,
              action: 'credits.take',
              targetUserId: ann,
              detail: { amount: 30, reason: 'chargeback on order 7' },
            },
            // Owners may grant themselves credits; that is audited like any other grant.
            {
              actorUserId: owner,
              action: 'credits.grant',
              targetUserId: owner,
              detail: { amount: 10, reason: 'for testing' },
            },
          ]);
        });
      });

      describe('when the owner asks for a payment refund where no payments are taken', () => {
        it('says it is not available here, and changes nothing', async () => {
          const t = await clipbot();
          const out = await t.console('/refundpayment telegram:stx123 force');
          expect(out.replyTo('/refundpayment telegram:stx123 force')).toBe(
            'Refunding payments is not available here: Telegram Stars payments are refunded from Telegram, and Discord purchases by Discord (the bot then takes their credits back by itself).',
          );
          expect(await t.audit()).toEqual([]);
        });
      });

      describe('when the owner takes more than the balance', () => {
        it('refuses, naming the balance, and changes nothing', async () => {
          const t = await clipbot();
          const out = await t.console(
            '/credits take ann 201 too much',
            '/credits grant ann 0',
            '/credits grant ann lots',
            '/credits grant ann',
          );
          expect(out.replyTo('/credits take ann 201 too much')).toBe('That user has only 200 credits.');
          expect(out.replyTo('/credits grant ann 0')).toBe('/credits: amount must be more than 0. See /help credits.');
          expect(out.replyTo('/credits grant ann lots')).toBe('/credits: amount must be a number. See /help credits.');
          expect(out.replyTo('/credits grant ann')).toBe('/credits: amount is missing. See /help credits.');
          expect(out.code).toBe(1);
          expect((await t.ledger('ann')).map((e) => e.kind)).toEqual(['starting']);
          expect(await t.audit()).toEqual([]);
        });
      });
    });

    describe('/quota', () => {
      describe('when the owner sets a daily quota', () => {
        it('refuses a /video over the quota, then restores the default', async () => {
          const t = await clipbot();
          const second = '/video another fox --resolution 480p';
          const out = await t.console('/quota local 1', FOX, second, '/quota local default', '/balance');
          expect(out.replyTo('/quota local 1')).toBe('console (console:local) may now make 1 videos a day.');
          expect(out.replyTo(FOX)).toContain('✅ Done');
          expect(out.replyTo(second)).toBe('You have used your 1 videos for today. The quota resets at 00:00 UTC.');
          expect(out.replyTo('/quota local default')).toBe(
            'console (console:local) now has the default quota of 20 videos a day.',
          );
          expect(out.replyTo('/balance')).toBe(`You have ${STARTING - PRICE_480P} credits.`);
          expect(await t.jobs()).toHaveLength(1);
          expect((await t.user('local'))!.dailyJobQuota).toBeNull();
          const owner = await t.userId('local');
          expect(
            (await t.audit()).map(({ action, actorUserId, targetUserId, detail }) => [
              action,
              actorUserId,
              targetUserId,
              JSON.parse(detail!),
            ]),
          ).toEqual([
            ['quota.set', owner, owner, { quota: 1 }],
            ['quota.set', owner, owner, { quota: null }],
          ]);
        });
      });
    });

    describe('/ban and /unban', () => {
      describe('when the owner bans a member', () => {
        it('refuses their videos with the reason until they are unbanned', async () => {
          const t = await clipbot();
          const banned = await t.console('/ban ann posting spam');
          expect(banned.replyTo('/ban ann posting spam')).toBe('console:ann is banned everywhere: posting spam.');

          const refusal = await t.withEngine((engine) =>
            engine.submitVideo(t.request('ann', 'a fox')).catch((e: unknown) => e),
          );
          expect(refusal).toBeInstanceOf(UserError);
          expect((refusal as UserError).message).toBe('You are banned from using this bot: posting spam');
          expect(await t.jobs()).toEqual([]);
          expect(await t.balance('ann')).toBe(STARTING);

          const unbanned = await t.console('/unban ann');
          expect(unbanned.replyTo('/unban ann')).toBe('console:ann may generate videos again.');
          const done = await t.withEngine(async (engine) =>
            engine.waitForJob((await engine.submitVideo(t.request('ann', 'a fox'))).job.id),
          );
          expect(done.status).toBe('succeeded');

          const owner = await t.userId('local');
          const ann = await t.userId('ann');
          expect(
            (await t.audit()).map(({ action, actorUserId, targetUserId, detail }) => [
              action,
              actorUserId,
              targetUserId,
              JSON.parse(detail!),
            ]),
          ).toEqual([
            ['user.ban', owner, ann, { reason: 'posting spam' }],
            ['user.unban', owner, ann, { reason: '' }],
          ]);
        });
      });

      describe('when the owner tries to ban themselves', () => {
        it('refuses', async () => {
          const t = await clipbot();
          const out = await t.console('/ban local oops');
          expect(out.replyTo('/ban local oops')).toBe('You cannot ban yourself.');
          expect(await t.audit()).toEqual([]);
        });
      });
    });

    describe('/blocklist', () => {
      describe('when the owner adds a term', () => {
        it('refuses prompts with it in disguise without revealing it, until it is removed', async () => {
          const t = await clipbot();
          const leet = '/video a w0mb4t in the snow --resolution 480p';
          const spaced = '/video a w o m b a t in the snow --resolution 480p';
          const out = await t.console(
            '/blocklist add Wombat',
            '/blocklist list',
            leet,
            spaced,
            '/blocklist remove wombat',
            '/blocklist list',
            leet,
            '/balance',
          );

          expect(out.replyTo('/blocklist add Wombat')).toBe(
            'Prompts containing “wombat” (in any spelling) are now refused everywhere.',
          );
          expect(out.replyTo('/blocklist list')).toBe('Everywhere: wombat.');
          for (const line of [leet, spaced]) {
            expect(out.replyTo(line)).toBe(
              'Your prompt was blocked by this server’s word filter. Please rephrase it and try again.',
            );
            expect(out.replyTo(line)).not.toMatch(/wombat/i);
          }
          expect(out.replyTo('/blocklist remove wombat')).toBe('Removed from the blocklist everywhere.');
          expect(out.replyTo('/blocklist list', 1)).toBe('Everywhere: no terms.');
          expect(out.replyTo(leet, 1)).toContain('✅ Done');
          expect(out.replyTo('/balance')).toBe(`You have ${STARTING - PRICE_480P} credits.`);
          expect(await t.jobs()).toHaveLength(1);

          const owner = await t.userId('local');
          expect(
            (await t.audit()).map(({ action, actorUserId, detail }) => [action, actorUserId, JSON.parse(detail!)]),
          ).toEqual([
            ['blocklist.add', owner, { term: 'wombat' }],
            ['blocklist.remove', owner, { term: 'wombat' }],
          ]);
        });
      });

      describe('when the action or term is missing or wrong', () => {
        it('says what to type', async () => {
          const t = await clipbot();
          const out = await t.console('/blocklist add', '/blocklist remove otter', '/blocklist purge');
          expect(out.replyTo('/blocklist add')).toBe('Say which term to add: /blocklist add <term>');
          expect(out.replyTo('/blocklist remove otter')).toBe('That term is not on the blocklist.');
          expect(out.replyTo('/blocklist purge')).toMatch(/^\/blocklist: action use add, remove or list\./);
          expect(await t.audit()).toEqual([]);
        });
      });
    });

    describe('/stats and /refund', () => {
      describe('when one video succeeded and one failed', () => {
        it('reports usage, refunds the succeeded one once, and refuses the failed one as already refunded', async () => {
          const t = await clipbot();
          await t.console(FOX, '/video [sim:content_policy] a fox --resolution 480p');
          const [ok, failed] = await t.jobs();
          expect([ok!.status, failed!.status]).toEqual(['succeeded', 'failed']);

          const refund = `/refund ${ok!.id} the clip was blank`;
          const out = await t.console(
            '/stats',
            refund,
            `/refund ${ok!.id}`,
            `/refund ${failed!.id}`,
            '/refund jnosuchjob',
            '/balance',
          );
          const stats = out.replyTo('/stats').split('\n');
          expect(stats[0]).toBe('Everywhere:');
          expect(stats[1]).toMatch(/^Jobs: /);
          expect(stats[1]).toContain('succeeded 1');
          expect(stats[1]).toContain('failed 1');
          expect(stats[2]).toBe('Today: 2 jobs, 40 credits spent, about $0.15 at providers');
          expect(stats[3]).toBe('Users: 1. Credits held by jobs in progress: 0');
          expect(out.replyTo(refund)).toBe(`Refunded 40 credits for job ${ok!.id} to console (console:local).`);
          expect(out.replyTo(`/refund ${ok!.id}`)).toBe(`Job ${ok!.id} was already refunded.`);
          expect(out.replyTo(`/refund ${failed!.id}`)).toBe(
            `Job ${failed!.id} failed; its credits were already refunded.`,
          );
          expect(out.replyTo('/refund jnosuchjob')).toBe('There is no job jnosuchjob.');
          expect(out.replyTo('/balance')).toBe(`You have ${STARTING} credits.`);

          const owner = await t.userId('local');
          const grants = (await t.ledger('local')).filter((e) => e.kind === 'refund');
          expect(
            grants.map(({ amount, jobId, actorUserId, reason }) => ({ amount, jobId, actorUserId, reason })),
          ).toEqual([
            { amount: 40, jobId: ok!.id, actorUserId: owner, reason: `refund of job ${ok!.id}: the clip was blank` },
          ]);
          expect(
            (await t.audit()).map(({ action, actorUserId, targetUserId, jobId, detail }) => [
              action,
              actorUserId,
              targetUserId,
              jobId,
              JSON.parse(detail!),
            ]),
          ).toEqual([['job.refund', owner, owner, ok!.id, { amount: 40, reason: 'the clip was blank' }]]);
        });
      });
    });

    describe('when a member uses them', () => {
      it('refuses every one and changes nothing in the database', async () => {
        const t = await clipbot();
        await t.console('/credits grant ann 50 setup', '/blocklist add wombat', FOX);
        const jobId = (await t.jobs())[0]!.id;
        const before = await t.snapshot();

        const attempts = [
          '/credits grant ann 50 because',
          '/credits take ann 10 because',
          '/quota ann 0',
          '/ban ann because',
          '/unban ann',
          '/blocklist add otter',
          '/blocklist remove wombat',
          '/blocklist list',
          '/stats',
          `/refund ${jobId} because`,
        ];
        const out = await t.console('/as member', ...attempts);
        for (const line of attempts) {
          const name = line.split(' ')[0]!;
          expect(out.replyTo(line)).toBe(`${name} is for moderators and the bot owner.`);
        }
        expect(out.replies.filter((r) => MODERATOR_ONLY.test(r))).toHaveLength(attempts.length);
        expect(out.code).toBe(1);
        expect(await t.snapshot()).toEqual(before);
      });
    });
  });
});

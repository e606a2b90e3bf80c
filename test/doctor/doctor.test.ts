import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../db/client.js';
import { loadConfig } from '../../src/config.js';
import { runDoctor } from '../../src/doctor/doctor.js';
import { checkDiskSpace } from '../../src/doctor/local-checks.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot } from '../../src/main.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { startArkSimulator, type ArkSimulator } from '../../src/sim/ark.js';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { startKieSimulator, type KieSimulator } from '../../src/sim/kie.js';
import { FakeDiscord, SKU_TYPES } from '../fakes/discord.js';
import { FakeTelegram } from '../fakes/telegram-api.js';
import { ROOT } from '../helpers/child.js';
import { tempDir } from '../helpers/db.js';
import { freshPostgresDatabase, postgresAvailable } from '../helpers/postgres.js';
import { S3RVER_ACCESS_KEY_ID, startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { freePort } from '../hostile/world.js';

/**
 * `npm run doctor` against the fakes of Telegram and Discord, the provider simulators, s3rver and a stand-in
 * moderation endpoint: every check passes on a good setup, and each thing an owner can get wrong turns its own
 * line into ❌ with the fix, and the exit code into 1.
 */

const BUCKET = 'clips';
const INVITE_PERMISSIONS = '274878024704';

let telegram: FakeTelegram;
let discord: FakeDiscord;
let fal: FalSimulator;
let ark: ArkSimulator;
let kie: KieSimulator;
let s3: TestS3Server;
let moderation: { url: string; status: number; close(): Promise<void> };
let readOnlyS3: { url: string; close(): Promise<void> };
const cleanups: (() => void)[] = [];

/** Answers like an OpenAI-compatible /v1/moderations; `status` switches it to an error answer. */
async function startModeration(): Promise<typeof moderation> {
  const state = { status: 200 };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (state.status !== 200)
        return void res
          .writeHead(state.status, { 'content-type': 'application/json' })
          .end('{"error":{"message":"Incorrect API key"}}');
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ results: [{ flagged: false, categories: { violence: false } }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get status() {
      return state.status;
    },
    set status(value: number) {
      state.status = value;
    },
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** s3rver behind a policy that refuses writes, as a bucket whose key may only read does (AccessDenied). */
async function startReadOnlyProxy(target: string): Promise<typeof readOnlyS3> {
  const server = http.createServer((req, res) => {
    if (req.method === 'PUT' || req.method === 'POST' || req.method === 'DELETE') {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      return void res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
      );
    }
    const upstream = http.request(
      `${target}${req.url ?? '/'}`,
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

beforeAll(async () => {
  [telegram, discord, fal, ark, kie, s3, moderation] = await Promise.all([
    FakeTelegram.start({ botUsername: 'fox_clips_bot' }),
    FakeDiscord.start(),
    startFalSimulator(),
    startArkSimulator(),
    startKieSimulator({ credits: 812.5 }),
    startS3Server({ buckets: [BUCKET] }),
    startModeration(),
  ]);
  readOnlyS3 = await startReadOnlyProxy(s3.endpoint);
});

afterAll(async () => {
  await Promise.all([
    telegram.close(),
    discord.close(),
    fal.close(),
    ark.close(),
    kie.close(),
    s3.close(),
    moderation.close(),
    readOnlyS3.close(),
  ]);
  for (const cleanup of cleanups) cleanup();
});

const postgresAnswers = await postgresAvailable();

function dataDir(): string {
  const { dir, cleanup } = tempDir('clipbot-doctor-');
  cleanups.push(cleanup);
  return dir;
}

async function goodSetup(): Promise<Record<string, string>> {
  const port = await freePort();
  return {
    DATA_DIR: dataDir(),
    LOG_LEVEL: 'silent',
    TELEGRAM_TOKEN: telegram.token,
    TELEGRAM_API_ROOT: telegram.apiRoot,
    DISCORD_TOKEN: discord.token,
    DISCORD_API_BASE: discord.apiBase,
    FAL_KEY: fal.key,
    FAL_QUEUE_URL: fal.url,
    FAL_JWKS_URL: fal.jwksUrl,
    ARK_API_KEY: ark.apiKey,
    ARK_BASE_URL: ark.url,
    KIE_API_KEY: kie.apiKey,
    KIE_BASE_URL: kie.url,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    STORAGE: 's3',
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: BUCKET,
    S3_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY: 'doctor-s3-secret',
    S3_PUBLIC_URL: `${s3.endpoint}/${BUCKET}`,
    S3_FORCE_PATH_STYLE: 'true',
    MODERATION_URL: moderation.url,
  };
}

interface DoctorRun {
  code: number;
  output: string;
  /** The line of each check, by its title. */
  line: (title: string) => string;
}

async function doctor(env: Record<string, string>): Promise<DoctorRun> {
  const lines: string[] = [];
  const code = await runDoctor({ env, envFile: '.env', write: (l) => lines.push(l), logger: silentLogger });
  return {
    code,
    output: lines.join('\n'),
    line: (title) => {
      const found = lines.filter((l) => l.slice(l.indexOf(' ') + 1).startsWith(`${title}:`));
      expect(found, lines.join('\n')).toHaveLength(1);
      return found[0]!;
    },
  };
}

describe('npm run doctor', () => {
  describe('when everything configured works', () => {
    it('prints one ✅ line per check, with what it found, and exits 0', async () => {
      const setup = await goodSetup();
      const run = await doctor(setup);

      expect(run.code, run.output).toBe(0);
      expect(run.output).not.toContain('❌');
      expect(run.line('Settings')).toBe('✅ Settings: valid, from .env and the environment');
      expect(run.line('Data folder')).toBe(`✅ Data folder: ${setup.DATA_DIR} is writable`);
      expect(run.line('Disk space')).toMatch(/^✅ Disk space: \d+\.\d GiB free under /);
      expect(run.line('Database')).toContain('does not exist yet; it is created at the first start');
      expect(run.line('Chat platform')).toBe('✅ Chat platform: Telegram and Discord');
      expect(run.line('Telegram')).toBe(
        '✅ Telegram: @fox_clips_bot, privacy mode on (in groups it sees commands, mentions and replies); long polling',
      );
      expect(run.line('Discord')).toBe(
        `✅ Discord: clipbot, in 1 server; invite: https://discord.com/oauth2/authorize?client_id=${discord.applicationId}&scope=bot+applications.commands&permissions=${INVITE_PERMISSIONS}`,
      );
      expect(run.line('Video provider')).toBe('✅ Video provider: fal.ai, Ark, kie.ai');
      expect(run.line('fal.ai')).toMatch(/^✅ fal\.ai: key accepted/);
      expect(run.line('Volcano Engine Ark')).toMatch(
        /^✅ Volcano Engine Ark: key accepted, models doubao-seedance-1-0-pro-250528 \(seedance-1-pro-ark\), doubao-seedance-1-5-pro-251215 \(seedance-1.5-pro-ark\), doubao-seedance-2-0-260128 \(seedance-2-ark\), doubao-seedance-2-0-fast-260128 \(seedance-2-fast-ark\) \(Ark has no balance API/,
      );
      expect(run.line('kie.ai')).toBe('✅ kie.ai: key accepted, 812.5 credits left');
      expect(run.line('Public URL')).toBe(
        `✅ Public URL: ${setup.PUBLIC_URL} reaches the doctor, listening where the bot will (nonce matched)`,
      );
      expect(run.line('Storage')).toBe(
        `✅ Storage: S3 bucket ${BUCKET}: write, public read through S3_PUBLIC_URL and delete work`,
      );
      expect(run.line('Moderation')).toBe(
        `✅ Moderation: ${moderation.url}/v1/moderations answers (a harmless prompt: not flagged)`,
      );
      expect(run.output.split('\n').at(-1)).toBe('Everything configured works.');
    });

    it('says so when this process leaves Telegram long polling to another one (TELEGRAM_POLLING=false)', async () => {
      const run = await doctor({ ...(await goodSetup()), TELEGRAM_POLLING: 'false' });
      expect(run.line('Telegram')).toBe(
        '✅ Telegram: @fox_clips_bot, privacy mode on (in groups it sees commands, mentions and replies); not polling (TELEGRAM_POLLING=false: another process of this bot must poll)',
      );
    });

    it('leaves nothing behind: no file in DATA_DIR but its folder, no object in the bucket', async () => {
      const setup = await goodSetup();
      await doctor(setup);
      expect(fs.readdirSync(setup.DATA_DIR!).filter((f) => f !== 'tmp')).toEqual([]);
      const listing = await fetch(`${s3.endpoint}/${BUCKET}?list-type=2&prefix=clipbot-doctor/`).then((r) => r.text());
      expect(listing).not.toContain('<Key>');
    });
  });

  describe('and the README', () => {
    it('lists the same checks in the same order in its "Run it for real" checklist', async () => {
      const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
      const checklist = readme.slice(readme.indexOf('The checklist.'), readme.indexOf('Then `npm start`.'));
      const listed = [...checklist.matchAll(/\d+\. \*\*([^*]+)\*\*/g)].map((m) => m[1]);
      const run = await doctor(await goodSetup());
      const printed = run.output
        .split('\n')
        .filter((l) => /^(✅|❌|➖) /.test(l))
        .map((l) => l.slice(l.indexOf(' ') + 1, l.indexOf(':')));
      expect(listed).toEqual(printed);
      expect(listed).toHaveLength(14);
    });
  });

  describe('when something optional is not configured', () => {
    it('shows ➖ for it and still exits 0', async () => {
      const setup = await goodSetup();
      for (const key of ['DISCORD_TOKEN', 'ARK_API_KEY', 'KIE_API_KEY', 'PUBLIC_URL', 'MODERATION_URL', 'STORAGE'])
        delete setup[key];
      const run = await doctor(setup);

      expect(run.code, run.output).toBe(0);
      expect(run.line('Discord')).toBe('➖ Discord: not configured (set DISCORD_TOKEN to serve Discord)');
      expect(run.line('Volcano Engine Ark')).toMatch(/^➖ /);
      expect(run.line('kie.ai')).toMatch(/^➖ /);
      expect(run.line('Public URL')).toMatch(/^➖ Public URL: not set/);
      expect(run.line('Moderation')).toMatch(/^➖ /);
      expect(run.line('Storage')).toBe(`✅ Storage: local, under ${path.join(setup.DATA_DIR!, 'media')}`);
    });
  });

  describe('when a setting is invalid', () => {
    it('prints one ❌ Settings line naming the variable and checks nothing else', async () => {
      const run = await doctor({ ...(await goodSetup()), HTTP_PORT: 'eighty' });
      expect(run.code).toBe(1);
      expect(run.output).toMatch(
        /^❌ Settings: from \.env and the environment: HTTP_PORT="eighty": .+ → correct these in \.env \(every setting is explained in \.env\.example\)$/,
      );
    });

    it('names the model and field a MODEL_PRICES file gets wrong', async () => {
      const setup = await goodSetup();
      const prices = path.join(setup.DATA_DIR!, 'prices.json');
      fs.mkdirSync(setup.DATA_DIR!, { recursive: true });
      fs.writeFileSync(prices, JSON.stringify({ 'seedance-1-pro': { credits: { '4k': 100 } } }));
      const run = await doctor({ ...setup, MODEL_PRICES: prices });
      expect(run.code).toBe(1);
      expect(run.line('Settings')).toBe(
        `❌ Settings: from .env and the environment: MODEL_PRICES=${JSON.stringify(prices)}: "seedance-1-pro".credits.4k: seedance-1-pro is made at 480p, 720p, 1080p only → correct these in .env (every setting is explained in .env.example)`,
      );
    });
  });

  describe('when no chat platform or no provider is configured', () => {
    it('fails those lines with what to set', async () => {
      const setup = await goodSetup();
      for (const key of ['DISCORD_TOKEN', 'TELEGRAM_TOKEN', 'FAL_KEY', 'ARK_API_KEY', 'KIE_API_KEY']) delete setup[key];
      const run = await doctor(setup);
      expect(run.code).toBe(1);
      expect(run.line('Chat platform')).toBe(
        '❌ Chat platform: none configured → set TELEGRAM_TOKEN (from @BotFather) and/or DISCORD_TOKEN (Developer Portal → Bot)',
      );
      expect(run.line('Video provider')).toMatch(
        /^❌ Video provider: no provider key is set.+ → set FAL_KEY, ARK_API_KEY and\/or KIE_API_KEY$/,
      );
    });
  });

  describe('when a platform token is wrong', () => {
    it('Telegram: says the token is refused and where to get it again, without printing it', async () => {
      const token = '7012345678:AAHwrongWrongWrongWrongWrongWrong000';
      const run = await doctor({ ...(await goodSetup()), TELEGRAM_TOKEN: token });
      expect(run.code).toBe(1);
      expect(run.line('Telegram')).toBe(
        '❌ Telegram: TELEGRAM_TOKEN is refused (HTTP 401: Unauthorized) → copy the token again from @BotFather (/mybots → your bot → API Token)',
      );
      expect(run.output).not.toContain(token);
      expect(run.line('Discord')).toMatch(/^✅ /);
    });

    it('Discord: says when the bot has outgrown its shard count, and names the shards it runs once they suffice', async () => {
      // Three servers where Discord takes one per shard: GET /gateway/bot asks for three shards.
      const crowded = await FakeDiscord.start({ maxGuildsPerShard: 1 });
      try {
        crowded.addGuild('Second');
        crowded.addGuild('Third');
        const setup = { ...(await goodSetup()), DISCORD_TOKEN: crowded.token, DISCORD_API_BASE: crowded.apiBase };
        const unsharded = await doctor(setup);
        expect(unsharded.code).toBe(1);
        expect(unsharded.line('Discord')).toBe(
          '❌ Discord: in 3 servers: Discord asks for 3 shards, DISCORD_SHARD_COUNT is 1 → set DISCORD_SHARD_COUNT=3 in every process and spread DISCORD_SHARD_IDS over them (README, Growing past one process)',
        );
        const sharded = await doctor({ ...setup, DISCORD_SHARD_COUNT: '3', DISCORD_SHARD_IDS: '0,2' });
        expect(sharded.line('Discord')).toMatch(/^✅ Discord: clipbot, in 3 servers, shards 0,2 of 3; invite: /);
      } finally {
        await crowded.close();
      }
    });

    it('Discord: checks that every SKU of DISCORD_SKU_CREDITS is a consumable SKU of the application', async () => {
      const consumable = discord.addSku('100 credits');
      const durable = discord.addSku('Lifetime', SKU_TYPES.DURABLE);
      const good = await doctor({ ...(await goodSetup()), DISCORD_SKU_CREDITS: `${consumable.id}:100` });
      expect(good.line('Discord')).toMatch(/^✅ Discord: clipbot, in 1 server, selling 1 credit pack; invite: /);
      const wrongType = await doctor({
        ...(await goodSetup()),
        DISCORD_SKU_CREDITS: `${consumable.id}:100,${durable.id}:500`,
      });
      expect(wrongType.code).toBe(1);
      expect(wrongType.line('Discord')).toBe(
        `❌ Discord: DISCORD_SKU_CREDITS: SKU ${durable.id} (Lifetime) is not a one-time Consumable SKU → Developer Portal → your application → Monetization → SKUs: copy the id of each one-time Consumable SKU`,
      );
      const unknown = await doctor({ ...(await goodSetup()), DISCORD_SKU_CREDITS: '1234567890123456789:100' });
      expect(unknown.line('Discord')).toMatch(
        /^❌ Discord: DISCORD_SKU_CREDITS: SKU 1234567890123456789 is not a SKU of this application → /,
      );
    });

    it('Discord: says the token is refused and how to reset it', async () => {
      const run = await doctor({ ...(await goodSetup()), DISCORD_TOKEN: 'not-the-bot-token' });
      expect(run.code).toBe(1);
      expect(run.line('Discord')).toBe(
        '❌ Discord: DISCORD_TOKEN is refused (HTTP 401) → Developer Portal → your application → Bot → Reset Token, and put the new one in DISCORD_TOKEN',
      );
    });

    it('Telegram unreachable: names the network failure', async () => {
      const run = await doctor({ ...(await goodSetup()), TELEGRAM_API_ROOT: `http://127.0.0.1:${await freePort()}` });
      expect(run.line('Telegram')).toMatch(
        /^❌ Telegram: Telegram API unreachable \(connection refused\) → check the network and TELEGRAM_API_ROOT/,
      );
    });
  });

  describe('when Telegram is set to webhook mode', () => {
    it('shows the webhook URL that is registered at start', async () => {
      const setup = await goodSetup();
      const run = await doctor({ ...setup, TELEGRAM_WEBHOOK_SECRET: 'doctor-hook-secret' });
      expect(run.line('Telegram')).toBe(
        `✅ Telegram: @fox_clips_bot, privacy mode on (in groups it sees commands, mentions and replies); webhook ${setup.PUBLIC_URL}/telegram/webhook (registered at start)`,
      );
      expect(run.output).not.toContain('doctor-hook-secret');
    });
  });

  describe('when the kie.ai account has no credits left', () => {
    it('fails the kie.ai line with where to top up', async () => {
      const broke = await startKieSimulator({ credits: 0 });
      try {
        const run = await doctor({ ...(await goodSetup()), KIE_API_KEY: broke.apiKey, KIE_BASE_URL: broke.url });
        expect(run.code).toBe(1);
        expect(run.line('kie.ai')).toBe(
          '❌ kie.ai: key accepted, but the account has 0 credits → top up at kie.ai → Billing',
        );
      } finally {
        await broke.close();
      }
    });
  });

  describe('when a provider refuses the key (401)', () => {
    it('fails that provider’s line only, with where to get a key', async () => {
      const run = await doctor({
        ...(await goodSetup()),
        FAL_KEY: 'wrong-fal',
        ARK_API_KEY: 'wrong-ark',
        KIE_API_KEY: 'wrong-kie',
      });
      expect(run.code).toBe(1);
      expect(run.line('fal.ai')).toBe(
        '❌ fal.ai: FAL_KEY is refused (HTTP 401: Invalid API key) → create a key at fal.ai → Dashboard → Keys and put it in FAL_KEY',
      );
      expect(run.line('Volcano Engine Ark')).toBe(
        '❌ Volcano Engine Ark: ARK_API_KEY is refused (HTTP 401 AuthenticationError) → create an API key in the Ark console (API Key management) and put it in ARK_API_KEY',
      );
      expect(run.line('kie.ai')).toBe(
        '❌ kie.ai: KIE_API_KEY is refused (401) → copy the key again from kie.ai → API Key and put it in KIE_API_KEY',
      );
      expect(run.output).not.toMatch(/wrong-(fal|ark|kie)/);
    });
  });

  describe('when PUBLIC_URL is wrong', () => {
    it('unreachable: says so and what to check', async () => {
      const setup = await goodSetup();
      const closed = await freePort();
      const run = await doctor({ ...setup, PUBLIC_URL: `http://127.0.0.1:${closed}` });
      expect(run.code).toBe(1);
      expect(run.line('Public URL')).toBe(
        `❌ Public URL: http://127.0.0.1:${closed} is unreachable (connection refused) → check DNS, the firewall and the reverse proxy for 127.0.0.1:${closed}`,
      );
    });

    it('plain http on a public host: asks for https', async () => {
      const run = await doctor({ ...(await goodSetup()), PUBLIC_URL: 'http://bot.example.com' });
      expect(run.line('Public URL')).toMatch(
        /^❌ Public URL: http:\/\/bot\.example\.com is not https → put a TLS reverse proxy/,
      );
    });

    it('reaching a server that is not this bot: the nonce does not match', async () => {
      const other = http.createServer((_req, res) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"instance":"someone-else"}'),
      );
      await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
      const otherPort = (other.address() as { port: number }).port;
      try {
        const setup = await goodSetup();
        const run = await doctor({ ...setup, PUBLIC_URL: `http://127.0.0.1:${otherPort}` });
        expect(run.line('Public URL')).toBe(
          `❌ Public URL: http://127.0.0.1:${otherPort}/healthz reaches another clipbot → point the reverse proxy for 127.0.0.1:${otherPort} at http://127.0.0.1:${setup.HTTP_PORT}`,
        );
      } finally {
        other.closeAllConnections();
        await new Promise((resolve) => other.close(resolve));
      }
    });

    it('while the bot runs: the public URL must reach the running bot’s own nonce', async () => {
      const setup = await goodSetup();
      const local = { ...setup, STORAGE: 'local', TELEGRAM_TOKEN: '', DISCORD_TOKEN: '' };
      const bot = await startClipbot(loadConfig(local), { logger: silentLogger });
      try {
        const run = await doctor(local);
        expect(run.line('Public URL')).toBe(
          `✅ Public URL: ${setup.PUBLIC_URL} reaches the running bot (nonce matched)`,
        );
      } finally {
        await bot.stop();
      }
    });
  });

  describe('when the S3 bucket is wrong', () => {
    it('read-only: says the key cannot write, and leaves nothing behind', async () => {
      const run = await doctor({ ...(await goodSetup()), S3_ENDPOINT: readOnlyS3.url });
      expect(run.code).toBe(1);
      expect(run.line('Storage')).toMatch(
        /^❌ Storage: cannot write to bucket clips \(.*AccessDenied, HTTP 403\)\) → give S3_ACCESS_KEY_ID write \(PutObject, DeleteObject\) access to the bucket/,
      );
      expect(run.output).not.toContain('doctor-s3-secret');
    });

    it('S3_PUBLIC_URL not serving the bucket: says the public read failed', async () => {
      const run = await doctor({ ...(await goodSetup()), S3_PUBLIC_URL: `${s3.endpoint}/elsewhere` });
      expect(run.line('Storage')).toMatch(
        /^❌ Storage: wrote to bucket clips, but S3_PUBLIC_URL does not serve it \(HTTP 404\) → make the bucket/,
      );
    });
  });

  describe('when the moderation endpoint refuses the key', () => {
    it('fails the Moderation line with the fix', async () => {
      moderation.status = 401;
      try {
        const run = await doctor(await goodSetup());
        expect(run.line('Moderation')).toBe(
          `❌ Moderation: ${moderation.url}/v1/moderations: moderation refused the API key (HTTP 401) → set MODERATION_API_KEY to a key the endpoint accepts`,
        );
      } finally {
        moderation.status = 200;
      }
    });
  });

  describe('when the data folder or the database is wrong', () => {
    it('DATA_DIR that cannot be created: ❌ with the fix', async () => {
      const file = path.join(dataDir(), 'a-file');
      fs.writeFileSync(file, 'x');
      const run = await doctor({ ...(await goodSetup()), DATA_DIR: path.join(file, 'data') });
      expect(run.line('Data folder')).toMatch(
        /^❌ Data folder: .+ is not writable \(ENOTDIR\) → set DATA_DIR to a folder this user/,
      );
    });

    it('a database migrated by a newer clipbot: ❌, not used', async () => {
      const setup = await goodSetup();
      openDb(path.join(setup.DATA_DIR!, 'clipbot.db')).$client.close();
      const raw = new Database(path.join(setup.DATA_DIR!, 'clipbot.db'));
      raw
        .prepare('INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)')
        .run('future', Date.UTC(2099, 0, 1));
      raw.close();
      const run = await doctor(setup);
      expect(run.line('Database')).toMatch(/^❌ Database: .+ was migrated by a newer clipbot than this one → /);
    });

    it('a current database: ✅ migrations are current', async () => {
      const setup = await goodSetup();
      openDb(path.join(setup.DATA_DIR!, 'clipbot.db')).$client.close();
      const run = await doctor(setup);
      expect(run.line('Database')).toMatch(/^✅ Database: .+clipbot\.db opens; migrations are current$/);
    });

    it('too little free disk: ❌ with how much is needed', () => {
      const result = checkDiskSpace(loadConfig({ DATA_DIR: dataDir() }), Number.MAX_SAFE_INTEGER);
      expect(result.status).toBe('fail');
      expect(result.fix).toMatch(/^free space there or move DATA_DIR/);
    });
  });

  describe('when DATABASE_URL names PostgreSQL', () => {
    it.skipIf(!postgresAnswers)(
      'a migrated database: ✅ it answers, migrations are current; a new one: its tables come at the first start',
      async () => {
        const { name, url, drop } = await freshPostgresDatabase();
        try {
          const setup: Record<string, string> = { ...(await goodSetup()), DATABASE_URL: url };
          const fresh = await doctor(setup);
          expect(fresh.line('Database')).toMatch(
            new RegExp(
              `^✅ Database: postgres://127\\.0\\.0\\.1:5432/${name} answers \\(PostgreSQL \\d+\\.\\d+\\); its tables are created at the first start$`,
            ),
          );

          await (await openPostgresStore(setup.DATABASE_URL!)).close();
          const migrated = await doctor(setup);
          expect(migrated.code, migrated.output).toBe(0);
          expect(migrated.line('Database')).toMatch(
            new RegExp(
              `^✅ Database: postgres://127\\.0\\.0\\.1:5432/${name} answers \\(PostgreSQL \\d+\\.\\d+\\); migrations are current$`,
            ),
          );
          // The doctor only looks: the SQLite file is not made.
          expect(fs.existsSync(path.join(setup.DATA_DIR!, 'clipbot.db'))).toBe(false);
        } finally {
          await drop();
        }
      },
    );

    it('nothing listening: ❌ with the fix, and the password is never shown', async () => {
      const closed = await freePort();
      const run = await doctor({
        ...(await goodSetup()),
        DATABASE_URL: `postgres://clipbot:doctor-pg-secret@127.0.0.1:${closed}/clipbot`,
      });
      expect(run.code).toBe(1);
      expect(run.line('Database')).toBe(
        `❌ Database: postgres://127.0.0.1:${closed}/clipbot: connection refused → start PostgreSQL, or correct the host and port in DATABASE_URL`,
      );
      expect(run.output).not.toContain('doctor-pg-secret');
    });
  });
});

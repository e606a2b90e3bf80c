import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODELS } from './core/catalog.js';
import { ARK_MODEL_SETTINGS, arkModelIds, ConfigError, loadConfig, redactedConfig } from './config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('config', () => {
  describe('when nothing is set', () => {
    it('uses the documented defaults', () => {
      const c = loadConfig({});
      expect(c).toMatchObject({
        DATA_DIR: './data',
        HTTP_PORT: 8080,
        HTTP_HOST: '127.0.0.1',
        STORAGE: 'local',
        STARTING_CREDITS: 100,
      });
      expect(c.FAL_QUEUE_URL).toBe('https://queue.fal.run');
      expect(c.dataDir.endsWith('data')).toBe(true);
    });

    it('logs owner alerts only, at 80% of a cap and after 5 provider errors in a row', () => {
      const c = loadConfig({});
      expect(c.OWNER_ALERT_CHAT).toBeUndefined();
      expect(c).toMatchObject({ BUDGET_WARN_PERCENT: 80, PROVIDER_ALERT_ERRORS: 5 });
    });

    it('treats empty values as unset, as a copied .env.example has them', () => {
      expect(loadConfig({ FAL_KEY: '', HTTP_PORT: '', PUBLIC_URL: '' })).toMatchObject({
        HTTP_PORT: 8080,
        FAL_KEY: undefined,
      });
    });
  });

  describe('when owner alerts go to a chat', () => {
    it('takes a Discord channel or a Telegram chat (a group id is negative) on a platform that is enabled', () => {
      expect(loadConfig({ OWNER_ALERT_CHAT: 'discord:310000000000000001', DISCORD_TOKEN: 't' }).OWNER_ALERT_CHAT).toBe(
        'discord:310000000000000001',
      );
      expect(loadConfig({ OWNER_ALERT_CHAT: 'telegram:-1001234567890', TELEGRAM_TOKEN: 't' }).OWNER_ALERT_CHAT).toBe(
        'telegram:-1001234567890',
      );
      expect(loadConfig({ OWNER_ALERT_CHAT: ' telegram:12345 ', TELEGRAM_TOKEN: 't' }).OWNER_ALERT_CHAT).toBe(
        'telegram:12345',
      );
    });
  });

  describe('when Discord is sharded over several processes', () => {
    it('runs one shard, as discord.js does unsharded, when nothing is set', () => {
      const c = loadConfig({});
      expect(c.DISCORD_SHARD_IDS).toEqual([]);
      expect(c.DISCORD_SHARD_COUNT).toBeUndefined();
    });

    it('takes this process’s shard ids below the total every process shares', () => {
      expect(loadConfig({ DISCORD_SHARD_COUNT: '4', DISCORD_SHARD_IDS: ' 2, 3 ' })).toMatchObject({
        DISCORD_SHARD_IDS: [2, 3],
        DISCORD_SHARD_COUNT: 4,
      });
      expect(loadConfig({ DISCORD_SHARD_COUNT: '4' })).toMatchObject({ DISCORD_SHARD_IDS: [], DISCORD_SHARD_COUNT: 4 });
    });

    it.each([
      [{ DISCORD_SHARD_IDS: '0,1' }, /^DISCORD_SHARD_IDS: needs DISCORD_SHARD_COUNT too/],
      [
        { DISCORD_SHARD_COUNT: '4', DISCORD_SHARD_IDS: '3,4' },
        /^DISCORD_SHARD_IDS: shard 4 is not below DISCORD_SHARD_COUNT=4 \(ids run from 0 to 3\)$/,
      ],
      [{ DISCORD_SHARD_COUNT: '2', DISCORD_SHARD_IDS: '1,1' }, /^DISCORD_SHARD_IDS: lists a shard twice$/],
      [{ DISCORD_SHARD_COUNT: '2', DISCORD_SHARD_IDS: 'one' }, /^DISCORD_SHARD_IDS="one": expected shard ids/],
      [{ DISCORD_SHARD_COUNT: '2', DISCORD_SHARD_IDS: '-1' }, /^DISCORD_SHARD_IDS="-1": expected shard ids/],
      [{ DISCORD_SHARD_COUNT: '0' }, /^DISCORD_SHARD_COUNT="0": /],
    ])('refuses a layout that would leave servers unheard or heard twice (%o)', (env, message) => {
      expect(problemsOf(env).join('\n')).toMatch(message);
    });
  });

  describe('when the owner picks Ark models and a service tier', () => {
    const arkCatalog = Object.fromEntries(
      MODELS.filter((m) => m.provider === 'ark').map((m) => [m.id, m.providerModels.textToVideo]),
    );

    it('names the catalog’s own Ark model behind each Ark model, and no tier, when nothing is set', () => {
      const c = loadConfig({});
      expect(arkModelIds(c)).toEqual(arkCatalog);
      expect(c.ARK_SERVICE_TIER).toBeUndefined();
    });

    it('gives every Ark model of the catalog a setting of its own', () => {
      expect(Object.keys(ARK_MODEL_SETTINGS).sort()).toEqual(Object.keys(arkCatalog).sort());
      expect(new Set(Object.values(ARK_MODEL_SETTINGS)).size).toBe(Object.keys(ARK_MODEL_SETTINGS).length);
    });

    it('replaces each model alone, ARK_MODEL_ID still meaning Seedance 1.0 Pro', () => {
      const c = loadConfig({
        ARK_MODEL_ID: 'ep-20260101000000-abcde',
        ARK_SEEDANCE_1_5_PRO_MODEL_ID: 'ep-20260101000000-fghij',
        ARK_SEEDANCE_2_MODEL_ID: 'dreamina-seedance-2-0-260128',
        ARK_SEEDANCE_2_FAST_MODEL_ID: '',
      });
      expect(arkModelIds(c)).toEqual({
        'seedance-1-pro-ark': 'ep-20260101000000-abcde',
        'seedance-1.5-pro-ark': 'ep-20260101000000-fghij',
        'seedance-2-ark': 'dreamina-seedance-2-0-260128',
        'seedance-2-fast-ark': 'doubao-seedance-2-0-fast-260128',
      });
    });

    it('documents each Ark setting in .env.example with its default', () => {
      const example = parseEnv(fs.readFileSync(new URL('../.env.example', import.meta.url), 'utf8'));
      const c = loadConfig({});
      for (const setting of Object.values(ARK_MODEL_SETTINGS)) expect(example[setting], setting).toBe(c[setting]);
      expect(example.ARK_SERVICE_TIER).toBe('');
    });

    it.each(['default', 'flex'])('takes ARK_SERVICE_TIER=%s', (tier) => {
      expect(loadConfig({ ARK_SERVICE_TIER: tier }).ARK_SERVICE_TIER).toBe(tier);
    });
  });

  describe('when choosing the default model', () => {
    it.each([
      [{ FAL_KEY: 'k', ARK_API_KEY: 'k', KIE_API_KEY: 'k' }, 'seedance-1-pro'],
      [{ ARK_API_KEY: 'k', KIE_API_KEY: 'k' }, 'seedance-1-pro-ark'],
      [{ KIE_API_KEY: 'k' }, 'veo3.1-fast'],
      [{}, 'seedance-1-pro'],
    ])('takes the best value of the providers with a key when DEFAULT_MODEL is unset (%o)', (env, model) => {
      expect(loadConfig(env).DEFAULT_MODEL).toBe(model);
    });

    it('takes the owner’s model, by its current id when a former one is given', () => {
      expect(loadConfig({ KIE_API_KEY: 'k', FAL_KEY: 'k', DEFAULT_MODEL: 'veo3' }).DEFAULT_MODEL).toBe('veo3.1');
    });

    it.each([
      [
        { FAL_KEY: 'k', DEFAULT_MODEL: 'veo3.1-fast' },
        'DEFAULT_MODEL="veo3.1-fast": runs on kie, which has no key; set KIE_API_KEY too, or pick a model of a provider you have a key for',
      ],
      [
        { FAL_KEY: 'k', DEFAULT_MODEL: 'sora' },
        /^DEFAULT_MODEL="sora": no such model \(models: seedance-1-pro, .*veo3\.1\)$/,
      ],
      [
        { KIE_API_KEY: 'k', DEFAULT_MODEL: 'suno-music-video' },
        'DEFAULT_MODEL="suno-music-video": makes videos from songs (/musicvideo); pick a video model',
      ],
    ])('refuses a default no member could use (%o)', (env, message) => {
      const problems = problemsOf(env);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(message);
    });
  });

  describe('when the owner sets prices in a MODEL_PRICES file', () => {
    const priceFile = (content: string) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clipbot-prices-'));
      onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
      const file = path.join(dir, 'prices.json');
      fs.writeFileSync(file, content);
      return file;
    };

    it('reads a table that names some resolutions of some models, by id or former id', () => {
      const file = priceFile(
        JSON.stringify({
          'seedance-1-pro': { credits: { '720p': 60 }, usd: { '720p': 0.28 } },
          veo3: { credits: { '4k': 500 } },
          'suno-music-video': { credits: 45 },
        }),
      );
      expect(loadConfig({ MODEL_PRICES: file }).modelPrices).toEqual({
        'seedance-1-pro': { credits: { '720p': 60 }, usd: { '720p': 0.28 } },
        veo3: { credits: { '4k': 500 } },
        'suno-music-video': { credits: 45 },
      });
    });

    it('has no table when the setting is unset', () => {
      expect(loadConfig({}).modelPrices).toBeUndefined();
    });

    it.each([
      ['{ "seedance-9": { "credits": { "720p": 10 } } }', /"seedance-9": no such model \(models: seedance-1-pro, /],
      [
        '{ "seedance-1-pro": { "credits": { "4k": 10 } } }',
        /"seedance-1-pro".credits.4k: seedance-1-pro is made at 480p, 720p, 1080p only/,
      ],
      [
        '{ "seedance-1-pro": { "credits": 50 } }',
        /"seedance-1-pro".credits: give a figure per resolution, e.g. \{ "720p": 50 \}/,
      ],
      [
        '{ "suno-music-video": { "usd": { "720p": 0.1 } } }',
        /"suno-music-video".usd: suno-music-video has one price per video; give a number/,
      ],
      [
        '{ "seedance-1-pro": { "credits": { "720p": 12.5 } } }',
        /: "seedance-1-pro".credits.720p: credits must be whole$/,
      ],
      ['{ "seedance-1-pro": { "credits": { "720p": 0 } } }', /credits must be above 0/],
      ['{ "seedance-1-pro": { "usd": { "720p": -1 } } }', /USD must not be negative/],
      ['{ "seedance-1-pro": { "price": 5 } }', /Unrecognized key: "price"/],
      ['{ "seedance-1-pro": ', /not valid JSON/],
    ])('refuses %s, naming the file and what to fix', (content, message) => {
      const file = priceFile(content);
      const problems = problemsOf({ MODEL_PRICES: file });
      expect(problems.join('\n')).toMatch(message);
      for (const problem of problems) expect(problem.startsWith(`MODEL_PRICES=${JSON.stringify(file)}: `)).toBe(true);
    });

    it('refuses a file it cannot read, or one far too large to be a price table', () => {
      expect(problemsOf({ MODEL_PRICES: '/nonexistent/prices.json' })).toEqual([
        'MODEL_PRICES="/nonexistent/prices.json": cannot read /nonexistent/prices.json (ENOENT)',
      ]);
      const big = priceFile(`{"seedance-1-pro":{"credits":{"720p":5}},"x":"${'y'.repeat(300 * 1024)}"}`);
      expect(problemsOf({ MODEL_PRICES: big })).toEqual([
        `MODEL_PRICES=${JSON.stringify(big)}: larger than 256 KiB; is it the right file?`,
      ]);
    });
  });

  describe('when a value is wrong', () => {
    it.each([
      [{ HTTP_PORT: 'abc' }, /^HTTP_PORT="abc": /],
      [{ HTTP_PORT: '70000' }, /^HTTP_PORT=/],
      [{ PUBLIC_URL: 'ftp://example.com' }, /^PUBLIC_URL=/],
      [{ OWNER_IDS: 'discord:1,bob' }, /^OWNER_IDS=.*platform:id/],
      [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL=/],
      [{ FETCH_ALLOW_CIDRS: '127.0.0.0/99' }, /FETCH_ALLOW_CIDRS/],
      [
        {
          STORAGE: 's3',
          S3_ENDPOINT: 'http://127.0.0.1:9000',
          S3_BUCKET: 'b',
          S3_ACCESS_KEY_ID: 'k',
          S3_SECRET_ACCESS_KEY: 's',
        },
        /S3_PUBLIC_URL: required when STORAGE=s3/,
      ],
      [{ TELEGRAM_WEBHOOK_SECRET: 's' }, /PUBLIC_URL/],
      [{ MODERATION_FAIL_OPEN: 'maybe' }, /^MODERATION_FAIL_OPEN=/],
      [
        { OWNER_ALERT_CHAT: 'discord:#owners' },
        /^OWNER_ALERT_CHAT="discord:#owners": expected discord:<channel id> or telegram:<chat id>/,
      ],
      [{ OWNER_ALERT_CHAT: 'telegram:-100123' }, /^OWNER_ALERT_CHAT: a Telegram chat needs TELEGRAM_TOKEN too$/],
      [{ BUDGET_WARN_PERCENT: '120' }, /^BUDGET_WARN_PERCENT="120": /],
      [{ PROVIDER_ALERT_ERRORS: '0' }, /^PROVIDER_ALERT_ERRORS="0": /],
      [{ ARK_SERVICE_TIER: 'cheap' }, /^ARK_SERVICE_TIER="cheap": /],
      [
        { ARK_SEEDANCE_2_MODEL_ID: 'doubao seedance' },
        /^ARK_SEEDANCE_2_MODEL_ID="doubao seedance": expected an Ark model or endpoint id/,
      ],
    ])('names the variable and what is wrong (%o)', (env, message) => {
      const problems = problemsOf(env);
      expect(problems.length).toBeGreaterThan(0);
      expect(problems.join('\n')).toMatch(message);
    });

    it('never prints a secret, in its message or in a logged config', () => {
      const problems = problemsOf({ FAL_KEY: 'sk-very-secret', HTTP_PORT: 'x' });
      expect(problems.join('\n')).toContain('HTTP_PORT');
      expect(problems.join('\n')).not.toContain('sk-very-secret');
      expect(JSON.stringify(redactedConfig(loadConfig({ FAL_KEY: 'sk-very-secret' })))).not.toContain('sk-very-secret');
    });
  });
});

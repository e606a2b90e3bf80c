import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { FakeTelegram } from '../fakes/telegram-api.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, killAll, ownerShellEnv, ROOT, startChild } from '../helpers/child.js';
import { readBotJobs, tempDir } from '../helpers/db.js';
import { freePort } from '../hostile/world.js';

/**
 * The README's "Run it for real", as an owner does it: a checkout, `cp .env.example .env`, the settings filled in
 * that file and nowhere else, then `npm run doctor` and `npm start` as child processes. Telegram is the fake Bot
 * API and fal.ai its simulator, both on 127.0.0.1, named in .env like the real ones would be.
 * The checkout is a folder of symlinks to this repository, so its own `.env` is the only thing that differs.
 */

const CHILD_TIMEOUT_MS = 120_000;
const LINKED = [
  'package.json',
  'package-lock.json',
  'node_modules',
  'dist',
  'scripts',
  'src',
  'commands',
  'db',
  'tsconfig.json',
  'tsconfig.build.json',
  '.env.example',
];

let telegram: FakeTelegram;
let fal: FalSimulator;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  ensureBuilt();
  [telegram, fal] = await Promise.all([
    FakeTelegram.start({ botUsername: 'owner_path_bot' }),
    startFalSimulator({ queueMs: 100, runMs: 400 }),
  ]);
}, BUILD_TIMEOUT_MS);

afterEach(() => killAll());

afterAll(async () => {
  await Promise.all([telegram.close(), fal.close()]);
  for (const cleanup of cleanups) cleanup();
});

/** A checkout whose `.env` is `.env.example` with `settings` filled in (each must be a line of .env.example). */
function checkoutWithEnv(settings: Record<string, string>): string {
  const { dir, cleanup } = tempDir('clipbot-owner-');
  cleanups.push(cleanup);
  for (const name of LINKED) fs.symlinkSync(path.join(ROOT, name), path.join(dir, name));
  const filled = new Set<string>();
  const lines = fs
    .readFileSync(path.join(ROOT, '.env.example'), 'utf8')
    .split('\n')
    .map((line) => {
      const key = /^([A-Z0-9_]+)=/.exec(line)?.[1];
      if (!key || !(key in settings)) return line;
      filled.add(key);
      return `${key}=${settings[key]}`;
    });
  expect([...filled].sort(), 'every setting is documented in .env.example').toEqual(Object.keys(settings).sort());
  fs.writeFileSync(path.join(dir, '.env'), lines.join('\n'));
  return dir;
}

async function ownerSettings(): Promise<Record<string, string>> {
  const port = await freePort();
  return {
    TELEGRAM_TOKEN: telegram.token,
    TELEGRAM_API_ROOT: telegram.apiRoot,
    FAL_KEY: fal.key,
    FAL_QUEUE_URL: fal.url,
    FAL_JWKS_URL: fal.jwksUrl,
    // The simulator lives on loopback, which the download guard refuses unless told otherwise.
    FETCH_ALLOW_CIDRS: '127.0.0.0/8',
    HTTP_PORT: String(port),
    // Webhooks from the simulator, straight to the bot (a reverse proxy would sit here in production).
    PUBLIC_URL: `http://127.0.0.1:${port}`,
  };
}

describe('the owner path (README, Run it for real)', () => {
  describe('when the settings are only in .env', () => {
    it(
      'npm run doctor passes every configured check and exits 0',
      async () => {
        const checkout = checkoutWithEnv(await ownerSettings());
        const doctor = startChild('npm', ['run', 'doctor'], { cwd: checkout, env: ownerShellEnv() });
        const code = await doctor.exited;
        const output = doctor.output();

        expect(code, output).toBe(0);
        expect(output).toContain('✅ Settings: valid, from .env and the environment');
        expect(output).toContain('✅ Telegram: @owner_path_bot, privacy mode on');
        expect(output).toMatch(/✅ fal\.ai: key accepted/);
        expect(output).toMatch(
          /✅ Public URL: http:\/\/127\.0\.0\.1:\d+ reaches the doctor, listening where the bot will \(nonce matched\)/,
        );
        expect(output).toContain('Everything configured works.');
        expect(output).not.toContain('❌');
      },
      CHILD_TIMEOUT_MS,
    );

    it(
      'npm start serves Telegram: a member’s /video arrives as a video, then SIGTERM to the bot stops it with exit 0',
      async () => {
        const settings = await ownerSettings();
        const checkout = checkoutWithEnv(settings);
        const bot = startChild('npm', ['start'], { cwd: checkout, env: ownerShellEnv() });
        const ready = await bot.waitFor(/"pid":(\d+).*"msg":"(clipbot ready · [^"]+)"/, CHILD_TIMEOUT_MS);
        expect(ready[2]).toBe(
          `clipbot ready · chats: telegram @owner_path_bot · providers: fal · storage: local (${fs.realpathSync(checkout)}/data/media) · ` +
            `public URL: ${settings.PUBLIC_URL} · webhooks: on`,
        );

        const member = telegram.user({ first_name: 'Ada' });
        telegram.sendText(member, telegram.privateChat(member), '/video a red fox running through snow');
        const sent = await telegram.waitForCall(
          'sendVideo',
          (call) => String(call.params['chat_id']) === String(member.id),
          60_000,
        );
        expect(sent.files['video']!.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');

        // DATA_DIR=./data from .env.example, relative to where the owner ran npm start.
        const jobs = readBotJobs(path.join(checkout, 'data'));
        expect(jobs.map((j) => [j.status, j.prompt])).toEqual([['succeeded', 'a red fox running through snow']]);

        // What a process manager does (npm passes the bot's exit code on).
        process.kill(Number(ready[1]), 'SIGTERM');
        expect(await bot.exited, bot.output()).toBe(0);
      },
      CHILD_TIMEOUT_MS,
    );
  });

  describe('when the owner runs the demo in a checkout whose .env points at their real bot', () => {
    it(
      'npm run demo keeps its own data folder and the console chat: the real DATA_DIR and chats are left alone',
      async () => {
        const checkout = checkoutWithEnv({ ...(await ownerSettings()), DATA_DIR: './owner-data' });
        const callsBefore = telegram.calls.length;
        const demo = startChild('npm', ['run', 'demo', '--', '/balance'], { cwd: checkout, env: ownerShellEnv() });
        expect(await demo.exited, demo.output()).toBe(0);
        expect(demo.output()).toMatch(/> \/balance\nYou have 500 credits\./);
        expect(fs.existsSync(path.join(checkout, 'data', 'demo', 'clipbot.db'))).toBe(true);
        expect(fs.existsSync(path.join(checkout, 'owner-data'))).toBe(false);
        expect(telegram.calls.length).toBe(callsBefore);
      },
      CHILD_TIMEOUT_MS,
    );
  });

  describe('when the real environment sets a variable .env sets too', () => {
    it(
      'the environment wins: a wrong token in .env is overridden by the right one exported in the shell',
      async () => {
        const checkout = checkoutWithEnv({
          ...(await ownerSettings()),
          TELEGRAM_TOKEN: '7012345678:AAHwrongTokenInDotEnv0000000000000',
        });
        const doctor = startChild('npm', ['start', '--', '--check'], {
          cwd: checkout,
          env: ownerShellEnv({ TELEGRAM_TOKEN: telegram.token }),
        });
        expect(await doctor.exited, doctor.output()).toBe(0);
        expect(doctor.output()).toContain('✅ Telegram: @owner_path_bot');
      },
      CHILD_TIMEOUT_MS,
    );
  });

  describe('when the token in .env is wrong', () => {
    it(
      'npm start -- --check exits 1 with the Telegram line saying so',
      async () => {
        const checkout = checkoutWithEnv({
          ...(await ownerSettings()),
          TELEGRAM_TOKEN: '7012345678:AAHwrongTokenInDotEnv0000000000000',
        });
        const doctor = startChild('npm', ['start', '--', '--check'], { cwd: checkout, env: ownerShellEnv() });
        expect(await doctor.exited).toBe(1);
        expect(doctor.output()).toContain(
          '❌ Telegram: TELEGRAM_TOKEN is refused (HTTP 401: Unauthorized) → copy the token again from @BotFather',
        );
        expect(doctor.output()).not.toContain('AAHwrongTokenInDotEnv');
      },
      CHILD_TIMEOUT_MS,
    );
  });
});

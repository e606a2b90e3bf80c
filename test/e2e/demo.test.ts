import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { loadConfig } from '../../src/config.js';
import { MODELS, priceCredits } from '../../src/core/catalog.js';
import { BUILD_TIMEOUT_MS, ensureBuilt } from '../helpers/child.js';
import { tempDir } from '../helpers/db.js';

/**
 * What a newcomer does first, as a newcomer does it: the README's commands run as child processes from the
 * repository root, with no keys and a fresh DATA_DIR. The demo starts its own simulator on 127.0.0.1.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** tsx starts in about a second; a demo video takes the simulator's 7–11 s. */
const CHILD_TIMEOUT_MS = 60_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// npm start runs the compiled bot: build it once here, not inside the first child's start-up time.
beforeAll(() => ensureBuilt(), BUILD_TIMEOUT_MS);

const children = new Set<ChildProcess>();
const dirs: (() => void)[] = [];

afterEach(() => {
  for (const child of children) {
    // Each child leads its own process group (npm → sh → tsx → node): end the whole group.
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  children.clear();
  for (const remove of dirs.splice(0)) remove();
});

function dataDir(): string {
  const { dir, cleanup } = tempDir('clipbot-e2e-');
  dirs.push(cleanup);
  return dir;
}

/** The environment of a newcomer's shell: whatever the test runner has, minus every clipbot setting. */
function newcomerEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(loadConfig({}))) delete env[key];
  return { ...env, ...settings };
}

function run(command: string, args: string[], settings: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: newcomerEnv(settings),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

const demo = (settings: Record<string, string>, ...commands: string[]) =>
  run('npm', ['run', 'demo', '--', ...commands], settings);
const npmStart = (settings: Record<string, string>, ...args: string[]) =>
  run('npm', ['start', ...(args.length ? ['--', ...args] : [])], settings);

/** Our own output, without npm's banner and warnings. */
function withoutNpm(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^npm (warn|notice|error)/.test(line) && !/^> (clipbot@|tsx |node )/.test(line))
    .join('\n')
    .trim();
}

describe('the README first steps', () => {
  describe('when a newcomer runs the demo one-shot', () => {
    it(
      'shows the price, the queue, the progress, then a playable MP4 on disk and its link, and exits 0',
      async () => {
        const dir = dataDir();
        const { code, stdout, stderr } = await demo(
          { DATA_DIR: dir },
          '/video a red fox running through snow',
          '/balance',
        );

        expect(code, stderr).toBe(0);
        expect(stdout).toContain('> /video a red fox running through snow');
        expect(stdout).toContain('Cost: 50 credits');
        expect(stdout).toMatch(/⏳ Queued: (next in line|position \d+ in line)\./);
        const progress = stdout.split('\n').filter((line) => /🎬 [█░]{10} \d+s elapsed/.test(line));
        expect(progress.length).toBeGreaterThanOrEqual(2);

        const file = /^ {3}file: (.+\.mp4) \(\d+ KiB\)$/m.exec(stdout)?.[1];
        const link = /^ {3}link: (http:\/\/127\.0\.0\.1:\d+\/media\/results\/(\w+\.mp4))$/m.exec(stdout);
        expect(file, stdout).toBeDefined();
        expect(link, stdout).not.toBeNull();
        expect(path.relative(dir, file!)).toBe(path.join('media', 'results', link![2]!));
        const bytes = fs.readFileSync(file!);
        expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
        expect(bytes.length).toBeGreaterThan(10 * 1024);

        expect(stdout).toMatch(/✅ Done in \d+s · 50 credits\./);
        expect(stdout).toMatch(/> \/balance\nYou have 450 credits\.\n/);
      },
      CHILD_TIMEOUT_MS,
    );

    describe('when the newcomer confirms a Veo clip, then extends and upscales it', () => {
      it(
        'quotes each expensive step before charging, delivers three playable MP4s and charges exactly what it quoted',
        async () => {
          const dir = dataDir();
          const { code, stdout, stderr } = await demo(
            { DATA_DIR: dir },
            '/video --model veo3.1-fast a red fox running through snow',
            '/confirm',
            '/extend last the fox leaps into a frozen river',
            '/confirm',
            '/upscale last 1080p',
            '/balance',
          );

          expect(code, stderr).toBe(0);
          expect(stdout).toContain('This video costs 160 credits (Veo 3.1 Fast with sound (kie.ai), 8 s, 720p).');
          expect(stdout).toContain('Extending this video costs 160 credits');
          const confirmed = [...stdout.matchAll(/^Confirmed: 160 credits for job (\w+)\.$/gm)].map((m) => m[1]);
          expect(confirmed).toHaveLength(2);
          // The clip offers its follow-ups with their prices, as commands (the console has no buttons).
          expect(stdout).toContain(`   upscale: /upscale ${confirmed[0]} 1080p (32 credits)`);
          expect(stdout).toContain(`   extend: /extend ${confirmed[0]} <what happens next> (160 credits)`);
          // Upscale at 32 credits is under CONFIRM_ABOVE_CREDITS: made at once, at the price its line showed.
          expect(stdout).toMatch(/> \/upscale last 1080p\n.*Cost: 32 credits, held until the video is ready/);

          const files = [...stdout.matchAll(/^ {3}file: (.+\.mp4) \(\d+ KiB\)$/gm)].map((m) => m[1]!);
          expect(files).toHaveLength(3);
          expect(new Set(files).size).toBe(3);
          for (const file of files) expect(fs.readFileSync(file).subarray(4, 8).toString('latin1')).toBe('ftyp');
          expect(files.slice(0, 2).map((f) => path.basename(f, '.mp4'))).toEqual(confirmed);
          expect(stdout).toMatch(/> \/balance\nYou have 148 credits\.\n/);
        },
        CHILD_TIMEOUT_MS * 2,
      );
    });

    describe('when the newcomer tries each of today’s flagship models', () => {
      it(
        'makes a playable MP4 with each, at its own provider’s simulator, and charges each its catalog price',
        async () => {
          const dir = dataDir();
          const flagships = [
            'seedance-2',
            'seedance-2-fast',
            'seedance-2-ark',
            'seedance-2-fast-ark',
            'seedance-1.5-pro-ark',
            'veo3.1-fast',
            'veo3.1',
          ];
          const { code, stdout, stderr } = await demo(
            { DATA_DIR: dir, STARTING_CREDITS: '10000', CONFIRM_ABOVE_CREDITS: '0' },
            ...flagships.map((m) => `/video --model ${m} --resolution 720p a red fox running through snow`),
            '/balance',
          );

          expect(code, stderr).toBe(0);
          const files = [...stdout.matchAll(/^ {3}file: (.+\.mp4) \(\d+ KiB\)$/gm)].map((m) => m[1]!);
          expect(files).toHaveLength(flagships.length);
          for (const file of files) expect(fs.readFileSync(file).subarray(4, 8).toString('latin1')).toBe('ftyp');
          const db = new Database(path.join(dir, 'clipbot.db'), { readonly: true });
          const jobs = db
            .prepare('select model, provider, status, price, params from jobs order by created_at')
            .all() as { model: string; provider: string; status: string; price: number; params: string }[];
          db.close();
          const expected = flagships.map((id) => {
            const model = MODELS.find((m) => m.id === id)!;
            return {
              model: id,
              provider: model.provider,
              status: 'succeeded',
              price: priceCredits(model, { durationS: model.defaultDuration, resolution: '720p', aspectRatio: '16:9' }),
            };
          });
          expect(jobs.map(({ params: _params, ...job }) => job)).toEqual(expected);
          const spent = expected.reduce((sum, job) => sum + job.price, 0);
          expect(stdout).toMatch(new RegExp(`> /balance\\nYou have ${10000 - spent} credits\\.\\n`));
        },
        CHILD_TIMEOUT_MS * 4,
      );
    });

    describe('when the provider’s safety filter rejects the video', () => {
      it(
        'prints the reason in plain words, refunds the credits and exits 1',
        async () => {
          const dir = dataDir();
          const { code, stdout, stderr } = await demo(
            { DATA_DIR: dir },
            '/video [sim:content_policy] a fox',
            '/balance',
          );

          expect(code, stderr).toBe(1);
          expect(stdout).toMatch(
            /Job \w+ failed: The provider’s safety filter rejected the generated video\. Try a different prompt\./,
          );
          expect(stdout).toMatch(/> \/balance\nYou have 500 credits\.\n/);
          expect(stdout).not.toContain('file:');
          expect(stdout).not.toMatch(/ref [0-9a-f]{8}/);
        },
        CHILD_TIMEOUT_MS,
      );
    });
  });

  describe('when a newcomer runs npm start', () => {
    describe('with --console and no provider key', () => {
      it(
        'answers the commands, says no provider is configured for /models, and exits 0',
        async () => {
          const dir = dataDir();
          const { code, stdout, stderr } = await npmStart(
            { DATA_DIR: dir, HTTP_PORT: '0' },
            '--console',
            '/help',
            '/models',
          );

          expect(code, stderr).toBe(0);
          expect(stdout).toMatch(/> \/help\nCommands:\n\/video: /);
          expect(stdout).toMatch(
            /> \/models\nNo video provider is configured yet\. The bot owner needs to set a provider key\./,
          );
        },
        CHILD_TIMEOUT_MS,
      );
    });

    describe('with no platform token and no --console', () => {
      it(
        'exits non-zero, naming DISCORD_TOKEN and TELEGRAM_TOKEN, before creating anything',
        async () => {
          const dir = dataDir();
          const { code, stderr } = await npmStart({ DATA_DIR: dir });

          expect(code).not.toBe(0);
          const message = withoutNpm(stderr);
          expect(message).toContain('DISCORD_TOKEN');
          expect(message).toContain('TELEGRAM_TOKEN');
          expect(message).toContain('--console');
          expect(fs.readdirSync(dir)).toEqual([]);
        },
        CHILD_TIMEOUT_MS,
      );
    });

    describe('with a bad setting', () => {
      it(
        'exits non-zero with one message naming the variable and its value, no stack trace',
        async () => {
          const dir = dataDir();
          const { code, stdout, stderr } = await npmStart({ DATA_DIR: dir, HTTP_PORT: 'abc' });

          expect(code).not.toBe(0);
          const message = withoutNpm(stderr);
          expect(message).toMatch(
            /^Invalid configuration:\n {2}- HTTP_PORT="abc": .+\nSee \.env\.example for every setting\.$/,
          );
          expect(message).not.toMatch(/^\s+at /m);
          expect(withoutNpm(stdout)).toBe('');
          expect(fs.readdirSync(dir)).toEqual([]);
        },
        CHILD_TIMEOUT_MS,
      );
    });
  });
});

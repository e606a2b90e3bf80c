import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeTelegram } from '../fakes/telegram-api.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, killAll, ownerShellEnv, ROOT, startChild } from '../helpers/child.js';
import { tempDir } from '../helpers/db.js';
import { freePort } from '../hostile/world.js';

/**
 * There is no Docker engine on the CI machines, so the image is never built here. What can be checked is that the
 * Dockerfile's own CMD line starts the compiled bot (no TypeScript loader) from the layout the image has, and that
 * its HEALTHCHECK line passes against it: both lines are read from the Dockerfile and run as child processes.
 * The image's ENV is applied, except HTTP_HOST (0.0.0.0 in the image; tests listen on loopback only) and the
 * DATA_DIR and HTTP_PORT of this test.
 */

const DOCKERFILE = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const CHILD_TIMEOUT_MS = 120_000;

/** The exec-form CMD of the final stage, e.g. ["node", "dist/src/main.js"]. */
function dockerCmd(): string[] {
  const lines = DOCKERFILE.split('\n').filter((line) => /^CMD \[/.test(line));
  return JSON.parse(lines.at(-1)!.slice('CMD '.length)) as string[];
}

/** The HEALTHCHECK's shell-form command. */
function healthcheckCmd(): string {
  const match = /HEALTHCHECK[^\n]*\\\n\s*CMD (.+)/.exec(DOCKERFILE);
  return match![1]!;
}

/** The runtime stage's ENV (the last ENV instruction, with its continuation lines). */
function dockerEnv(): Record<string, string> {
  const block = /\nENV ((?:[^\n]*\\\n)*[^\n]*)/g;
  let last = '';
  for (const m of DOCKERFILE.matchAll(block)) last = m[1]!;
  return Object.fromEntries([...last.replace(/\\\n/g, ' ').matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

let telegram: FakeTelegram;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  ensureBuilt();
  telegram = await FakeTelegram.start({ botUsername: 'docker_cmd_bot' });
}, BUILD_TIMEOUT_MS);
afterEach(() => killAll());
afterAll(async () => {
  await telegram.close();
  for (const cleanup of cleanups) cleanup();
});

describe('the Dockerfile', () => {
  it('copies only paths that exist, and runs the compiled entry point without a TypeScript loader', () => {
    for (const m of DOCKERFILE.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of m[1]!.split(' ')) expect(fs.existsSync(path.join(ROOT, source)), source).toBe(true);
    }
    expect(dockerCmd()).toEqual(['node', 'dist/src/main.js']);
    expect(DOCKERFILE).toMatch(/RUN npm run build/);
    expect(dockerCmd().join(' ')).not.toMatch(/tsx|ts-node|\.ts\b/);
  });

  it('carries ffmpeg for Extend on fal: a runtime dependency, checked at build, copied with node_modules', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    // A dependency, not a devDependency: `npm prune --omit=dev` keeps it (and its platform package, e.g. linux-x64).
    expect(pkg.dependencies['@ffmpeg-installer/ffmpeg']).toBeDefined();
    expect(DOCKERFILE).toMatch(/^COPY --from=build \/app\/node_modules \.\/node_modules$/m);
    const check = /^RUN (node -e "require\('node:child_process'\).+@ffmpeg-installer\/ffmpeg.+")$/m.exec(DOCKERFILE);
    expect(check, 'the build checks the ffmpeg binary').not.toBeNull();
    const build = startChild('sh', ['-c', check![1]!], { env: ownerShellEnv() });
    expect(await build.exited, build.output()).toBe(0);
    // The compiled module finds the binary from the image's layout (dist/ beside node_modules/).
    const read = startChild(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const { extractLastFramePng } = await import('./dist/src/media/last-frame.js'); const png = await extractLastFramePng('src/sim/assets/sample-480p.mp4'); console.log(png.readUInt32BE(16), png.readUInt32BE(20));",
      ],
      { env: ownerShellEnv() },
    );
    expect(await read.exited, read.output()).toBe(0);
    expect(read.output().trim()).toBe('854 480');
  });

  describe('when its CMD runs (outside Docker) with a Telegram token', () => {
    it(
      'starts, passes its own HEALTHCHECK, and stops with exit 0 on SIGTERM',
      async () => {
        const { dir, cleanup } = tempDir('clipbot-docker-');
        cleanups.push(cleanup);
        const port = await freePort();
        const env = ownerShellEnv({
          ...dockerEnv(),
          DATA_DIR: dir,
          HTTP_HOST: '127.0.0.1',
          HTTP_PORT: String(port),
          TELEGRAM_TOKEN: telegram.token,
          TELEGRAM_API_ROOT: telegram.apiRoot,
        });
        expect(env['NODE_ENV']).toBe('production');
        const [command, ...args] = dockerCmd();
        const bot = startChild(command!, args, { env });
        await bot.waitFor(
          /"msg":"clipbot ready · chats: telegram @docker_cmd_bot · providers: none · storage: local/,
          CHILD_TIMEOUT_MS,
        );

        const health = startChild('sh', ['-c', healthcheckCmd()], { env });
        expect(await health.exited, health.output()).toBe(0);

        bot.signal('SIGTERM');
        expect(await bot.exited, bot.output()).toBe(0);
        expect(fs.existsSync(path.join(dir, 'clipbot.db'))).toBe(true);
      },
      CHILD_TIMEOUT_MS,
    );
  });
});

/**
 * Start-up cost of the production entry point (issue 12): time from spawn to the "clipbot ready" line, and the
 * resident memory once idle, for the way `npm start` used to run the bot (`tsx src/main.ts`: a tsx parent plus the
 * node it starts, which compiles TypeScript on load) against the compiled one (`node dist/src/main.js`).
 * The bot serves the fake Telegram (long polling, no provider), in a fresh DATA_DIR each run.
 *
 *   node --import tsx bench/start-ready.ts [--runs=5] [--idle-s=5]
 *
 * Needs dist/ (npm run build). RSS is summed over the process tree (tsx's parent included), from /proc.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeTelegram } from '../test/fakes/telegram-api.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const RUNS = arg('runs', 5);
const IDLE_MS = arg('idle-s', 5) * 1000;

const VARIANTS: { name: string; command: string[] }[] = [
  {
    name: 'before: tsx src/main.ts',
    command: [process.execPath, path.join(root, 'node_modules/tsx/dist/cli.mjs'), 'src/main.ts'],
  },
  { name: 'after: node dist/src/main.js', command: [process.execPath, 'dist/src/main.js'] },
];

function treeRssKiB(pid: number): number {
  let total = 0;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    const children = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    for (const child of children ? children.split(' ') : []) total += treeRssKiB(Number(child));
  }
  return total;
}

async function once(command: string[], telegram: FakeTelegram): Promise<{ readyMs: number; rssMiB: number }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clipbot-start-'));
  const started = performance.now();
  const child = spawn(command[0]!, command.slice(1), {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: dataDir,
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      TELEGRAM_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
    },
  });
  try {
    const readyMs = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('clipbot ready')) resolve(performance.now() - started);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code} before ready:\n${out}`)));
    });
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    return { readyMs, rssMiB: treeRssKiB(child.pid!) / 1024 };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const telegram = await FakeTelegram.start();
try {
  console.log(
    `start to ready and idle RSS (${IDLE_MS / 1000} s after ready), ${RUNS} runs each, median; Node ${process.version}, ${os.cpus().length} CPU`,
  );
  for (const variant of VARIANTS) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await once(variant.command, telegram));
    const ready = runs.map((r) => r.readyMs);
    const rss = runs.map((r) => r.rssMiB);
    console.log(
      `${variant.name.padEnd(32)} ready ${median(ready).toFixed(0)} ms (min ${Math.min(...ready).toFixed(0)}, max ${Math.max(...ready).toFixed(0)}) · ` +
        `idle RSS ${median(rss).toFixed(1)} MiB (min ${Math.min(...rss).toFixed(1)}, max ${Math.max(...rss).toFixed(1)})`,
    );
  }
} finally {
  await telegram.close();
}

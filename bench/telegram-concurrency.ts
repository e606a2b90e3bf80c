/**
 * Telegram concurrency benchmark (issue 11, finding 1): how long other chats wait for `/balance` while members'
 * input images trickle in. The whole bot (`startClipbot`, the real grammY with its runner) against the fake Bot
 * API on 127.0.0.1, in one process. First 100 `/balance` from 100 other chats with nothing else going on, then the
 * same while `--trickling` members each have a `/video --image` whose host sends one byte a second.
 * Run with `npx tsx bench/telegram-concurrency.ts [--commands=100] [--trickling=10] [--gap-ms=20]`.
 *
 * The commands arrive `--gap-ms` apart (a busy bot, not one burst); each answer time runs from the moment the
 * update is handed to the bot's long poll to the moment its reply reaches the fake Bot API.
 */
import { readFileSync } from 'node:fs';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/logger.js';
import { startClipbot } from '../src/main.js';
import { SIM_ASSETS } from '../src/sim/assets.js';
import { startFalSimulator } from '../src/sim/fal.js';
import { FakeTelegram, type FakeUser } from '../test/fakes/telegram-api.js';
import { tempDir } from '../test/helpers/db.js';
import { FAST_MODELS } from '../test/helpers/engine-harness.js';
import { publicNetwork, viaPublicName } from '../test/helpers/public-network.js';
import { startTrickleServer } from '../test/helpers/trickle-server.js';
import { numberArg, percentile, report, type BenchRow } from './lib.js';

const commands = numberArg('commands', 100);
const trickling = numberArg('trickling', 10);
const gapMs = numberArg('gap-ms', 20);
const GOAL_P99_MS = 1000;

const fake = await FakeTelegram.start();
const sim = await startFalSimulator();
const trickle = await startTrickleServer(readFileSync(SIM_ASSETS.image));
const { dir, cleanup } = tempDir('clipbot-bench-telegram-');
const config = loadConfig({
  DATA_DIR: dir,
  HTTP_PORT: '0',
  LOG_LEVEL: 'silent',
  FETCH_ALLOW_CIDRS: '127.0.0.0/8',
  FAL_KEY: sim.key,
  FAL_QUEUE_URL: sim.url,
  FAL_JWKS_URL: sim.jwksUrl,
  TELEGRAM_TOKEN: fake.token,
  TELEGRAM_API_ROOT: fake.apiRoot,
  RATE_LIMIT_JOBS: '100',
});
const bot = await startClipbot(config, { logger: silentLogger, models: FAST_MODELS, fetchNetwork: publicNetwork });
try {
  const quiet = await measureBalances('quiet');
  for (let i = 0; i < trickling; i++) {
    const member = fake.user({ first_name: `Slow${i}` });
    fake.sendText(
      member,
      fake.privateChat(member),
      `/video the fox wakes up --image ${viaPublicName(trickle.url())} --resolution 480p`,
    );
  }
  await until(() => trickle.open === trickling, 10_000, `${trickling} trickling downloads to start`);
  const busy = await measureBalances('busy');
  const stillTrickling = trickle.open;

  const row = (sorted: number[]) => `${percentile(sorted, 50).toFixed(1)} ms / ${percentile(sorted, 99).toFixed(1)} ms`;
  const rows: BenchRow[] = [
    {
      scenario: `6 Telegram: /balance answer p50 / p99 while ${trickling} members' images trickle`,
      figure: row(busy),
      comparison: `nobody trickling: ${row(quiet)}`,
      ratio: `${(percentile(busy, 99) / percentile(quiet, 99)).toFixed(1)}× (p99)`,
      goal: 'p99 < 1 s',
      met: percentile(busy, 99) < GOAL_P99_MS,
    },
  ];
  report(
    `Telegram concurrency: ${commands} /balance from other chats, ${gapMs} ms apart, long polling through grammY's runner`,
    rows,
    [
      `downloads still trickling when the last /balance was answered: ${stillTrickling} of ${trickling} (1 byte/s)`,
      `max answer time: nobody trickling ${quiet.at(-1)!.toFixed(1)} ms, ${trickling} trickling ${busy.at(-1)!.toFixed(1)} ms`,
    ],
  );
} finally {
  // Closing the image host fails the trickling downloads, so the bot has nothing left to wait for when it stops.
  await trickle.close();
  await bot.stop();
  await fake.close();
  await sim.close();
  cleanup();
}

/** Sends `commands` /balance from as many new members (their own private chats); returns answer times, ascending. */
async function measureBalances(tag: string): Promise<number[]> {
  const answers: Promise<number>[] = [];
  for (let i = 0; i < commands; i++) {
    const member: FakeUser = fake.user({ first_name: `${tag}${i}` });
    const chatId = String(member.id);
    const reply = fake.waitForCall('sendMessage', (call) => String(call.params['chat_id']) === chatId, 60_000);
    const sent = Date.now();
    fake.sendText(member, fake.privateChat(member), '/balance');
    answers.push(reply.then((call) => call.at - sent));
    if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  return (await Promise.all(answers)).sort((a, b) => a - b);
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

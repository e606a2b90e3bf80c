/**
 * The bot as a child process for the crash suites (test/crash/crash-world.ts): the real composition root
 * (`startClipbot`) on the DATA_DIR (or DATABASE_URL) and simulator the parent's environment names, with a fast catalog.
 *
 * On every start it (re)submits every job of a fixed list with a deterministic intake key, so a restart after
 * a SIGKILL never creates a second job: a key already taken (by this bot before, or by another one on the same
 * database) is answered as a duplicate.
 *
 * The chats are the fake Discord and the fake Telegram the parent runs (test/fakes/), so deliveries are counted
 * where members would see them, across kills: users u00..u09 ask in a Discord channel, u10..u19 in a Telegram group.
 *
 * Protocol on stdout: `STARTED <worker id>` once the bot runs, `SUBMITTED <new> <duplicates>` after the list.
 * SIGTERM stops the bot gracefully and exits 0.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../src/config.js';
import { MODELS, type ModelSpec } from '../../src/core/catalog.js';
import type { VideoRequest } from '../../src/core/engine/intake.js';
import { createLogger } from '../../src/logger.js';
import { startClipbot } from '../../src/main.js';

export const CRASH_USERS = 20;
export const CRASH_JOBS_PER_USER = 10;

export interface CrashJob {
  /** u00..u19 */
  user: string;
  platform: 'discord' | 'telegram';
  /** The user's id on that platform (a Discord snowflake, a Telegram user id). */
  platformUserId: string;
  n: number;
  key: string;
  prompt: string;
}

/** The fixed job list: user u00..u19, n 0..9; every 10th job is flagged by the provider, every 13th fails. */
export function crashJobs(): CrashJob[] {
  const list: CrashJob[] = [];
  for (let n = 0; n < CRASH_JOBS_PER_USER; n++) {
    for (let u = 0; u < CRASH_USERS; u++) {
      const nn = String(u).padStart(2, '0');
      const user = `u${nn}`;
      const platform = u < CRASH_USERS / 2 ? 'discord' : 'telegram';
      const platformUserId = platform === 'discord' ? `3300000000000000${nn}` : `71000${nn}`;
      const i = n * CRASH_USERS + u;
      let prompt = `crash ${user} ${n}: a red fox running through snow`;
      if (i % 10 === 9) prompt += ' [sim:content_policy]';
      else if (i % 13 === 12) prompt += ' [sim:fail]';
      list.push({ user, platform, platformUserId, n, key: `crash:${user}:${n}`, prompt });
    }
  }
  return list;
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const { CRASH_DISCORD_CHANNEL: discordChannel, CRASH_TELEGRAM_CHAT: telegramChat } = process.env;
  if (!discordChannel || !telegramChat) throw new Error('CRASH_DISCORD_CHANNEL and CRASH_TELEGRAM_CHAT must be set');
  const chats = { discord: discordChannel, telegram: telegramChat };
  const models: ModelSpec[] = MODELS.map((m) => ({
    ...m,
    expectedSecondsPer5s: { '480p': 1, '720p': 1, '1080p': 1 },
    ...(m.flat ? { flat: { ...m.flat, expectedSeconds: 1 } } : {}),
    // Long enough that kill/restart cycles never time a job out: this suite is about crashes, not deadlines.
    timeoutSeconds: 600,
  }));
  const logger = createLogger(config.LOG_LEVEL, { write: (line: string) => process.stderr.write(line) });

  const bot = await startClipbot(config, { models, logger });
  let stopping = false;
  process.on('SIGTERM', () => {
    stopping = true;
    void bot.stop().then(() => process.exit(0));
  });
  process.stdout.write(`STARTED ${bot.engine.workerId}\n`);

  let fresh = 0;
  let duplicates = 0;
  const began = Date.now();
  // Where in the list this child starts (CRASH_FIRST_JOB, wrapping round): bots side by side each begin with a part
  // of their own, as bots behind one load balancer get different requests, and meet only where one catches up.
  const list = crashJobs();
  const first = Number(process.env.CRASH_FIRST_JOB ?? 0) % list.length;
  for (const job of [...list.slice(first), ...list.slice(0, first)]) {
    // Chat commands arrive as separate events; without this yield the loop would run on microtasks alone
    // and starve the engine's I/O (its submits) until the whole list was taken in.
    await new Promise((resolve) => setImmediate(resolve));
    const request: VideoRequest = {
      identity: { platform: job.platform, platformUserId: job.platformUserId },
      dest: { platform: job.platform, chatId: chats[job.platform], userId: job.platformUserId },
      intakeKey: job.key,
      prompt: job.prompt,
      modelId: 'seedance-1-pro',
      options: { resolution: '480p', duration: 5 },
    };
    // Stopped halfway through the list (the suite is done): the bot refuses new requests while it stops.
    const result = stopping
      ? undefined
      : await bot.engine.submitVideo(request).catch((error: unknown) => (stopping ? undefined : Promise.reject(error)));
    if (!result) return;
    if (result.duplicate) duplicates++;
    else fresh++;
  }
  process.stdout.write(`SUBMITTED ${fresh} ${duplicates} ${Date.now() - began}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `bot-child failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}

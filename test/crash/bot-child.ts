/**
 * The bot as a child process for the crash suite (test/crash/crash.test.ts): the real composition root
 * (`startClipbot`) on the DATA_DIR and simulator the parent's environment names, with a fast catalog.
 *
 * On every start it (re)submits every job of a fixed list with a deterministic intake key, so a restart after
 * a SIGKILL never creates a second job: a key already taken is answered as a duplicate.
 *
 * The console platform is the chat: its output goes to a stream that appends each delivered file line to
 * `CRASH_DELIVERIES_FILE` with one synchronous write, so the parent can count deliveries per job across kills.
 *
 * Protocol on stdout: `STARTED` once the bot runs, `SUBMITTED <new> <duplicates>` after the list.
 * SIGTERM stops the bot gracefully and exits 0.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { MODELS, type ModelSpec } from '../../src/core/catalog.js';
import type { VideoRequest } from '../../src/core/engine/intake.js';
import { createLogger } from '../../src/logger.js';
import { startClipbot } from '../../src/main.js';

export const CRASH_USERS = 20;
export const CRASH_JOBS_PER_USER = 10;

/** The fixed job list: user u00..u19, n 0..9; every 10th job is flagged by the provider, every 13th fails. */
export function crashJobs(): { user: string; n: number; key: string; prompt: string }[] {
  const list: { user: string; n: number; key: string; prompt: string }[] = [];
  for (let n = 0; n < CRASH_JOBS_PER_USER; n++) {
    for (let u = 0; u < CRASH_USERS; u++) {
      const user = `u${String(u).padStart(2, '0')}`;
      const i = n * CRASH_USERS + u;
      let prompt = `crash ${user} ${n}: a red fox running through snow`;
      if (i % 10 === 9) prompt += ' [sim:content_policy]';
      else if (i % 13 === 12) prompt += ' [sim:fail]';
      list.push({ user, n, key: `crash:${user}:${n}`, prompt });
    }
  }
  return list;
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const deliveriesFile = process.env.CRASH_DELIVERIES_FILE;
  if (!deliveriesFile) throw new Error('CRASH_DELIVERIES_FILE is not set');
  const models: ModelSpec[] = MODELS.map((m) => ({
    ...m,
    expectedSecondsPer5s: { '480p': 1, '720p': 1, '1080p': 1 },
    ...(m.flat ? { flat: { ...m.flat, expectedSeconds: 1 } } : {}),
    // Long enough that kill/restart cycles never time a job out: this suite is about crashes, not deadlines.
    timeoutSeconds: 600,
  }));
  const logger = createLogger(config.LOG_LEVEL, { write: (line: string) => process.stderr.write(line) });

  // Console output: keep only the delivery's `file:` line, appended with one write(2) so a kill never
  // leaves half a record.
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        const m = /^\s+file: .*results[/\\]([\w-]+)\.\w+ /.exec(line);
        if (m) fs.appendFileSync(deliveriesFile, `${m[1]}\n`);
      }
      callback();
    },
  });

  const bot = await startClipbot(config, { models, logger, console: { commands: ['/quit'], output } });
  process.on('SIGTERM', () => {
    void bot.stop().then(() => process.exit(0));
  });
  process.stdout.write('STARTED\n');

  let fresh = 0;
  let duplicates = 0;
  const began = Date.now();
  for (const job of crashJobs()) {
    // Chat commands arrive as separate events; without this yield the loop would run on microtasks alone
    // and starve the engine's I/O (its submits) until the whole list was taken in.
    await new Promise((resolve) => setImmediate(resolve));
    const request: VideoRequest = {
      identity: { platform: 'console', platformUserId: job.user },
      dest: { platform: 'console', chatId: `chat-${job.user}`, userId: job.user },
      intakeKey: job.key,
      prompt: job.prompt,
      modelId: 'seedance-1-pro',
      options: { resolution: '480p', duration: 5 },
    };
    const result = await bot.engine.submitVideo(request);
    if (result.duplicate) duplicates++;
    else fresh++;
  }
  process.stdout.write(`SUBMITTED ${fresh} ${duplicates} ${Date.now() - began}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`bot-child failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}

import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot } from '../../src/main.js';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { balanceIn, userIn } from '../helpers/bot-db.js';
import { tempDir } from '../helpers/db.js';
import { FAST_MODELS } from '../helpers/engine-harness.js';
import { botTestStore, type BotStore } from '../helpers/test-store.js';

/**
 * Quote and Confirm on the console, which has no buttons: the quote names `/confirm <id>` and `/dropquote <id>`, and
 * either without an id acts on the latest quote. The whole bot (`startClipbot`) runs the console one-shot.
 */

const STARTING = 200;

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function world(): Promise<{
  run: (...lines: string[]) => Promise<{ code: number; text: string }>;
  store: BotStore;
  sim: FalSimulator;
}> {
  const sim = await startFalSimulator({ queueMs: 20, runMs: 50 });
  const { dir, cleanup } = tempDir('clipbot-quote-console-');
  const store = await botTestStore(dir);
  cleanups.push(async () => {
    await store.release();
    await sim.close();
    cleanup();
  });
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
    CONFIRM_ABOVE_CREDITS: '45',
  });
  const run = async (...lines: string[]) => {
    const output = new PassThrough();
    let text = '';
    output.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    const bot = await startClipbot(config, {
      logger: silentLogger,
      models: FAST_MODELS,
      console: { commands: lines, output },
    });
    const code = await bot.consoleDone!;
    await bot.stop();
    return { code, text };
  };
  return { run, store, sim };
}

const balance = async (store: BotStore) => {
  const user = await userIn(store.rows, 'console', 'local');
  return user ? balanceIn(store.rows, user.id) : STARTING;
};

describe('the console: quote and confirm', () => {
  it('quotes above the threshold and makes the video on /confirm, charged once', async () => {
    const w = await world();
    const { code, text } = await w.run('/video a red fox', '/confirm', '/confirm');
    expect(text).toMatch(/This video costs 50 credits .* Confirm within 2 minutes/);
    expect(text).toMatch(/Type \/confirm q[a-z0-9]+ to go ahead, or \/dropquote q[a-z0-9]+ to cancel\./);
    const jobs = await w.store.rows.jobs();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ status: 'succeeded', price: 50 });
    expect(text).toContain(`Confirmed: 50 credits for job ${jobs[0]!.id}.`);
    expect(text).toContain(`Already confirmed as job ${jobs[0]!.id}.`);
    expect(code).toBe(1);
    expect(await balance(w.store)).toBe(STARTING - 50);
  });

  it('holds nothing after /dropquote, and a later /confirm of that quote makes nothing', async () => {
    const w = await world();
    const { text } = await w.run('/video a red fox', '/dropquote', '/confirm');
    expect(text).toContain('Cancelled; nothing was charged.');
    expect(text).toContain('This quote was cancelled; nothing was charged.');
    expect(await w.store.rows.jobs()).toEqual([]);
    expect(await balance(w.store)).toBe(STARTING);
  });

  it('makes a video below the threshold at once', async () => {
    const w = await world();
    const { code } = await w.run('/video a red fox --resolution 480p');
    expect(code).toBe(0);
    expect(await w.store.rows.jobs()).toHaveLength(1);
  });

  it('explains /confirm with nothing to confirm', async () => {
    const w = await world();
    const { code, text } = await w.run('/confirm', '/confirm not-a-quote');
    expect(code).toBe(1);
    expect(text).toContain('Usage: /confirm <quote id>');
  });
});

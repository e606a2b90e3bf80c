import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { jobs } from '../../db/schema.js';
import { startWorld, until, videoRequest, type World } from './world.js';

/**
 * Issue 11, finding 2, from the side of a member who floods: a moderation call is slow work too, and one member's
 * burst must not turn into a burst of calls to the operator's moderation endpoint (which may bill per call).
 */

let world: World | undefined;
let moderation: HeldModeration | undefined;
afterEach(async () => {
  moderation?.release();
  await world?.close();
  await moderation?.close();
  world = undefined;
  moderation = undefined;
});

describe('a member flooding /video', () => {
  describe('when every prompt goes to an LLM moderation endpoint that answers slowly', () => {
    it('makes at most USER_MAX_INTAKE_IN_PROGRESS calls for that member, refuses the rest plainly, and still serves others', async () => {
      moderation = await startHeldModeration();
      const w = (world = await startWorld({
        env: { MODERATION_URL: moderation.url, MODERATION_TIMEOUT_MS: '60000', USER_MAX_INTAKE_IN_PROGRESS: '2' },
      }));
      const flood = Array.from({ length: 10 }, (_, n) =>
        w.bot.engine.submitVideo(videoRequest('seedance-1-pro', `a red fox, take ${n}`, 'mallory')).then(
          (r) => r.job.id,
          (error: unknown) => error as Error & { identifier?: string },
        ),
      );
      await until('two moderation calls', () => moderation!.calls === 2);
      const other = w.bot.engine.submitVideo(videoRequest('seedance-1-pro', 'a blue whale', 'ann'));
      await until('ann’s moderation call', () => moderation!.calls === 3);

      moderation.release();
      const outcomes = await Promise.all(flood);
      const refused = outcomes.filter((o): o is Error & { identifier?: string } => typeof o !== 'string');
      expect(refused).toHaveLength(8);
      expect(new Set(refused.map((e) => e.identifier))).toEqual(new Set(['intake_busy_user']));
      expect(refused[0]!.message).toBe(
        'I am still preparing your other 2 requests (downloading the image, checking the prompt). Wait for them to be queued, then try again.',
      );
      expect((await other).duplicate).toBe(false);
      expect(moderation.calls).toBe(3);
      expect(w.db.select().from(jobs).all()).toHaveLength(3);
    });
  });
});

describe('the configuration', () => {
  it('refuses MAX_INTAKE_IN_PROGRESS at or above TELEGRAM_MAX_CONCURRENT_UPDATES: slow downloads could hold every Telegram handler', () => {
    const env = { TELEGRAM_TOKEN: '1:x', MAX_INTAKE_IN_PROGRESS: '64', TELEGRAM_MAX_CONCURRENT_UPDATES: '64' };
    expect(() => loadConfig(env)).toThrow(/MAX_INTAKE_IN_PROGRESS: must be below TELEGRAM_MAX_CONCURRENT_UPDATES/);
    expect(loadConfig({ ...env, MAX_INTAKE_IN_PROGRESS: '63' }).MAX_INTAKE_IN_PROGRESS).toBe(63);
  });
});

interface HeldModeration {
  url: string;
  readonly calls: number;
  /** Answers every held call (and later ones at once): not flagged. */
  release(): void;
  close(): Promise<void>;
}

/** An OpenAI-compatible /v1/moderations on 127.0.0.1 that holds each call until released. */
async function startHeldModeration(): Promise<HeldModeration> {
  let calls = 0;
  let released = false;
  const held: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    calls++;
    req.resume();
    const answer = () =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ results: [{ flagged: false, categories: {} }] }));
    if (released) answer();
    else held.push(answer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get calls() {
      return calls;
    },
    release() {
      released = true;
      for (const answer of held.splice(0)) answer();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

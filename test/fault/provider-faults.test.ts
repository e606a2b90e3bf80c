import { describe, expect, it } from 'vitest';
import type { FalSimFault, FalSimFaultOptions, FalSimRoute } from '../../src/sim/fal.js';
import { FAST_MODELS, FAST_RETRY, type EngineHarness } from '../helpers/engine-harness.js';
import { expectOutcome, failed, harnessPerTest, storedFiles, succeeded } from './outcome.js';

/**
 * Provider faults, through the real engine, the real fal adapter and the fal simulator over HTTP (SQLite and media on
 * disk): 429 storms, 5xx bursts, hangs, malformed and cut-off answers, broken result files. Every case checks the
 * job's final state, the exact words the member saw, and the ledger (see outcome.ts).
 *
 * The harness retries 4 times with 20–200 ms backoff, so a storm that outlasts the retries is over in moments;
 * a Retry-After of 1 s is honoured as it would be in production.
 */

const BUSY = 'The provider is too busy right now. Please try again in a few minutes.';
const SERVICE_FAILED = 'The video service failed to generate this video.';
const TOO_SLOW = 'The provider took too long to generate the video.';
const STORM = 1000;
/** Attempts per step under the harness's retry policy. */
const ATTEMPTS = FAST_RETRY.maxAttempts;

const harness = harnessPerTest();

/** Every call of `route` the simulator received, answered or not (its stats count only calls it acted on). */
const callsTo = (h: EngineHarness, route: FalSimRoute) => h.sim.calls.filter((c) => c.route === route);

/** A passing fault: the engine asks again and the video is made, delivered and charged once. */
async function expectRecovery(fault: FalSimFault, options: FalSimFaultOptions, prompt: string): Promise<void> {
  const h = await harness();
  h.sim.injectFault(fault, options);
  const job = await h.submit('ann', prompt);

  await expectOutcome(h, job, succeeded);
  expect(h.sim.stats.submissions).toBe(1);
}

/** Milliseconds between consecutive calls of `route`. */
function gapsBetween(h: EngineHarness, route: FalSimRoute): number[] {
  const at = callsTo(h, route).map((c) => c.at);
  return at.slice(1).map((time, i) => time - at[i]!);
}

describe('provider faults', () => {
  describe('when fal answers 429 at submit for longer than the retries last', () => {
    it.each([
      ['with Retry-After: 1', { retryAfter: '1' }],
      ['without Retry-After', {}],
    ])('%s: fails as busy after a bounded number of tries and refunds', async (_what, header) => {
      const h = await harness();
      h.sim.injectFault({ kind: 'rate_limit', ...header }, { routes: 'submit', times: STORM });
      const job = await h.submit('ann', 'a fox in a 429 storm');

      await expectOutcome(h, job, failed('rate_limit', BUSY));
      expect(callsTo(h, 'submit')).toHaveLength(ATTEMPTS);
      expect(h.sim.stats.submissions).toBe(0);
    });
  });

  describe('when a 429 storm at submit ends before the retries run out', () => {
    it('waits as long as Retry-After says between tries, then submits once and charges once', async () => {
      const h = await harness();
      h.sim.injectFault({ kind: 'rate_limit', retryAfter: '1' }, { routes: 'submit', times: 2 });
      const job = await h.submit('ann', 'a fox after the storm');

      await expectOutcome(h, job, succeeded);
      expect(callsTo(h, 'submit').map((c) => c.status)).toEqual([429, 429, 200]);
      expect(h.sim.stats.submissions).toBe(1);
      // A lower bound only: the bot may wait longer on a busy machine, never shorter.
      for (const gap of gapsBetween(h, 'submit')) expect(gap).toBeGreaterThanOrEqual(950);
    });
  });

  describe('when fal answers 5xx', () => {
    const BURSTS: [string, FalSimFault, FalSimFaultOptions][] = [
      ['503s at submit', { kind: 'server_error', status: 503 }, { routes: 'submit', times: 3 }],
      ['gateway HTML pages at submit', { kind: 'html', status: 502 }, { routes: 'submit', times: 2 }],
      ['502s on status checks', { kind: 'server_error', status: 502 }, { routes: 'status', times: 3 }],
      ['gateway HTML pages on the result read', { kind: 'html', status: 504 }, { routes: 'result', times: 2 }],
    ];
    it.each(BURSTS)('retries a burst of %s, then delivers once, submitted and charged once', (_what, fault, options) =>
      expectRecovery(fault, options, 'a fox through a 5xx burst'),
    );

    it('fails with a plain reason and refunds when 503s at submit outlast the retries', async () => {
      const h = await harness();
      h.sim.injectFault({ kind: 'server_error', status: 503 }, { routes: 'submit', times: STORM });
      const job = await h.submit('ann', 'a fox behind a dead gateway');

      await expectOutcome(h, job, failed('transient', SERVICE_FAILED));
      expect(callsTo(h, 'submit')).toHaveLength(ATTEMPTS);
    });
  });

  describe('when fal never answers', () => {
    it('times the submit out, asks again, and makes the video once', async () => {
      const h = await harness({ falTimeoutMs: 1000 });
      h.sim.injectFault({ kind: 'hang' }, { routes: 'submit' });
      const job = await h.submit('ann', 'a fox behind a hung submit');

      await expectOutcome(h, job, succeeded);
      expect(callsTo(h, 'submit').map((c) => c.status)).toEqual([0, 200]);
      expect(h.sim.stats.submissions).toBe(1);
    });

    it('keeps timing status checks out until the model deadline, then cancels at fal and refunds', async () => {
      const h = await harness({ falTimeoutMs: 1000, models: FAST_MODELS.map((m) => ({ ...m, timeoutSeconds: 3 })) });
      h.sim.injectFault({ kind: 'hang' }, { routes: 'status', times: STORM });
      const job = await h.submit('ann', 'a fox behind hung status checks');

      await expectOutcome(h, job, failed('timeout', TOO_SLOW));
      const checks = callsTo(h, 'status');
      expect(checks.length).toBeGreaterThanOrEqual(2);
      expect(checks.every((c) => c.status === 0)).toBe(true);
      expect(h.sim.stats.cancelCalls).toBe(1);
    });

    it('gives up on a generation that never finishes at the model deadline, cancels it and refunds', async () => {
      const h = await harness({ models: FAST_MODELS.map((m) => ({ ...m, timeoutSeconds: 2 })) });
      const job = await h.submit('ann', '[sim:hang] a fox that never renders');

      await expectOutcome(h, job, failed('timeout', TOO_SLOW));
      expect(h.sim.stats.cancelCalls).toBe(1);
    });
  });

  describe('when fal answers with a malformed or truncated body', () => {
    const GLITCHES: [string, FalSimFault, FalSimFaultOptions][] = [
      ['malformed JSON at submit', { kind: 'malformed' }, { routes: 'submit' }],
      ['a truncated submit answer (nothing was created)', { kind: 'truncated' }, { routes: 'submit' }],
      ['a submit answer cut off mid-body', { kind: 'cut_body' }, { routes: 'submit' }],
      ['malformed JSON on two status checks', { kind: 'malformed' }, { routes: 'status', times: 2 }],
      ['truncated JSON on two status checks', { kind: 'truncated' }, { routes: 'status', times: 2 }],
      ['a truncated result read', { kind: 'truncated' }, { routes: 'result' }],
    ];
    it.each(GLITCHES)('asks again after %s, and makes, delivers and charges the video once', (_what, fault, options) =>
      expectRecovery(fault, options, 'a fox through a glitch'),
    );

    it('fails and refunds when every status check is malformed, after a bounded number of checks', async () => {
      const h = await harness();
      h.sim.injectFault({ kind: 'malformed' }, { routes: 'status', times: STORM });
      const job = await h.submit('ann', 'a fox behind a broken status page');

      await expectOutcome(h, job, failed('malformed', SERVICE_FAILED));
      expect(callsTo(h, 'status')).toHaveLength(ATTEMPTS);
    });

    it('asks again when the submit answer is cut after fal made the request: one job, one charge, one delivery', async () => {
      const h = await harness();
      h.sim.injectFault({ kind: 'truncated' }, { routes: 'submit', phase: 'after' });
      const job = await h.submit('ann', 'a fox whose submit answer was cut');

      await expectOutcome(h, job, succeeded);
      // The bot never learnt the first request's id, so it cannot track or cancel it: fal is left with an orphan.
      expect(h.sim.stats.submissions).toBe(2);
      const { providerTaskId } = await h.job(job.id);
      expect(h.sim.requests().filter((r) => r.id === providerTaskId)).toHaveLength(1);
    });
  });

  describe('when the result file is broken', () => {
    it('downloads again after the video was cut off mid-download, and stores and delivers it once', async () => {
      const h = await harness();
      h.sim.injectFault({ kind: 'cut_body' }, { routes: 'files', phase: 'after' });
      const job = await h.submit('ann', 'a fox cut short once');

      await expectOutcome(h, job, succeeded);
      expect(callsTo(h, 'files')).toHaveLength(2);
      expect(storedFiles(h, job.id)).toEqual({ result: [`${job.id}.mp4`], temp: [] });
    });

    it('fails and refunds, keeping no partial file, when every download is cut off', async () => {
      const h = await harness();
      h.sim.injectFault({ kind: 'cut_body' }, { routes: 'files', phase: 'after', times: STORM });
      const job = await h.submit('ann', 'a fox always cut short');

      await expectOutcome(
        h,
        job,
        failed('media_network', 'The generated video could not be downloaded from the provider.'),
      );
      expect(callsTo(h, 'files')).toHaveLength(ATTEMPTS);
      expect(storedFiles(h, job.id)).toEqual({ result: [], temp: [] });
    });

    it('fails at once and refunds when the video URL serves an HTML page labelled video/mp4', async () => {
      const h = await harness();
      const job = await h.submit('ann', '[sim:html_video] a fox');

      await expectOutcome(h, job, failed('media_bad_type', 'The provider returned something that is not a video.'));
      expect(callsTo(h, 'files')).toHaveLength(1);
      expect(storedFiles(h, job.id)).toEqual({ result: [], temp: [] });
    });
  });
});

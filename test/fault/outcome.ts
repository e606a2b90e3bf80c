import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, expect, vi } from 'vitest';
import type { Job } from '../../db/schema.js';
import { balanceOf } from '../../src/core/credits/ledger.js';
import { EngineHarness, type HarnessOptions } from '../helpers/engine-harness.js';
import { expectJobLedger } from '../helpers/ledger.js';

/**
 * What every fault case of the engine-harness suites ends with: the right job state, the right words for the
 * member, and a balanced ledger.
 */

/** The harness's starting credits. */
export const STARTING = 200;

/** For a test file: starts a harness (over `defaults`) for the current test and closes it after the test. */
export function harnessPerTest(defaults: HarnessOptions = {}): (options?: HarnessOptions) => Promise<EngineHarness> {
  let current: EngineHarness | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return async (options = {}) => (current = await EngineHarness.start({ ...defaults, ...options }));
}

export type Outcome = { status: 'succeeded' } | { status: 'failed'; errorKind: string; reason: string };

/** A failed outcome; `reason` is the exact sentence the member reads. */
export const failed = (errorKind: string, reason: string): Outcome => ({ status: 'failed', errorKind, reason });
export const succeeded: Outcome = { status: 'succeeded' };

/**
 * Waits for the job to end, then checks all three:
 * - state: the final status, and the error kind when it failed;
 * - words: the status message's last text, plus the delivery (success) or the failure notice (failure), exactly;
 * - money: one hold and one settlement for the job, and the member's balance charged on success, whole on failure.
 */
export async function expectOutcome(t: EngineHarness, job: Job, want: Outcome): Promise<Job> {
  const done = await t.engine.waitForJob(job.id);
  expectState(done, want);

  const lastStatus = () => t.platform.textsFor(job.id).at(-1);
  const delivered = () => t.platform.deliveries.filter((d) => d.delivery.jobId === job.id).map((d) => d.delivery.text);
  const notices = () => t.platform.notices.filter((n) => n.text.includes(job.id)).map((n) => n.text);
  // Status edits go out through the coalescer, a moment after the job is final.
  if (want.status === 'succeeded') {
    await vi.waitFor(() => expect(lastStatus()).toMatch(doneStatusText(job)), WAIT);
    expect(delivered()).toEqual([`Your video is ready: ${job.prompt}`]);
    expect(notices()).toEqual([]);
  } else {
    await vi.waitFor(() => expect(lastStatus()).toBe(failedStatusText(job, want.reason)), WAIT);
    expect(done.errorMessage).toBe(want.reason);
    expect(notices()).toEqual([failureNoticeText(job, want.reason)]);
    expect(delivered()).toEqual([]);
  }

  await expectJobLedger(t.rows, done);
  expect(await balanceOf(t.db, job.userId)).toBe(STARTING - (want.status === 'succeeded' ? job.price : 0));
  return done;
}

/** The job's final status, and its error kind when it failed. */
export function expectState(job: Job, want: Outcome): void {
  expect({ status: job.status, errorKind: job.errorKind }).toEqual({
    status: want.status,
    errorKind: want.status === 'failed' ? want.errorKind : null,
  });
}

/** A succeeded job's last status text (the generation time varies). */
export const doneStatusText = (job: Job) =>
  new RegExp(`^${escapeRegExp(`“${job.prompt}”`)}\\n✅ Done in \\d+s · ${job.price} credits\\.$`);

const asSentence = (reason: string) => (/[.!?…)]$/.test(reason) ? reason : `${reason}.`);

/** A failed job's last status text; the status ends the reason as a sentence. */
export const failedStatusText = (job: Job, reason: string) =>
  `“${job.prompt}”\n❌ Failed: ${asSentence(reason)}\nYour ${job.price} credits were returned.`;

/** The notice a member gets when a job fails; it too ends the reason as a sentence. */
export const failureNoticeText = (job: Job, reason: string) =>
  `Job ${job.id} failed: ${asSentence(reason)} ${job.price} credits refunded.`;

/** Files left in the media store: the job's result (if any) and whatever sits in its temp directory. */
export function storedFiles(t: EngineHarness, jobId: string): { result: string[]; temp: string[] } {
  const media = path.join(t.dir, 'media');
  const list = (dir: string) => (existsSync(dir) && statSync(dir).isDirectory() ? readdirSync(dir) : []);
  return {
    result: list(path.join(media, 'results')).filter((f) => f.startsWith(jobId)),
    temp: list(path.join(media, '.tmp')),
  };
}

const WAIT = { timeout: 5000, interval: 20 };

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

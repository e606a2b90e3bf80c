import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { Job } from '../../db/schema.js';
import { MODELS } from '../../src/core/catalog.js';
import { pruneWebhookDeliveries } from '../../src/core/webhook-deliveries.js';
import type { EngineHarness, HarnessOptions } from '../helpers/engine-harness.js';
import { harnessPerTest } from '../fault/outcome.js';
import { tempDir } from '../helpers/db.js';
import { openTestStore } from '../helpers/test-store.js';

/**
 * Forged provider callbacks and what they may cost (issue 11, finding 4). Ark callbacks are never signed, nor are
 * kie's without an HMAC key, so anyone can post them. Whatever they claim and however many come, a job gets at most
 * one status read per interval from callbacks, none during a backoff, and nothing is stored for them; signed
 * deliveries are stored once, never for a finished job, and forgotten after 7 days.
 */

// The real catalog's expected durations (a minute and more): the safety-net poll then stays out of the way, so every
// status read a test sees is one the callbacks caused.
const harness = harnessPerTest({ webhooks: true, models: MODELS });

const rows = async (h: EngineHarness, jobId?: string) =>
  (await h.rows.webhookDeliveries()).filter((d) => jobId === undefined || d.jobId === jobId);
const arkStatusReads = (h: EngineHarness) => h.ark!.calls.filter((c) => c.route === 'get').length;

function post(
  h: EngineHarness,
  provider: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<number> {
  return fetch(`${h.serverUrl}/webhooks/${provider}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  }).then((r) => r.status);
}

async function runningTask(h: EngineHarness, job: Job): Promise<string> {
  await vi.waitFor(
    async () => expect(await h.job(job.id)).toMatchObject({ status: 'running', providerTaskId: expect.any(String) }),
    { timeout: 5000, interval: 20 },
  );
  return (await h.job(job.id)).providerTaskId!;
}

async function arkJob(options: HarnessOptions = {}) {
  const h = await harness({ ark: {}, ...options });
  const job = await h.submit('ann', '[sim:hang] a fox', { modelId: 'seedance-1-pro-ark' });
  const taskId = await runningTask(h, job);
  await h.ark!.webhooksSettled();
  return { h, job, taskId };
}

/** Each forgery varies every field the sender chooses, so none is a byte-for-byte repeat of another. */
const ARK_CLAIMS = ['succeeded', 'failed', 'expired', 'cancelled'];
const forgedArk = (taskId: string, i: number) => ({
  id: taskId,
  status: ARK_CLAIMS[i % ARK_CLAIMS.length],
  updated_at: 1_700_000_000 + i,
  content: { video_url: `https://evil.example/${i}.mp4` },
});

describe('forged callbacks', () => {
  describe('when 300 unsigned Ark callbacks claim the job finished', () => {
    it('cost one status read, store nothing, and move nothing', async () => {
      // An interval longer than the test, so the one read it allows cannot be mistaken for the next interval's.
      const { h, job, taskId } = await arkJob({ settings: { callbackWakeIntervalMs: 60_000 } });
      const before = arkStatusReads(h);
      const statuses = await Promise.all(Array.from({ length: 300 }, (_, i) => post(h, 'ark', forgedArk(taskId, i))));
      expect(statuses.every((s) => s === 200)).toBe(true);
      await vi.waitFor(() => expect(arkStatusReads(h)).toBe(before + 1), { timeout: 3000, interval: 20 });
      expect(arkStatusReads(h)).toBe(before + 1);
      expect(await rows(h)).toEqual([]);
      expect((await h.job(job.id)).status).toBe('running');
    });
  });

  describe('when kie has no HMAC key and 300 callbacks vary the code', () => {
    it('cost one record-info read and store nothing', async () => {
      const h = await harness({ kie: {}, settings: { callbackWakeIntervalMs: 60_000 } });
      const job = await h.submit('ann', '[sim:hang] a fox', { modelId: 'veo3-fast', options: {} });
      const taskId = await runningTask(h, job);
      await h.kie!.webhooksSettled();
      const before = h.kie!.stats.recordInfoCalls;
      const bodies = Array.from({ length: 300 }, (_, i) => ({
        code: 200 + i,
        msg: 'success',
        data: { taskId, info: { resultUrls: [`https://evil.example/${i}.mp4`] } },
      }));
      const statuses = await Promise.all(bodies.map((b) => post(h, 'kie', b)));
      expect(statuses.every((s) => s === 200)).toBe(true);
      await vi.waitFor(() => expect(h.kie!.stats.recordInfoCalls).toBe(before + 1), { timeout: 3000, interval: 20 });
      expect(await rows(h)).toEqual([]);
      expect((await h.job(job.id)).status).toBe('running');
    });
  });

  describe('when callbacks keep coming within one interval', () => {
    it('fold into one more status read at the end of the interval', async () => {
      const { h, job, taskId } = await arkJob({ settings: { callbackWakeIntervalMs: 3000 } });
      const before = arkStatusReads(h);
      const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) => post(h, 'ark', forgedArk(taskId, i))));
      expect(statuses.every((s) => s === 200)).toBe(true);
      await vi.waitFor(() => expect(arkStatusReads(h)).toBe(before + 1), { timeout: 2000, interval: 20 });
      await vi.waitFor(() => expect(arkStatusReads(h)).toBe(before + 2), { timeout: 6000, interval: 50 });
      expect((await h.job(job.id)).status).toBe('running');
    });
  });

  describe('when the runner is backing off after a 429', () => {
    it('no callback cuts the backoff short', async () => {
      // No interval at all, so only the backoff rule can hold the callbacks back.
      const { h, taskId } = await arkJob({ settings: { callbackWakeIntervalMs: 0 } });
      h.ark!.injectFault({ kind: 'rate_limit', retryAfter: '30' }, { routes: 'get', times: 100 });
      const before = arkStatusReads(h);
      // The first callback wakes the runner; its status read meets the 429 and it backs off for 30 s.
      expect(await post(h, 'ark', forgedArk(taskId, 0))).toBe(200);
      await vi.waitFor(() => expect(arkStatusReads(h)).toBe(before + 1), { timeout: 3000, interval: 20 });
      await vi.waitFor(() => expect(h.ark!.calls.filter((c) => c.route === 'get').at(-1)?.status).toBe(429), {
        timeout: 3000,
        interval: 20,
      });
      for (let i = 1; i <= 50; i++) expect(await post(h, 'ark', forgedArk(taskId, i))).toBe(200);
      // Give any (wrongful) wake the time to turn into a request.
      await h.ark!.webhooksSettled();
      await new Promise((resolve) => setImmediate(resolve));
      await vi.waitFor(() => expect(arkStatusReads(h)).toBe(before + 1), { timeout: 500, interval: 50 });
      expect(arkStatusReads(h)).toBe(before + 1);
    });
  });

  describe('when a signed callback comes for a finished job', () => {
    it('is acknowledged and stores nothing', async () => {
      const h = await harness();
      const job = await h.submit('ann', 'a fox');
      expect((await h.engine.waitForJob(job.id)).status).toBe('succeeded');
      await h.sim.webhooksSettled();
      const stored = (await rows(h, job.id)).length;
      const taskId = (await h.job(job.id)).providerTaskId!;
      const late = JSON.stringify({
        request_id: taskId,
        gateway_request_id: taskId,
        status: 'ERROR',
        error: 'Invalid status code: 500',
        payload: null,
      });
      const res = await fetch(`${h.serverUrl}/webhooks/fal`, {
        method: 'POST',
        body: late,
        headers: { 'content-type': 'application/json', ...h.sim.signWebhook(late, { requestId: taskId }) },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, ignored: 'job finished' });
      expect(await rows(h, job.id)).toHaveLength(stored);
    });
  });
});

describe('pruneWebhookDeliveries', () => {
  it('forgets deliveries older than 7 days and keeps the rest', async () => {
    const { dir, cleanup } = tempDir();
    onTestFinished(cleanup);
    const t = await openTestStore(dir);
    onTestFinished(() => t.cleanup());
    const store = t.store;
    const now = 1_800_000_000_000;
    const day = 86_400_000;
    await store.webhookDeliveries.record({ provider: 'fal', deliveryId: 'old:OK', jobId: 'j1' }, now - 8 * day);
    await store.webhookDeliveries.record(
      { provider: 'kie', deliveryId: 'just-over:1', jobId: 'j2' },
      now - 7 * day - 1,
    );
    await store.webhookDeliveries.record({ provider: 'fal', deliveryId: 'recent:OK', jobId: 'j3' }, now - 6 * day);
    expect(await pruneWebhookDeliveries(store, { now: () => now })).toBe(2);
    expect((await t.rows.webhookDeliveries()).map((r) => r.deliveryId)).toEqual(['recent:OK']);
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { Job } from '../../db/schema.js';
import { signFalWebhook } from '../../src/sim/fal.js';
import type { EngineHarness } from '../helpers/engine-harness.js';
import { expectOutcome, harnessPerTest, succeeded } from './outcome.js';

/**
 * Webhook faults, through the real engine and the bot's own HTTP server: fal callbacks signed with Ed25519 (keys
 * from the simulator's JWKS), kie callbacks signed with HMAC, Ark's unsigned status callbacks. Callbacks lost,
 * duplicated, reordered and forged all end with the right job state, the exact words the member saw, and a
 * balanced ledger (see outcome.ts). Polling stays on as the safety net: with webhooks, the first check after the
 * one at submit comes at twice the expected time (2 s here).
 */

const KIE_HMAC = 'kie-hmac-key-for-fault-tests';

const harness = harnessPerTest({ webhooks: true });

/** The callbacks the engine recorded (and so acted on) for the job: one per distinct delivery. */
const recorded = async (h: EngineHarness, jobId: string) =>
  (await h.rows.webhookDeliveries()).filter((d) => d.jobId === jobId);

function postWebhook(
  h: EngineHarness,
  provider: string,
  body: string,
  headers: Record<string, string>,
): Promise<Response> {
  return fetch(`${h.serverUrl}/webhooks/${provider}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

async function runningTask(h: EngineHarness, job: Job): Promise<string> {
  await vi.waitFor(
    async () => expect(await h.job(job.id)).toMatchObject({ status: 'running', providerTaskId: expect.any(String) }),
    { timeout: 5000, interval: 20 },
  );
  return (await h.job(job.id)).providerTaskId!;
}

const falBody = (requestId: string, status: 'OK' | 'ERROR', payload: unknown) =>
  JSON.stringify({
    request_id: requestId,
    gateway_request_id: requestId,
    status,
    ...(status === 'ERROR' ? { error: 'Invalid status code: 500' } : {}),
    payload,
  });

describe('webhook faults', () => {
  describe('fal (Ed25519-signed callbacks)', () => {
    it('lost: finishes on the safety-net poll when the callback never comes', async () => {
      const h = await harness();
      const job = await h.submit('ann', '[sim:no_webhook] a fox');

      await expectOutcome(h, job, succeeded);
      expect(h.sim.stats.webhookAttempts).toBe(0);
      // With webhooks on nothing polls routinely: the one status call is the safety net's.
      expect(h.sim.stats.statusCalls).toBeGreaterThanOrEqual(1);
    });

    it('duplicated: acts on the first of three copies and acknowledges the others', async () => {
      const h = await harness({ sim: { webhookDuplicates: 2 } });
      const job = await h.submit('ann', 'a fox called back three times');

      await expectOutcome(h, job, succeeded);
      await h.sim.webhooksSettled();
      expect(h.sim.webhookDeliveries.map((d) => d.status)).toEqual([200, 200, 200]);
      expect(await recorded(h, job.id)).toHaveLength(1);
      // The job finished on the callback, without a single status check.
      expect(h.sim.stats.statusCalls).toBe(0);
    });

    it('reordered: a late failure callback after the job succeeded does not move it back', async () => {
      const h = await harness();
      const job = await h.submit('ann', 'a fox, then a stale failure');
      await expectOutcome(h, job, succeeded);

      const taskId = (await h.job(job.id)).providerTaskId!;
      const late = falBody(taskId, 'ERROR', {
        detail: [{ loc: ['body'], msg: 'Internal server error', type: 'internal_server_error' }],
      });
      expect((await postWebhook(h, 'fal', late, h.sim.signWebhook(late, { requestId: taskId }))).status).toBe(200);

      await expectOutcome(h, job, succeeded);
      expect(h.platform.deliveries).toHaveLength(1);
    });

    it('reordered: a callback that overtakes the submit answer is acknowledged, and the job finishes by polling', async () => {
      const h = await harness();
      // fal makes the request at once and finishes it in ~110 ms; its answer to the submit comes 600 ms later.
      h.sim.injectFault({ kind: 'slow', delayMs: 600 }, { routes: 'submit', phase: 'after' });
      const job = await h.submit('ann', 'a fox faster than its own receipt');

      await expectOutcome(h, job, succeeded);
      await h.sim.webhooksSettled();
      expect(h.sim.webhookDeliveries.map((d) => d.status)).toEqual([200]);
      // The task id was not known yet when it came: nothing was recorded, so nothing blocks a later copy either.
      expect(await recorded(h, job.id)).toEqual([]);
      expect(h.sim.stats.submissions).toBe(1);
    });

    it('forged: answers 401 to a callback fal did not sign, and the job goes on to finish for real', async () => {
      const h = await harness();
      const job = await h.submit('ann', '[sim:hang] a fox someone tries to spoof');
      const taskId = await runningTask(h, job);

      const attacker = generateKeyPairSync('ed25519').privateKey;
      const forged = falBody(taskId, 'OK', { video: { url: 'http://127.0.0.1:9/evil.mp4' } });
      const headers = signFalWebhook(attacker, forged, {
        requestId: taskId,
        userId: h.sim.userId,
        timestampS: Math.floor(Date.now() / 1000),
      });
      expect((await postWebhook(h, 'fal', forged, headers)).status).toBe(401);
      expect((await h.job(job.id)).status).toBe('running');
      expect(await recorded(h, job.id)).toEqual([]);

      h.sim.complete(taskId);
      const done = await expectOutcome(h, job, succeeded);
      expect(done.resultUrl).toBe(`${h.sim.url}/files/${taskId}/output.mp4`);
    });
  });

  describe('kie (HMAC-signed callbacks)', () => {
    const veo = { modelId: 'veo3-fast', options: {} };

    it('lost: finishes on the safety-net poll', async () => {
      const h = await harness({ kie: { hmacKey: KIE_HMAC } });
      const job = await h.submit('ann', '[sim:no_webhook] a fox', veo);

      await expectOutcome(h, job, succeeded);
      expect(h.kie!.stats.webhookAttempts).toBe(0);
    });

    it('duplicated: records one callback and finishes once', async () => {
      const h = await harness({ kie: { hmacKey: KIE_HMAC } });
      const job = await h.submit('ann', '[sim:dup_webhook] a fox', veo);

      await expectOutcome(h, job, succeeded);
      await h.kie!.webhooksSettled();
      expect(h.kie!.webhookDeliveries.map((d) => d.status)).toEqual([200, 200]);
      expect(await recorded(h, job.id)).toHaveLength(1);
    });

    it('forged: refuses every callback signed with the wrong key, and the job still finishes by polling', async () => {
      const h = await harness({ kie: { hmacKey: KIE_HMAC, webhookSigning: 'forged', webhookRetries: 0 } });
      const job = await h.submit('ann', 'a fox with forged callbacks', veo);

      await expectOutcome(h, job, succeeded);
      await h.kie!.webhooksSettled();
      expect(h.kie!.webhookDeliveries.map((d) => d.status)).toEqual([401]);
      expect(await recorded(h, job.id)).toEqual([]);
    });
  });

  describe('Ark (unsigned status callbacks, re-checked by polling)', () => {
    it('reordered: stale "queued" and "running" callbacks after the final one do not move the job back', async () => {
      const h = await harness({ ark: { callbackOrder: 'final_first' } });
      const job = await h.submit('ann', 'a fox with callbacks out of order', { modelId: 'seedance-1-pro-ark' });

      await expectOutcome(h, job, succeeded);
      await h.ark!.webhooksSettled();
      const reported = h.ark!.webhookDeliveries.map((d) => d.taskStatus);
      expect(reported[0]).toBe('succeeded');
      expect(reported.slice(1)).toEqual(expect.arrayContaining(['running']));
      expect(h.ark!.webhookDeliveries.every((d) => d.status === 200)).toBe(true);

      await expectOutcome(h, job, succeeded);
      expect(h.platform.deliveries).toHaveLength(1);
    });
  });
});

import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { moveJob, patchJob } from '../../src/core/engine/job-state.js';
import { MediaError, UserError } from '../../src/core/errors.js';
import { createLogger } from '../../src/logger.js';
import type { JobDestination, ResultDelivery } from '../../src/core/ports.js';
import { EngineHarness, FAST_MODELS, RecordingPlatform } from '../helpers/engine-harness.js';
import { publicNetwork, viaPublicName } from '../helpers/public-network.js';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function harness(options: Parameters<typeof EngineHarness.start>[0] = {}) {
  h = await EngineHarness.start(options);
  return h;
}

describe('the job engine', () => {
  describe('when a member asks for a video', () => {
    it('generates, stores, delivers once and captures the hold', async () => {
      const t = await harness();
      const job = await t.submit('ann', 'a red fox running through snow');
      expect(await t.balance('ann')).toBe(160);
      const done = await t.engine.waitForJob(job.id);

      expect(done.status).toBe('succeeded');
      expect(await t.balance('ann')).toBe(160);
      expect((await t.ledgerFor(job.id)).map((e) => e.kind).sort()).toEqual(['capture', 'hold']);
      expect(t.platform.deliveries).toHaveLength(1);
      const delivered = t.platform.deliveries[0]!.delivery;
      const bytes = fs.readFileSync(delivered.localPath!);
      expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      expect(delivered.media.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/media\/results\/.+\.mp4$/);
      expect(t.sim.stats.submissionsByJobId.get(job.id)).toBe(1);
    });

    it('shows the price and the queue position first, then progress, then the end', async () => {
      const t = await harness();
      const job = await t.submit('ann', 'a fox');
      await t.engine.waitForJob(job.id);
      const texts = t.platform.textsFor(job.id);
      expect(texts[0]).toMatch(/50 credits|40 credits/);
      expect(texts[0]).toMatch(/[Qq]ueue|next in line/);
      expect(texts.at(-1)).toMatch(/Done/);
    });

    it('sends the provider the parameters it asked for', async () => {
      const t = await harness();
      const job = await t.submit('ann', 'a fox', {
        options: { resolution: '720p', duration: 3, seed: 42, aspect: '9:16', cameraFixed: true },
      });
      await t.engine.waitForJob(job.id);
      const input = t.sim.requests()[0]!.input;
      expect(input).toMatchObject({
        prompt: 'a fox',
        resolution: '720p',
        duration: '3',
        seed: 42,
        aspect_ratio: '9:16',
        camera_fixed: true,
      });
    });
  });

  describe('when the provider rejects the job', () => {
    it.each([
      ['[sim:content_policy] a fox', /safety filter rejected the generated video/],
      ['[sim:content_policy_input] a fox', /safety filter rejected the prompt/],
      ['[sim:fail] a fox', /failed to generate/],
      ['[sim:expired_video] a fox', /could no longer be downloaded/],
      ['[sim:html_video] a fox', /not a video/],
      ['[sim:bad_video_url] a fox', /failed to generate/],
    ])('fails %s with a plain reason and refunds it', async (prompt, reason) => {
      const t = await harness();
      const job = await t.submit('ann', prompt);
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('failed');
      expect(done.errorMessage).toMatch(reason);
      expect(await t.balance('ann')).toBe(200);
      expect((await t.ledgerFor(job.id)).map((e) => e.kind).sort()).toEqual(['hold', 'release']);
      expect(t.platform.deliveries).toHaveLength(0);
      expect(t.platform.notices.at(-1)!.text).toMatch(/refunded/);
    });
  });

  describe('when the provider is briefly overloaded', () => {
    it('retries a 429 and a 503 at submit and submits once', async () => {
      const t = await harness();
      const job = await t.submit('ann', '[sim:rate_limit:1] [sim:server_error:1] a fox');
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(t.sim.stats.submissions).toBe(1);
      expect((await t.job(job.id)).attempts).toBeGreaterThanOrEqual(2);
    });

    it('keeps tracking through failed status checks', async () => {
      const t = await harness();
      t.sim.injectFault({ kind: 'server_error', status: 502 }, { routes: 'status', times: 2 });
      t.sim.injectFault({ kind: 'malformed' }, { routes: 'status', times: 1 });
      const job = await t.submit('ann', 'a fox');
      expect((await t.engine.waitForJob(job.id)).status).toBe('succeeded');
    });

    it('fails and refunds once the retries are used up', async () => {
      const t = await harness();
      const job = await t.submit('ann', '[sim:server_error:9] a fox');
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('failed');
      expect(await t.balance('ann')).toBe(200);
    });
  });

  describe('when the provider never finishes', () => {
    it('gives up at the model timeout, cancels at the provider and refunds', async () => {
      const t = await harness({ models: FAST_MODELS.map((m) => ({ ...m, timeoutSeconds: 1 })) });
      const job = await t.submit('ann', '[sim:hang] a fox');
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('failed');
      expect(done.errorKind).toBe('timeout');
      expect(t.sim.stats.cancelCalls).toBe(1);
      expect(await t.balance('ann')).toBe(200);
    });
  });

  describe('when the member cancels', () => {
    it('refunds a queued job that never reached the provider', async () => {
      const t = await harness({ settings: { maxRunningJobs: 1 } });
      const first = await t.submit('ann', '[sim:hang] first');
      const second = await t.submit('ann', 'second');
      const userId = (await t.job(second.id)).userId;
      await t.engine.cancel(second.id, { userId, moderator: false });
      expect((await t.job(second.id)).status).toBe('cancelled');
      expect((await t.job(second.id)).providerTaskId).toBeNull();
      expect(await t.balance('ann')).toBe(200 - 40);
      await t.engine.cancel(first.id, { userId, moderator: false });
      expect(await t.balance('ann')).toBe(200);
    });

    it('cancels a running job at the provider too', async () => {
      const t = await harness();
      const job = await t.submit('ann', '[sim:hang] a fox');
      await until(async () => (await t.job(job.id)).status === 'running');
      await t.engine.cancel(job.id, { userId: (await t.job(job.id)).userId, moderator: false });
      expect(t.sim.stats.cancelCalls).toBe(1);
      expect(await t.balance('ann')).toBe(200);
    });

    it('refuses to cancel someone else’s job', async () => {
      const t = await harness();
      const job = await t.submit('ann', '[sim:hang] a fox');
      await t.submit('bob', 'mine');
      const bob = (await t.job(job.id)).userId + 1;
      await expect(t.engine.cancel(job.id, { userId: bob, moderator: false })).rejects.toThrow(UserError);
      expect((await t.job(job.id)).status).not.toBe('cancelled');
    });
  });

  describe('when the bot crashes while a job runs', () => {
    it('resumes tracking the same task after restart, never resubmits, delivers once', async () => {
      const t = await harness({ sim: { runMs: 600 } });
      const job = await t.submit('ann', 'a fox');
      await until(async () => (await t.job(job.id)).status === 'running');
      await t.crash();
      await t.boot();
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(t.sim.stats.submissions).toBe(1);
      expect(t.platform.deliveries).toHaveLength(1);
      expect((await t.ledgerFor(job.id)).map((e) => e.kind).sort()).toEqual(['capture', 'hold']);
      // The status message posted before the crash is the one edited after it.
      expect(t.platform.posts.filter((p) => p.view.jobId === job.id)).toHaveLength(1);
    });

    it('resumes a job stored under a model’s former id (veo3-fast, now veo3.1-fast) and finishes it', async () => {
      const t = await harness({ kie: { queueMs: 0, runMs: 600 } });
      const job = await t.submit('ann', 'a fox', { modelId: 'veo3.1-fast', options: {} });
      expect(job.model).toBe('veo3.1-fast');
      await until(async () => (await t.job(job.id)).status === 'running');
      await t.crash();
      // What an older clipbot left: the same job under the id the catalog had then.
      const db = await t.reopenStore();
      expect(await patchJob(db, { now: () => Date.now() }, job.id, 'running', { model: 'veo3-fast' })).toBe(true);
      await db.close();
      await t.boot();
      const done = await t.engine.waitForJob(job.id);
      expect(done).toMatchObject({ status: 'succeeded', model: 'veo3-fast' });
      expect(t.kie!.stats.submissions).toBe(1);
      expect((await t.ledgerFor(job.id)).map((e) => e.kind).sort()).toEqual(['capture', 'hold']);
    });

    it('resumes queued jobs and settles each exactly once', async () => {
      const t = await harness({ settings: { maxRunningJobs: 1 }, sim: { runMs: 150 } });
      const ids = [];
      for (const user of ['ann', 'bob', 'cat']) ids.push((await t.submit(user, `a fox for ${user}`)).id);
      await t.crash();
      await t.boot();
      for (const id of ids) expect((await t.engine.waitForJob(id)).status).toBe('succeeded');
      for (const id of ids) expect(await t.ledgerFor(id)).toHaveLength(2);
      expect(t.sim.stats.submissions).toBe(3);
    });
  });

  describe('when the bot is asked to stop while a submit is in flight', () => {
    it('lets the submit finish and saves its task id, so the restarted bot tracks it without resubmitting', async () => {
      const t = await harness({ sim: { runMs: 300 } });
      t.sim.injectFault({ kind: 'slow', delayMs: 400 }, { routes: 'submit', phase: 'after' });
      const job = await t.submit('ann', 'a fox');
      await until(() => t.sim.stats.submitCalls === 1);
      await t.engine.stop(5000);
      expect((await t.job(job.id)).status).toBe('running');
      expect((await t.job(job.id)).providerTaskId).toBeTruthy();
      await t.crash();
      await t.boot();
      expect((await t.engine.waitForJob(job.id)).status).toBe('succeeded');
      expect(t.sim.stats.submissions).toBe(1);
    });
  });

  describe('when another worker takes the job over while the runner waits to retry its submit', () => {
    it('submits nothing more: the runner stands down and leaves the job to the worker that holds it now', async () => {
      const logs: string[] = [];
      const t = await harness({
        settings: { retry: { maxAttempts: 4, baseMs: 300, maxMs: 300 } },
        logger: createLogger('debug', { write: (line: string) => void logs.push(line) }),
      });
      t.sim.injectFault({ kind: 'server_error', status: 503 }, { routes: 'submit' });
      const job = await t.submit('ann', 'a fox');
      await until(() => logs.some((l) => l.includes('transient failure; retrying')));
      // This process stalled past its lease (as far as the others can tell): another worker takes the job over.
      const taken = await t.db.jobs.takeOver('other-worker', Date.now() + 3_600_000, 10);
      expect(taken.map((j) => j.id)).toEqual([job.id]);
      await until(() => logs.some((l) => l.includes('this runner stands down')));
      // Not sent again, nor sent and then cancelled as unwanted: the worker that holds the job submits it.
      expect(t.sim.stats).toMatchObject({ submissions: 0, cancelCalls: 0 });
      expect(await t.job(job.id)).toMatchObject({
        status: 'submitting',
        workerId: 'other-worker',
        leaseEpoch: taken[0]!.leaseEpoch,
        providerTaskId: null,
      });
    });
  });

  describe('when another worker takes the job over while the runner waits to retry its delivery', () => {
    it('posts nothing: the runner stands down and leaves the delivery to the worker that holds the job now', async () => {
      const logs: string[] = [];
      const platform = new (class extends RecordingPlatform {
        failures = 1;
        override async deliver(dest: JobDestination, delivery: ResultDelivery): Promise<{ ref: string }> {
          if (this.failures-- > 0) throw new MediaError('network', 'the chat did not answer');
          return super.deliver(dest, delivery);
        }
      })();
      const t = await harness({
        platform,
        settings: { retry: { maxAttempts: 4, baseMs: 300, maxMs: 300 } },
        logger: createLogger('debug', { write: (line: string) => void logs.push(line) }),
      });
      const job = await t.submit('ann', 'a fox');
      await until(() =>
        logs.some((l) => l.includes('transient failure; retrying') && l.includes('"step":"delivering"')),
      );
      const taken = await t.db.jobs.takeOver('other-worker', Date.now() + 3_600_000, 10);
      expect(taken.map((j) => j.id)).toEqual([job.id]);
      await until(() => logs.some((l) => l.includes('this runner stands down')));
      expect(platform.deliveries).toEqual([]);
      expect(await t.job(job.id)).toMatchObject({ status: 'delivering', workerId: 'other-worker', deliveredAt: null });
    });
  });

  describe('when the bot crashed after the provider finished', () => {
    async function crashedAt(step: 'fetching' | 'delivering' | 'delivered') {
      const t = await harness({ sim: { runMs: 60_000 } });
      const job = await t.submit('ann', 'a fox');
      await until(async () => (await t.job(job.id)).status === 'running');
      await t.crash();
      // What a process killed mid-step leaves behind, written as the runner would have written it.
      const db = await t.reopenStore();
      const clock = { now: () => Date.now() };
      const taskId = (await db.jobs.get(job.id))!.providerTaskId!;
      t.sim.complete(taskId);
      const videoUrl = `${t.sim.url.replace(/\/$/, '')}/files/${taskId}/output.mp4`;
      await moveJob(db, clock, job.id, 'running', 'fetching', { resultUrl: videoUrl, providerDoneAt: Date.now() });
      if (step !== 'fetching') {
        fs.mkdirSync(`${t.dir}/media/results`, { recursive: true });
        fs.copyFileSync(
          new URL('../../src/sim/assets/sample-480p.mp4', import.meta.url),
          `${t.dir}/media/results/${job.id}.mp4`,
        );
        await moveJob(db, clock, job.id, 'fetching', 'delivering', {
          mediaKey: `results/${job.id}.mp4`,
          mediaBytes: 1,
        });
      }
      if (step === 'delivered')
        await patchJob(db, clock, job.id, 'delivering', { deliveredAt: Date.now(), deliveryRef: 'before-crash' });
      await db.close();
      await t.boot();
      return { t, job: await t.engine.waitForJob(job.id) };
    }

    it('fetches again after a crash while fetching, and delivers once', async () => {
      const { t, job } = await crashedAt('fetching');
      expect(job.status).toBe('succeeded');
      expect(t.platform.deliveries).toHaveLength(1);
      expect(t.sim.stats.submissions).toBe(1);
    });

    it('delivers what was stored after a crash while delivering', async () => {
      const { t, job } = await crashedAt('delivering');
      expect(job.status).toBe('succeeded');
      expect(t.platform.deliveries).toHaveLength(1);
    });

    it('never delivers twice after a crash between delivering and settling', async () => {
      const { t, job } = await crashedAt('delivered');
      expect(job.status).toBe('succeeded');
      expect(job.deliveryRef).toBe('before-crash');
      expect(t.platform.deliveries).toHaveLength(0);
      expect((await t.ledgerFor(job.id)).map((e) => e.kind).sort()).toEqual(['capture', 'hold']);
    });
  });

  describe('when one member queues many jobs and another asks for one', () => {
    it('starts the newcomer’s job before the first member’s second', async () => {
      const t = await harness({ settings: { maxRunningJobs: 1 }, sim: { runMs: 40 } });
      const annJobs = [];
      for (let i = 0; i < 4; i++) annJobs.push((await t.submit('ann', `ann ${i}`)).id);
      const bob = (await t.submit('bob', 'bob 0')).id;
      for (const id of [...annJobs, bob]) await t.engine.waitForJob(id);
      const submittedAt = new Map<string, number>();
      for (const id of [...annJobs, bob]) submittedAt.set(id, (await t.job(id)).submittedAt!);
      const started = [...annJobs, bob].sort((a, b) => submittedAt.get(a)! - submittedAt.get(b)!);
      expect(started.indexOf(bob)).toBeLessThanOrEqual(1);
    });
  });

  describe('when a member’s backlog waits behind their own running job', () => {
    it('starts another member’s job at once, and the backlog one by one as each ends', async () => {
      const t = await harness({ settings: { maxRunningJobs: 10, userMaxRunningJobs: 1 }, sim: { runMs: 40 } });
      const first = await t.submit('ann', '[sim:hang] ann 0');
      const backlog = [(await t.submit('ann', 'ann 1')).id, (await t.submit('ann', 'ann 2')).id];
      const bob = await t.submit('bob', 'bob 0');
      expect((await t.job(first.id)).status).not.toBe('queued');
      expect((await t.job(bob.id)).status).not.toBe('queued');
      for (const id of backlog) expect((await t.job(id)).status).toBe('queued');
      await t.engine.cancel(first.id, { userId: first.userId, moderator: false });
      for (const id of backlog) expect((await t.engine.waitForJob(id)).status).toBe('succeeded');
    });
  });

  describe('when webhooks are on', () => {
    it('finishes on the signed callback and ignores its duplicate', async () => {
      const t = await harness({ webhooks: true, sim: { runMs: 100 } });
      const job = await t.submit('ann', '[sim:dup_webhook] a fox');
      const done = await t.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      await t.sim.webhooksSettled();
      expect(t.sim.webhookDeliveries.filter((d) => d.status === 200).length).toBeGreaterThanOrEqual(2);
      // The safety-net poll is a minute away: the job finished on the webhook alone.
      expect(t.sim.stats.statusCalls).toBeLessThanOrEqual(1);
      expect(t.platform.deliveries).toHaveLength(1);
    });
  });

  describe('when someone posts to the webhook route', () => {
    async function post(t: EngineHarness, body: string, headers: Record<string, string>) {
      return fetch(`${t.serverUrl}/webhooks/fal`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
    }

    it('answers 401 to a forged or tampered callback and leaves the job alone', async () => {
      const t = await harness({ webhooks: true });
      const job = await t.submit('ann', '[sim:hang] a fox');
      await until(async () => (await t.job(job.id)).status === 'running');
      const taskId = (await t.job(job.id)).providerTaskId!;
      const body = JSON.stringify({
        request_id: taskId,
        gateway_request_id: taskId,
        status: 'OK',
        payload: { video: { url: 'http://127.0.0.1:1/evil.mp4' } },
      });
      const headers = t.sim.signWebhook(body, { requestId: taskId });
      expect((await post(t, body.replace('evil', 'evil2'), headers)).status).toBe(401);
      expect((await post(t, body, { ...headers, 'x-fal-webhook-signature': 'ab'.repeat(64) })).status).toBe(401);
      expect((await post(t, body, {})).status).toBe(401);
      expect((await t.job(job.id)).status).toBe('running');
    });

    it('acknowledges a genuine callback for a task it does not know, and ignores it', async () => {
      const t = await harness({ webhooks: true });
      const body = JSON.stringify({
        request_id: 'unknown-task',
        gateway_request_id: 'unknown-task',
        status: 'OK',
        payload: { video: { url: 'http://127.0.0.1:1/x.mp4' } },
      });
      const response = await post(t, body, t.sim.signWebhook(body, { requestId: 'unknown-task' }));
      expect(response.status).toBe(200);
      expect(await t.jobCount()).toBe(0);
    });
  });

  describe('when the requester presses Retry', () => {
    it('runs the same prompt and options again with a new seed, charged as a new job', async () => {
      const t = await harness();
      const first = await t.submit('ann', 'a fox', { options: { resolution: '480p', duration: 4, seed: 7 } });
      await t.engine.waitForJob(first.id);
      const again = await t.engine.retry(first.id, t.request('ann', 'ignored'));
      expect((await t.engine.waitForJob(again.job.id)).status).toBe('succeeded');
      const [a, b] = t.sim.requests().map((r) => r.input);
      expect(b).toMatchObject({ prompt: 'a fox', resolution: '480p', duration: '4' });
      expect(b!.seed).not.toBe(a!.seed);
      expect(await t.balance('ann')).toBe(200 - 32 - 32);
    });

    it('refuses anyone but the requester', async () => {
      const t = await harness();
      const first = await t.submit('ann', 'a fox');
      await t.engine.waitForJob(first.id);
      await expect(t.engine.retry(first.id, t.request('bob', 'x'))).rejects.toThrow(/Only the person who asked/);
      expect(await t.jobCount()).toBe(1);
    });
  });

  describe('when the same update arrives twice', () => {
    it('creates one job and one hold', async () => {
      const t = await harness();
      const request = t.request('ann', 'a fox');
      const first = await t.engine.submitVideo(request);
      const second = await t.engine.submitVideo(request);
      expect(second.duplicate).toBe(true);
      expect(second.job.id).toBe(first.job.id);
      expect(await t.jobCount()).toBe(1);
      expect(await t.balance('ann')).toBe(160);
    });
  });

  describe('when the request is refused at intake', () => {
    it.each([
      ['an empty prompt', { prompt: '   ' }],
      ['an unknown model', { modelId: 'nope' }],
      ['a duration the model lacks', { options: { duration: 60 } }],
      ['a private image address', { imageUrl: 'http://10.0.0.1/cat.png' }],
      ['a metadata image address', { imageUrl: 'http://169.254.169.254/latest' }],
    ])('refuses %s without a job, a charge or a file', async (_name, extra) => {
      const t = await harness();
      await expect(t.submit('ann', 'a fox', extra as never)).rejects.toThrow(UserError);
      expect(await t.jobCount()).toBe(0);
      expect(await t.holdCount()).toBe(0);
      expect(t.sim.stats.submitCalls).toBe(0);
      const media = `${t.dir}/media`;
      const files = fs.existsSync(media)
        ? fs.readdirSync(media, { recursive: true }).filter((f) => !String(f).startsWith('.tmp'))
        : [];
      expect(files.filter((f) => String(f).includes('.'))).toEqual([]);
    });

    it('refuses a blocked prompt and says which rule class, not the term', async () => {
      const t = await harness({ blocklist: ['forbiddenword'] });
      const error = await t.submit('ann', 'a F0RB1DD3N-W0RD fox').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).message).not.toMatch(/forbidden/i);
      expect(await t.jobCount()).toBe(0);
    });

    it('refuses a member who cannot pay', async () => {
      const t = await harness({ settings: { startingCredits: 30 } });
      await expect(t.submit('ann', 'a fox')).rejects.toThrow(/costs 40 credits and you have 30/);
      expect(await t.jobCount()).toBe(0);
    });

    it('refuses past the rate limit', async () => {
      const t = await harness({ settings: { rateLimitJobs: 2, userMaxPendingJobs: 5 } });
      await t.submit('ann', '[sim:hang] one');
      await t.submit('ann', '[sim:hang] two');
      await expect(t.submit('ann', 'three')).rejects.toThrow(/You can start 2 videos every/);
      expect(await t.jobCount()).toBe(2);
    });

    it('refuses more unfinished jobs than the pending cap', async () => {
      const t = await harness({ settings: { userMaxPendingJobs: 1 } });
      await t.submit('ann', '[sim:hang] one');
      await expect(t.submit('ann', 'two')).rejects.toThrow(/already have 1 video in progress/);
      expect(await t.balance('ann')).toBe(160);
    });

    it('refuses past the spend cap', async () => {
      const t = await harness({ settings: { budgetDailyUsd: 0.2 } });
      await t.submit('ann', '[sim:hang] one');
      await expect(t.submit('bob', 'two')).rejects.toThrow(/spending limit/);
    });
  });

  describe('when given an image', () => {
    it('re-hosts it and sends the provider our copy, never the user’s URL', async () => {
      const t = await harness({ fetcher: publicNetwork });
      const png = fs.readFileSync(new URL('../../src/sim/assets/input-64.png', import.meta.url));
      const { createServer } = await import('node:http');
      const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(png));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      try {
        const job = await t.submit('ann', 'animate this', {
          imageUrl: viaPublicName(`http://127.0.0.1:${port}/secret-token/cat.png`),
        });
        expect((await t.engine.waitForJob(job.id)).status).toBe('succeeded');
        const input = t.sim.requests()[0]!.input as { image_url: string };
        expect(input.image_url).not.toContain('secret-token');
        expect(input.image_url.startsWith('data:image/png;base64,')).toBe(true);
        expect(t.sim.requests()[0]!.model).toMatch(/image-to-video$/);
      } finally {
        server.close();
      }
    });
  });
});

async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

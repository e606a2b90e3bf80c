import { generateKeyPairSync } from 'node:crypto';
import { request } from 'undici';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { MODELS, priceCredits, priceUsd, resolveParams } from '../../src/core/catalog.js';
import { WebhookAuthError } from '../../src/core/errors.js';
import type { GenerationRequest, WebhookRequest } from '../../src/core/ports.js';
import {
  createFalProvider,
  parseFalModelId,
  type FalProvider,
  type FalProviderOptions,
} from '../../src/providers/fal.js';
import {
  FAL_SIM_ASSETS,
  FAL_SIM_MARKERS,
  FAL_SIM_MODELS,
  signFalWebhook,
  startFalSimulator,
  type FalSimFault,
  type FalSimOptions,
  type FalSimRoute,
  type FalSimulator,
} from '../../src/sim/fal.js';
import {
  createTestClock,
  DEFAULT_TEST_PARAMS,
  describeVideoProviderConformance,
  expectProviderError,
  pollUntilFinal,
  type ConformanceHarness,
  type ConformanceSetupOptions,
  type ProviderOperation,
  type TestClock,
} from './conformance.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

const seedance1 = MODELS.find((m) => m.id === 'seedance-1-pro')!;
const seedance15 = MODELS.find((m) => m.id === 'seedance-1.5-pro')!;
const T2V = seedance1.providerModels.textToVideo;
const I2V = seedance1.providerModels.imageToVideo;
const T2V_15 = seedance15.providerModels.textToVideo;
const seedance2 = MODELS.find((m) => m.id === 'seedance-2')!;
const seedance2Fast = MODELS.find((m) => m.id === 'seedance-2-fast')!;
const T2V_2 = seedance2.providerModels.textToVideo;
const I2V_2 = seedance2.providerModels.imageToVideo;
const T2V_2_FAST = seedance2Fast.providerModels.textToVideo;
const I2V_2_FAST = seedance2Fast.providerModels.imageToVideo;
const FAL_MODELS = MODELS.filter((m) => m.provider === 'fal');

const OPERATION_ROUTES: Record<ProviderOperation, FalSimRoute[]> = {
  submit: ['submit'],
  status: ['status'],
  cancel: ['cancel'],
};

interface FalHarness extends ConformanceHarness {
  provider: FalProvider;
  sim: FalSimulator;
  receiver: WebhookReceiver;
  clock: TestClock;
}

interface FalHarnessOptions extends ConformanceSetupOptions {
  /** The endpoint the harness's requests go to; default Seedance 1.0 Pro text-to-video. */
  model?: string;
  sim?: FalSimOptions;
  provider?: Partial<FalProviderOptions>;
}

/** A fal simulator, a webhook receiver and an adapter pointed at them, all on one movable clock. */
async function startFal(opts: FalHarnessOptions = {}): Promise<FalHarness> {
  const clock = createTestClock();
  const sim = await startFalSimulator({ clock, queueMs: opts.queueMs ?? 40, runMs: opts.runMs ?? 80, ...opts.sim });
  const receiver = await startWebhookReceiver();
  const provider = createFalProvider({
    key: sim.key,
    queueUrl: sim.url,
    jwksUrls: [sim.jwksUrl],
    clock,
    timeoutMs: opts.timeoutMs ?? 5000,
    ...opts.provider,
  });
  const attacker = generateKeyPairSync('ed25519');
  const fault = (op: ProviderOperation, f: FalSimFault, times = 1) =>
    sim.injectFault(f, { routes: OPERATION_ROUTES[op], times });
  const model = opts.model ?? T2V;
  return {
    provider,
    sim,
    receiver,
    clock,
    request: (prompt, extra = {}) => ({
      jobId: 'job-1',
      providerModel: model,
      prompt,
      params: DEFAULT_TEST_PARAMS,
      ...extra,
    }),
    markers: { contentPolicyOutput: FAL_SIM_MARKERS.contentPolicy, stayQueued: FAL_SIM_MARKERS.queuedForever },
    faults: {
      rateLimit: (op, o = {}) =>
        fault(
          op,
          { kind: 'rate_limit', ...(o.retryAfterS !== undefined ? { retryAfter: String(o.retryAfterS) } : {}) },
          o.times,
        ),
      serverError: (op, o = {}) => fault(op, { kind: 'server_error', status: o.status ?? 503 }, o.times),
      malformed: (op, o = {}) => fault(op, { kind: 'malformed' }, o.times),
      hang: (op, o = {}) => fault(op, { kind: 'hang' }, o.times),
      reset: (op, o = {}) => fault(op, { kind: 'reset' }, o.times),
    },
    unknownTask: { taskId: '0b7e7c43-6a3a-4c5e-9f55-1f6f2a1f0000', providerModel: model },
    webhooks: {
      url: receiver.url,
      next: () => receiver.next(),
      forge: (real) => ({ headers: resign(real, attacker.privateKey), rawBody: real.rawBody }),
      maxAgeS: 300,
    },
    async close() {
      await provider.close();
      await sim.close();
      await receiver.close();
    },
  };
}

function resign(
  real: WebhookRequest,
  key: ReturnType<typeof generateKeyPairSync>['privateKey'],
): Record<string, string> {
  return signFalWebhook(key, real.rawBody, {
    requestId: real.headers['x-fal-webhook-request-id']!,
    userId: real.headers['x-fal-webhook-user-id']!,
    timestampS: Number(real.headers['x-fal-webhook-timestamp']),
  });
}

async function open(opts: FalHarnessOptions = {}): Promise<FalHarness> {
  const h = await startFal(opts);
  onTestFinished(() => h.close());
  return h;
}

const req = (prompt: string, extra: Partial<GenerationRequest> = {}): GenerationRequest => ({
  jobId: 'job-1',
  providerModel: T2V,
  prompt,
  params: DEFAULT_TEST_PARAMS,
  ...extra,
});

// Every fal model of the catalog, text-to-video and image-to-video, keeps the contract against the simulator.
for (const m of FAL_MODELS) {
  describeVideoProviderConformance(`fal ${m.id}`, (o) => startFal({ ...o, model: m.providerModels.textToVideo }), {
    cancelQueued: true,
    webhooks: true,
  });
}

describe('fal adapter', () => {
  describe('when it submits', () => {
    it('posts the input to the full model id with the duration as a string', async () => {
      const h = await open();
      await h.provider.submit(
        req('a red kite', {
          params: { durationS: 7, resolution: '480p', aspectRatio: '9:16', seed: 42, cameraFixed: true },
        }),
      );
      const submit = h.sim.calls.find((c) => c.route === 'submit')!;
      expect(submit.path).toBe(`/${T2V}`);
      expect(h.sim.requests()[0]!.input).toEqual({
        prompt: 'a red kite',
        duration: '7',
        resolution: '480p',
        aspect_ratio: '9:16',
        seed: 42,
        camera_fixed: true,
        enable_safety_checker: true,
      });
    });

    it('sends generate_audio only to v1.5 models', async () => {
      const h = await open();
      await h.provider.submit(req('silent', { providerModel: T2V, params: { ...DEFAULT_TEST_PARAMS, audio: true } }));
      await h.provider.submit(req('loud', { providerModel: T2V_15, params: { ...DEFAULT_TEST_PARAMS, audio: false } }));
      await h.provider.submit(req('default', { providerModel: T2V_15 }));
      const [v1, v15off, v15default] = h.sim.requests();
      expect(v1!.input).not.toHaveProperty('generate_audio');
      expect(v15off!.input.generate_audio).toBe(false);
      expect(v15default!.input.generate_audio).toBe(true);
    });

    it('sends image_url for image-to-video', async () => {
      const h = await open();
      const imageUrl = 'http://127.0.0.1:1/media/input.png';
      await h.provider.submit(
        req('animate this', { providerModel: I2V, imageUrl, params: { ...DEFAULT_TEST_PARAMS, aspectRatio: 'auto' } }),
      );
      expect(h.sim.requests()[0]!.input).toMatchObject({ image_url: imageUrl, aspect_ratio: 'auto' });
    });

    describe('to Seedance 2.0', () => {
      it('posts exactly the fields its schema names: no seed, camera_fixed or enable_safety_checker', async () => {
        const h = await open();
        const params = {
          durationS: 15,
          resolution: '1080p' as const,
          aspectRatio: '21:9',
          seed: 42,
          cameraFixed: true,
          audio: false,
        };
        await h.provider.submit(req('a red kite', { providerModel: T2V_2, params }));
        expect(h.sim.calls.find((c) => c.route === 'submit')).toMatchObject({
          path: '/bytedance/seedance-2.0/text-to-video',
          status: 200,
        });
        expect(h.sim.requests()[0]!.input).toEqual({
          prompt: 'a red kite',
          duration: '15',
          resolution: '1080p',
          aspect_ratio: '21:9',
          generate_audio: false,
        });
      });

      it('asks for audio unless the member turned it off', async () => {
        const h = await open();
        await h.provider.submit(req('loud', { providerModel: T2V_2_FAST }));
        expect(h.sim.requests()[0]!.input).toEqual({
          prompt: 'loud',
          duration: '5',
          resolution: '720p',
          aspect_ratio: '16:9',
          generate_audio: true,
        });
      });

      it('sends image_url, and no end frame, to the fast image-to-video endpoint', async () => {
        const h = await open();
        const imageUrl = 'data:image/png;base64,iVBORw0KGgo=';
        await h.provider.submit(
          req('animate this', {
            providerModel: I2V_2_FAST,
            imageUrl,
            params: { ...DEFAULT_TEST_PARAMS, resolution: '480p', aspectRatio: 'auto' },
          }),
        );
        expect(h.sim.calls.find((c) => c.route === 'submit')!.path).toBe('/bytedance/seedance-2.0/fast/image-to-video');
        expect(h.sim.requests()[0]!.input).toEqual({
          prompt: 'animate this',
          duration: '5',
          resolution: '480p',
          aspect_ratio: 'auto',
          generate_audio: true,
          image_url: imageUrl,
        });
      });

      it('reads status, result and cancel under bytedance/seedance-2.0 only', async () => {
        const h = await open({ queueMs: 0, runMs: 20 });
        const done = await h.provider.submit(
          req('paths', { providerModel: I2V_2, imageUrl: 'http://127.0.0.1:1/media/input.png' }),
        );
        expect(await pollUntilFinal(h.provider, done)).toContainEqual(expect.objectContaining({ state: 'succeeded' }));
        const queued = await h.provider.submit(req(`q ${FAL_SIM_MARKERS.queuedForever}`, { providerModel: T2V_2 }));
        expect(await h.provider.cancel(queued)).toBe(true);
        const reads = h.sim.calls.filter((c) => c.route === 'status' || c.route === 'result' || c.route === 'cancel');
        expect(reads.some((c) => c.route === 'result')).toBe(true);
        for (const call of reads)
          expect(call.path).toMatch(
            /^\/bytedance\/seedance-2\.0\/requests\/[0-9a-f-]{36}(\/status\?logs=0|\/cancel)?$/,
          );
        expect(parseFalModelId(T2V_2_FAST)).toEqual({ app: 'bytedance/seedance-2.0', model: T2V_2_FAST });
      });
    });

    it('asks for a webhook with fal_webhook and counts the job once', async () => {
      const h = await open();
      await h.provider.submit(req('hooked', { jobId: 'job-77', webhookUrl: h.receiver.url }));
      const submit = h.sim.calls.find((c) => c.route === 'submit')!;
      expect(new URL(submit.path, 'http://x').searchParams.get('fal_webhook')).toBe(h.receiver.url);
      expect(h.sim.request(h.sim.requests()[0]!.id)!.webhookUrl).toBe(h.receiver.url);
      expect(h.sim.stats.submissionsByJobId.get('job-77')).toBe(1);
    });

    describe('when the key is wrong', () => {
      it('throws a non-retryable auth error', async () => {
        const h = await open({ provider: { key: 'not-the-key' } });
        await expectProviderError(h.provider.submit(req('x')), { kind: 'auth', retryable: false, status: 401 });
      });
    });

    describe('when the model id would escape the queue path', () => {
      it('refuses it before any request is sent', async () => {
        const h = await open();
        await expectProviderError(h.provider.submit(req('x', { providerModel: 'fal-ai/../../admin' })), {
          kind: 'validation',
        });
        expect(h.sim.calls).toHaveLength(0);
      });
    });
  });

  describe('when it reads a status', () => {
    it('uses only owner/app for status and result', async () => {
      const h = await open({ queueMs: 0, runMs: 20 });
      const task = await h.provider.submit(req('paths'));
      await pollUntilFinal(h.provider, task);
      const reads = h.sim.calls.filter((c) => c.route === 'status' || c.route === 'result');
      expect(reads.length).toBeGreaterThanOrEqual(2);
      for (const call of reads)
        expect(call.path).toMatch(new RegExp(`^/fal-ai/bytedance/requests/${task.taskId}(/status\\?logs=0)?$`));
      expect(reads.some((c) => c.route === 'result')).toBe(true);
    });

    it('reports the queue position', async () => {
      const h = await open();
      await h.provider.submit(req(`first ${FAL_SIM_MARKERS.queuedForever}`));
      const second = await h.provider.submit(req(`second ${FAL_SIM_MARKERS.queuedForever}`));
      await expect(h.provider.status(second)).resolves.toEqual({ state: 'queued', queuePosition: 1 });
    });

    it('refuses a task id that is not a fal request id without calling fal', async () => {
      const h = await open();
      await expectProviderError(h.provider.status({ taskId: '../../secrets', providerModel: T2V }), {
        kind: 'not_found',
      });
      expect(h.sim.calls).toHaveLength(0);
    });

    describe('when generation failed inside fal', () => {
      it('returns a failed transient error for a 500 result', async () => {
        const h = await open({ queueMs: 0, runMs: 10 });
        const task = await h.provider.submit(req(`boom ${FAL_SIM_MARKERS.fail}`));
        const final = (await pollUntilFinal(h.provider, task)).at(-1)!;
        expect(final).toMatchObject({ state: 'failed', error: { kind: 'transient', status: 500 } });
      });
    });

    describe('when the result endpoint answers with a gateway error page', () => {
      it('throws so the caller polls again instead of failing the job', async () => {
        const h = await open({ queueMs: 0, runMs: 10 });
        const task = await h.provider.submit(req('gateway'));
        await pollUntilFinal(h.provider, task); // completed
        h.sim.injectFault({ kind: 'html', status: 502 }, { routes: 'result' });
        await expectProviderError(h.provider.status(task), { kind: 'transient', retryable: true, status: 502 });
        await expect(h.provider.status(task)).resolves.toMatchObject({ state: 'succeeded' });
      });
    });
  });

  describe('when fal rejects the input', () => {
    it('turns a 422 detail list into a validation error naming the field', async () => {
      const h = await open();
      const error = await expectProviderError(
        h.provider.submit(
          req('too short', { providerModel: T2V_15, params: { ...DEFAULT_TEST_PARAMS, durationS: 3 } }),
        ),
        { kind: 'validation', retryable: false, status: 422 },
      );
      expect(error.message).toMatch(/^duration: Input should be '4'/);
    });

    it('reports a flagged prompt at submit as content_policy at the input stage', async () => {
      const h = await open();
      await expectProviderError(h.provider.submit(req(`nsfw ${FAL_SIM_MARKERS.contentPolicyInput}`)), {
        kind: 'content_policy',
        stage: 'input',
        retryable: false,
      });
      expect(h.sim.stats.submissions).toBe(0);
    });

    it('reports a flagged output as content_policy at the output stage', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(req(`later ${FAL_SIM_MARKERS.contentPolicy}`));
      const final = (await pollUntilFinal(h.provider, task)).at(-1)!;
      expect(final).toMatchObject({ state: 'failed', error: { kind: 'content_policy', stage: 'output' } });
    });

    it('reports a prompt flagged by the model after submit as content_policy at the input stage', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(req(`later ${FAL_SIM_MARKERS.contentPolicyInputLate}`));
      const final = (await pollUntilFinal(h.provider, task)).at(-1)!;
      expect(final).toMatchObject({ state: 'failed', error: { kind: 'content_policy', stage: 'input' } });
    });
  });

  describe('when fal says whether to retry', () => {
    it('does not retry a 5xx marked X-Fal-Retryable: false', async () => {
      const h = await open();
      h.sim.injectFault({ kind: 'server_error', status: 500, errorType: 'internal_server_error', retryable: false });
      await expectProviderError(h.provider.submit(req('x')), { kind: 'transient', retryable: false, status: 500 });
    });

    it('retries a 400 marked X-Fal-Retryable: true', async () => {
      const h = await open();
      h.sim.injectFault({
        kind: 'respond',
        status: 400,
        body: { detail: 'Downstream service error', error_type: 'downstream_service_error' },
        headers: { 'x-fal-retryable': 'true' },
      });
      await expectProviderError(h.provider.submit(req('x')), { retryable: true, status: 400 });
    });

    it.each([
      ['0', false],
      ['false', false],
      ['1', true],
      ['true', true],
    ] as const)('reads X-Fal-Needs-Retry: %s too', async (value, retryable) => {
      const h = await open();
      const status = retryable ? 400 : 503;
      h.sim.injectFault({ kind: 'server_error', status, errorType: 'runner_server_error', needsRetry: value });
      await expectProviderError(h.provider.submit(req('x')), { retryable, status });
    });

    it('lets X-Fal-Needs-Retry win over X-Fal-Retryable, as fal says it takes precedence', async () => {
      const h = await open();
      h.sim.injectFault({
        kind: 'server_error',
        status: 500,
        errorType: 'internal_error',
        retryable: true,
        needsRetry: '0',
      });
      await expectProviderError(h.provider.submit(req('x')), { retryable: false, status: 500 });
    });

    it('keeps the detail of a flat {detail, error_type} body', async () => {
      const h = await open();
      h.sim.injectFault({
        kind: 'respond',
        status: 504,
        body: { detail: 'Request timed out', error_type: 'request_timeout' },
      });
      const error = await expectProviderError(h.provider.submit(req('x')), { kind: 'transient', retryable: true });
      expect(error.message).toContain('Request timed out');
    });

    it('reads Retry-After given as an HTTP date', async () => {
      const h = await open();
      const at = new Date(h.clock.now() + 30_000).toUTCString();
      h.sim.injectFault({ kind: 'rate_limit', retryAfter: at });
      const error = await expectProviderError(h.provider.submit(req('x')), { kind: 'rate_limit' });
      expect(error.retryAfterS).toBeGreaterThanOrEqual(29);
      expect(error.retryAfterS).toBeLessThanOrEqual(31);
    });

    it('reports the prompt-driven 429s until they stop', async () => {
      const h = await open();
      const prompt = `busy ${FAL_SIM_MARKERS.rateLimit(2)}`;
      await expectProviderError(h.provider.submit(req(prompt)), { kind: 'rate_limit', retryAfterS: 1 });
      await expectProviderError(h.provider.submit(req(prompt)), { kind: 'rate_limit', retryAfterS: 1 });
      await expect(h.provider.submit(req(prompt))).resolves.toHaveProperty('taskId');
      expect(h.sim.submissionsFor(prompt)).toBe(1);
    });
  });

  describe('when a response does not look like fal', () => {
    it('treats a submit answer without request_id as malformed', async () => {
      const h = await open();
      h.sim.injectFault({ kind: 'respond', status: 200, body: { status: 'IN_QUEUE' } });
      await expectProviderError(h.provider.submit(req('x')), { kind: 'malformed', retryable: true });
    });

    it('treats a request_id that is not a plain token as malformed', async () => {
      const h = await open();
      h.sim.injectFault({ kind: 'respond', status: 200, body: { status: 'IN_QUEUE', request_id: '../../admin' } });
      await expectProviderError(h.provider.submit(req('x')), { kind: 'malformed' });
    });

    it('treats a video URL that is not http(s) as malformed', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(req(`odd ${FAL_SIM_MARKERS.badVideoUrl}`));
      h.clock.advance(10); // past runMs: fal now has the result
      await expectProviderError(h.provider.status(task), { kind: 'malformed', retryable: true });
    });

    it('treats an unknown status value as malformed', async () => {
      const h = await open();
      const task = await h.provider.submit(req('x'));
      h.sim.injectFault(
        { kind: 'respond', status: 200, body: { status: 'FAILED', request_id: task.taskId } },
        { routes: 'status' },
      );
      await expectProviderError(h.provider.status(task), { kind: 'malformed' });
    });

    it('treats truncated JSON as malformed', async () => {
      const h = await open();
      const task = await h.provider.submit(req('x'));
      h.sim.injectFault({ kind: 'truncated' }, { routes: 'status', phase: 'after' });
      await expectProviderError(h.provider.status(task), { kind: 'malformed', retryable: true });
    });

    it('refuses a body larger than 1 MiB', async () => {
      const h = await open();
      h.sim.injectFault({
        kind: 'respond',
        status: 200,
        text: JSON.stringify({ request_id: 'a', pad: 'x'.repeat(1_100_000) }),
      });
      const error = await expectProviderError(h.provider.submit(req('x')), { kind: 'malformed' });
      expect(error.message).toContain('larger than');
    });

    it('times out a body that stalls halfway', async () => {
      const h = await open({ timeoutMs: 150 });
      const task = await h.provider.submit(req('x'));
      h.sim.injectFault({ kind: 'hang_body' }, { routes: 'status', phase: 'after' });
      await expectProviderError(h.provider.status(task), { kind: 'transient', retryable: true });
    });
  });

  describe('when it cancels', () => {
    it('returns false for a request that already completed', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(req('done'));
      await pollUntilFinal(h.provider, task);
      await expect(h.provider.cancel(task)).resolves.toBe(false);
    });

    it('returns false for an unknown request', async () => {
      const h = await open();
      await expect(
        h.provider.cancel({ taskId: 'f0f0f0f0-0000-4000-8000-000000000000', providerModel: T2V }),
      ).resolves.toBe(false);
    });

    it('uses only owner/app and PUT', async () => {
      const h = await open();
      const task = await h.provider.submit(req(`q ${FAL_SIM_MARKERS.queuedForever}`));
      await h.provider.cancel(task);
      const call = h.sim.calls.find((c) => c.route === 'cancel')!;
      expect(call).toMatchObject({
        method: 'PUT',
        path: `/fal-ai/bytedance/requests/${task.taskId}/cancel`,
        status: 202,
      });
    });

    it('accepts the cancellation of a running request even though fal may still finish it', async () => {
      const h = await open({ queueMs: 0 });
      const task = await h.provider.submit(req(`running ${FAL_SIM_MARKERS.hang}`));
      await expect(h.provider.status(task)).resolves.toEqual({ state: 'running' });
      await expect(h.provider.cancel(task)).resolves.toBe(true);
      h.sim.complete(task.taskId);
      const final = (await pollUntilFinal(h.provider, task)).at(-1)!;
      expect(final.state).toBe('succeeded');
    });
  });
});

describe('fal webhook verification', () => {
  async function deliveredWebhook(h: FalHarness, prompt = 'hook') {
    const task = await h.provider.submit(req(prompt, { webhookUrl: h.receiver.url }));
    return { task, delivery: await h.receiver.next() };
  }

  const withHeader = (d: WebhookRequest, name: string, value: string | undefined): WebhookRequest => ({
    headers: { ...d.headers, [name]: value },
    rawBody: d.rawBody,
  });

  describe('when the delivery is genuine', () => {
    it('returns the task, a per-outcome delivery id and the video URL', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { task, delivery } = await deliveredWebhook(h);
      const event = await h.provider.verifyWebhook(delivery);
      expect(event).toEqual({
        taskId: task.taskId,
        deliveryId: `${task.taskId}:OK`,
        status: { state: 'succeeded', videoUrl: `${h.sim.url}/files/${task.taskId}/output.mp4` },
      });
    });

    it('reports a content-policy rejection as failed at the output stage', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { task, delivery } = await deliveredWebhook(h, `flagged ${FAL_SIM_MARKERS.contentPolicy}`);
      const event = await h.provider.verifyWebhook(delivery);
      expect(event).toMatchObject({
        taskId: task.taskId,
        deliveryId: `${task.taskId}:ERROR`,
        status: { state: 'failed', error: { kind: 'content_policy', stage: 'output' } },
      });
    });

    it('gives duplicate deliveries the same delivery id', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await deliveredWebhook(h, `twice ${FAL_SIM_MARKERS.dupWebhook}`);
      const again = await h.receiver.next();
      const [a, b] = await Promise.all([h.provider.verifyWebhook(delivery), h.provider.verifyWebhook(again)]);
      expect(a.deliveryId).toBe(b.deliveryId);
    });

    it('accepts header names in any case', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await deliveredWebhook(h);
      const upper = Object.fromEntries(Object.entries(delivery.headers).map(([k, v]) => [k.toUpperCase(), v]));
      await expect(h.provider.verifyWebhook({ headers: upper, rawBody: delivery.rawBody })).resolves.toHaveProperty(
        'taskId',
      );
    });

    it('accepts a timestamp 299 s old', async () => {
      const h = await open();
      const body = JSON.stringify({
        request_id: 'r-1',
        status: 'OK',
        payload: { video: { url: 'https://v3.fal.media/x.mp4' }, seed: 1 },
      });
      const headers = h.sim.signWebhook(body, { requestId: 'r-1', timestampS: Math.floor(h.clock.now() / 1000) - 299 });
      await expect(h.provider.verifyWebhook({ headers, rawBody: Buffer.from(body) })).resolves.toMatchObject({
        taskId: 'r-1',
      });
    });

    it('leaves the status open when fal could not serialise the payload', async () => {
      const h = await open();
      const body = JSON.stringify({
        request_id: 'r-2',
        gateway_request_id: 'r-2',
        status: 'OK',
        payload: null,
        payload_error: 'Response payload is not JSON serializable.',
      });
      const headers = h.sim.signWebhook(body, { requestId: 'r-2' });
      const event = await h.provider.verifyWebhook({ headers, rawBody: Buffer.from(body) });
      expect(event).toEqual({ taskId: 'r-2', deliveryId: 'r-2:OK' });
    });
  });

  describe('when the delivery is not provably from fal', () => {
    it('rejects a signature made with another key', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await deliveredWebhook(h);
      const attacker = generateKeyPairSync('ed25519');
      await expect(
        h.provider.verifyWebhook({ headers: resign(delivery, attacker.privateKey), rawBody: delivery.rawBody }),
      ).rejects.toBeInstanceOf(WebhookAuthError);
    });

    it('rejects a tampered body', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await deliveredWebhook(h);
      const tampered = Buffer.from(Buffer.from(delivery.rawBody).toString().replace('"OK"', '"ERROR"'));
      await expect(h.provider.verifyWebhook({ headers: delivery.headers, rawBody: tampered })).rejects.toBeInstanceOf(
        WebhookAuthError,
      );
    });

    it('rejects a timestamp 301 s old', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await deliveredWebhook(h);
      h.clock.advance(301_000);
      await expect(h.provider.verifyWebhook(delivery)).rejects.toThrow(/timestamp/);
    });

    it('rejects a timestamp 301 s in the future', async () => {
      const h = await open();
      const body = '{"request_id":"r-3","status":"OK","payload":null}';
      const headers = h.sim.signWebhook(body, { requestId: 'r-3', timestampS: Math.floor(h.clock.now() / 1000) + 301 });
      await expect(h.provider.verifyWebhook({ headers, rawBody: Buffer.from(body) })).rejects.toBeInstanceOf(
        WebhookAuthError,
      );
    });

    it.each([
      'x-fal-webhook-request-id',
      'x-fal-webhook-user-id',
      'x-fal-webhook-timestamp',
      'x-fal-webhook-signature',
    ])('rejects a delivery without %s', async (name) => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await deliveredWebhook(h);
      await expect(h.provider.verifyWebhook(withHeader(delivery, name, undefined))).rejects.toThrow(/missing/);
    });

    it.each([
      ['not hex', 'zz'.repeat(64)],
      ['too short', 'ab'.repeat(63)],
      ['too long', 'ab'.repeat(65)],
      ['base64 instead of hex', Buffer.alloc(64, 1).toString('base64')],
    ])('rejects a signature that is %s', async (_label, signature) => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await deliveredWebhook(h);
      await expect(
        h.provider.verifyWebhook(withHeader(delivery, 'x-fal-webhook-signature', signature)),
      ).rejects.toBeInstanceOf(WebhookAuthError);
    });

    it('accepts a webhook signed with the gateway request id after fal retried the request, and names the queue request', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { task, delivery } = await deliveredWebhook(h, `flaky runner ${FAL_SIM_MARKERS.retried}`);
      const body = JSON.parse(Buffer.from(delivery.rawBody).toString('utf8')) as {
        request_id: string;
        gateway_request_id: string;
      };
      expect(body.gateway_request_id).not.toBe(task.taskId);
      expect(delivery.headers['x-fal-webhook-request-id']).toBe(body.gateway_request_id);
      await expect(h.provider.verifyWebhook(delivery)).resolves.toMatchObject({
        taskId: task.taskId,
        status: { state: 'succeeded' },
      });
    });

    it('rejects a signed body whose request_id differs from the header', async () => {
      const h = await open();
      const body = JSON.stringify({
        request_id: 'victim',
        status: 'OK',
        payload: { video: { url: 'https://evil.example/x.mp4' } },
      });
      const headers = h.sim.signWebhook(body, { requestId: 'mine' });
      await expect(h.provider.verifyWebhook({ headers, rawBody: Buffer.from(body) })).rejects.toThrow(/disagree/);
    });

    it('rejects a genuine signature for another fal user when the user id is pinned', async () => {
      const h = await open({
        queueMs: 0,
        runMs: 10,
        sim: { userId: 'someone-else' },
        provider: { webhookUserId: 'me' },
      });
      const { delivery } = await deliveredWebhook(h);
      await expect(h.provider.verifyWebhook(delivery)).rejects.toThrow(/other user/);
    });
  });

  describe('when it needs fal’s public keys', () => {
    it('fetches the JWKS once for many webhooks', async () => {
      const h = await open();
      for (const id of ['a1', 'a2', 'a3']) {
        const body = JSON.stringify({ request_id: id, status: 'OK', payload: null });
        await h.provider.verifyWebhook({
          headers: h.sim.signWebhook(body, { requestId: id }),
          rawBody: Buffer.from(body),
        });
      }
      expect(h.sim.stats.jwksCalls).toBe(1);
    });

    it('refetches after 24 hours', async () => {
      const h = await open();
      const verifyOne = async (id: string) => {
        const body = JSON.stringify({ request_id: id, status: 'OK', payload: null });
        await h.provider.verifyWebhook({
          headers: h.sim.signWebhook(body, { requestId: id }),
          rawBody: Buffer.from(body),
        });
      };
      await verifyOne('b1');
      h.clock.advance(24 * 60 * 60 * 1000 + 1);
      await verifyOne('b2');
      expect(h.sim.stats.jwksCalls).toBe(2);
    });

    it('follows a key rotation with one refetch', async () => {
      const h = await open();
      const verifyOne = (id: string) => {
        const body = JSON.stringify({ request_id: id, status: 'OK', payload: null });
        return h.provider.verifyWebhook({
          headers: h.sim.signWebhook(body, { requestId: id }),
          rawBody: Buffer.from(body),
        });
      };
      await verifyOne('c1');
      h.sim.rotateKey();
      h.clock.advance(10 * 60 * 1000);
      await expect(verifyOne('c2')).resolves.toHaveProperty('taskId', 'c2');
      await expect(verifyOne('c3')).resolves.toHaveProperty('taskId', 'c3');
      expect(h.sim.stats.jwksCalls).toBe(2);
    });

    it('does not refetch for every forged delivery', async () => {
      const h = await open();
      const attacker = generateKeyPairSync('ed25519');
      for (const id of ['d1', 'd2', 'd3', 'd4']) {
        const body = JSON.stringify({ request_id: id, status: 'OK', payload: null });
        const headers = signFalWebhook(attacker.privateKey, body, {
          requestId: id,
          userId: h.sim.userId,
          timestampS: Math.floor(h.clock.now() / 1000),
        });
        await expect(h.provider.verifyWebhook({ headers, rawBody: Buffer.from(body) })).rejects.toBeInstanceOf(
          WebhookAuthError,
        );
      }
      expect(h.sim.stats.jwksCalls).toBe(1);
    });

    describe('when fal serves its keys at one of its two JWKS hosts only', () => {
      it.each(['current', 'alpha'] as const)('verifies with the keys at the %s host', async (jwksAt) => {
        const h = await open({ queueMs: 0, runMs: 10, sim: { jwksAt } });
        const both = createFalProvider({
          key: h.sim.key,
          queueUrl: h.sim.url,
          jwksUrls: [h.sim.jwksUrls.current, h.sim.jwksUrls.alpha],
          clock: h.clock,
        });
        onTestFinished(() => both.close());
        const { task, delivery } = await deliveredWebhook(h);
        await expect(both.verifyWebhook(delivery)).resolves.toHaveProperty('taskId', task.taskId);
      });

      it('cannot verify at all, a transient error, when the one host it was given has no keys any more', async () => {
        const h = await open({ queueMs: 0, runMs: 10, sim: { jwksAt: 'current' } });
        const alphaOnly = createFalProvider({
          key: h.sim.key,
          queueUrl: h.sim.url,
          jwksUrls: [h.sim.jwksUrls.alpha],
          clock: h.clock,
        });
        onTestFinished(() => alphaOnly.close());
        const { delivery } = await deliveredWebhook(h);
        await expectProviderError(alphaOnly.verifyWebhook(delivery), { kind: 'transient' });
      });

      it('asks the second host only when the first host’s keys do not verify', async () => {
        const h = await open({ sim: { jwksAt: 'both' } });
        const both = createFalProvider({
          key: h.sim.key,
          queueUrl: h.sim.url,
          jwksUrls: [h.sim.jwksUrls.current, h.sim.jwksUrls.alpha],
          clock: h.clock,
        });
        onTestFinished(() => both.close());
        const body = '{"request_id":"j1","status":"OK","payload":null}';
        await both.verifyWebhook({ headers: h.sim.signWebhook(body, { requestId: 'j1' }), rawBody: Buffer.from(body) });
        expect(h.sim.calls.filter((c) => c.route === 'jwks').map((c) => c.path)).toEqual(['/.well-known/jwks.json']);
      });

      it('defaults to both hosts, the current one first', () => {
        expect(loadConfig({}).FAL_JWKS_URL).toEqual([
          'https://rest.fal.ai/.well-known/jwks.json',
          'https://rest.alpha.fal.ai/.well-known/jwks.json',
        ]);
        expect(
          loadConfig({ FAL_JWKS_URL: 'http://127.0.0.1:1/a.json, http://127.0.0.1:1/b.json' }).FAL_JWKS_URL,
        ).toEqual(['http://127.0.0.1:1/a.json', 'http://127.0.0.1:1/b.json']);
      });
    });

    it('reports an unreachable JWKS as a transient provider error, not as a forgery', async () => {
      const h = await open();
      h.sim.injectFault({ kind: 'server_error', status: 503 }, { routes: 'jwks' });
      const body = '{"request_id":"e1","status":"OK","payload":null}';
      await expectProviderError(
        h.provider.verifyWebhook({ headers: h.sim.signWebhook(body, { requestId: 'e1' }), rawBody: Buffer.from(body) }),
        {
          kind: 'transient',
        },
      );
    });
  });
});

describe('fal simulator', () => {
  async function sim(opts: FalSimOptions = {}) {
    const s = await startFalSimulator(opts);
    onTestFinished(() => s.close());
    return s;
  }

  describe('when a client names no User-Agent', () => {
    it('refuses the queue API and the JWKS with 403', async () => {
      const s = await sim();
      const queue = await request(`${s.url}/${T2V}`, {
        method: 'POST',
        headers: { authorization: `Key ${s.key}` },
        body: '{"prompt":"x"}',
      });
      const jwks = await request(s.jwksUrl);
      expect([queue.statusCode, jwks.statusCode]).toEqual([403, 403]);
      await Promise.all([queue.body.dump(), jwks.body.dump()]);
      expect(s.stats.submissions).toBe(0);
    });
  });
  const post = (s: FalSimulator, path: string, body: unknown, key = s.key) =>
    request(`${s.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Key ${key}`, 'user-agent': 'clipbot-test', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  describe('when the input breaks the Seedance schema', () => {
    it('answers 422 with a detail list, refusing a numeric duration', async () => {
      const s = await sim();
      const res = await post(s, `/${T2V}`, { prompt: 'x', duration: 5, resolution: '4k' });
      expect(res.statusCode).toBe(422);
      const body = (await res.body.json()) as { detail: Array<{ loc: string[]; type: string }> };
      expect(body.detail.map((d) => d.loc.at(-1))).toEqual(['duration', 'resolution']);
      expect(s.stats.submissions).toBe(0);
    });

    it('requires image_url on image-to-video', async () => {
      const s = await sim();
      const res = await post(s, `/${I2V}`, { prompt: 'x' });
      expect(res.statusCode).toBe(422);
      await res.body.dump();
    });
  });

  describe('when the input breaks the Seedance 2.0 schema', () => {
    const refusal = async (s: FalSimulator, model: string, body: Record<string, unknown>) => {
      const res = await post(s, `/${model}`, body);
      const answer = (await res.body.json()) as { detail: Array<{ loc: string[]; type: string }> };
      return { status: res.statusCode, fields: answer.detail.map((d) => `${d.loc.at(-1)}:${d.type}`) };
    };

    it('refuses a numeric duration, as the schema says string', async () => {
      const s = await sim();
      expect(await refusal(s, T2V_2, { prompt: 'x', duration: 5 })).toEqual({
        status: 422,
        fields: ['duration:literal_error'],
      });
    });

    it('refuses fields of the older Seedance schemas: camera_fixed, seed, enable_safety_checker', async () => {
      const s = await sim();
      const body = { prompt: 'x', camera_fixed: true, seed: 7, enable_safety_checker: true };
      expect(await refusal(s, T2V_2, body)).toEqual({
        status: 422,
        fields: ['camera_fixed:extra_forbidden', 'seed:extra_forbidden', 'enable_safety_checker:extra_forbidden'],
      });
    });

    it('refuses 1080p on fast, and durations outside 4–15', async () => {
      const s = await sim();
      expect(await refusal(s, T2V_2_FAST, { prompt: 'x', resolution: '1080p', duration: '3' })).toEqual({
        status: 422,
        fields: ['duration:literal_error', 'resolution:literal_error'],
      });
      expect(await refusal(s, I2V_2_FAST, { prompt: 'x', image_url: 'https://x.test/a.png', duration: '16' })).toEqual({
        status: 422,
        fields: ['duration:literal_error'],
      });
    });

    it('requires image_url on image-to-video, and takes end_image_url only there', async () => {
      const s = await sim();
      expect(await refusal(s, I2V_2, { prompt: 'x', end_image_url: 'https://x.test/b.png' })).toEqual({
        status: 422,
        fields: ['image_url:missing'],
      });
      expect(await refusal(s, T2V_2, { prompt: 'x', end_image_url: 'https://x.test/b.png' })).toEqual({
        status: 422,
        fields: ['end_image_url:extra_forbidden'],
      });
      expect(
        await refusal(s, I2V_2, { prompt: 'x', image_url: 'https://x.test/a.png', generate_audio: 'yes' }),
      ).toEqual({
        status: 422,
        fields: ['generate_audio:bool_type'],
      });
      expect(s.stats.submissions).toBe(0);
    });

    it('accepts every field the schema names, "auto" duration and 4k on standard included', async () => {
      const s = await sim();
      const standard = {
        prompt: 'x',
        image_url: 'https://x.test/a.png',
        end_image_url: 'https://x.test/b.png',
        duration: 'auto',
        resolution: '4k',
        aspect_ratio: 'auto',
        generate_audio: false,
        bitrate_mode: 'high',
        end_user_id: 'u1',
      };
      const fast = {
        prompt: 'x',
        duration: '15',
        resolution: '720p',
        aspect_ratio: '9:16',
        generate_audio: true,
        bitrate_mode: 'standard',
      };
      const answers = await Promise.all([post(s, `/${I2V_2}`, standard), post(s, `/${T2V_2_FAST}`, fast)]);
      expect(answers.map((r) => r.statusCode)).toEqual([200, 200]);
      await Promise.all(answers.map((r) => r.body.dump()));
      expect(s.requests().map((r) => r.app)).toEqual(['bytedance/seedance-2.0', 'bytedance/seedance-2.0']);
    });
  });

  describe('when the key is missing or wrong', () => {
    it('answers 401', async () => {
      const s = await sim();
      const res = await post(s, `/${T2V}`, { prompt: 'x' }, 'wrong');
      expect(res.statusCode).toBe(401);
      await res.body.dump();
    });
  });

  describe('when a client reads status under the full model path', () => {
    it('answers 404 like fal', async () => {
      const s = await sim();
      const created = (await (await post(s, `/${T2V}`, { prompt: 'x' })).body.json()) as { request_id: string };
      const res = await request(`${s.url}/${T2V}/requests/${created.request_id}/status`, {
        headers: { authorization: `Key ${s.key}`, 'user-agent': 'clipbot-test' },
      });
      expect(res.statusCode).toBe(404);
      await res.body.dump();
      expect(parseFalModelId(T2V).app).toBe('fal-ai/bytedance');
    });
  });

  describe('when it serves a finished video', () => {
    it('serves the committed 480p and 720p MP4s with their length', async () => {
      const s = await sim({ queueMs: 0, runMs: 0 });
      for (const resolution of ['480p', '720p']) {
        const created = (await (await post(s, `/${T2V}`, { prompt: 'x', resolution })).body.json()) as {
          request_id: string;
        };
        const head = await request(`${s.url}/files/${created.request_id}/output.mp4`, { method: 'HEAD' });
        await head.body.dump();
        const get = await request(`${s.url}/files/${created.request_id}/output.mp4`);
        const bytes = Buffer.from(await get.body.arrayBuffer());
        expect(get.headers['content-type']).toBe('video/mp4');
        expect(Number(head.headers['content-length'])).toBe(bytes.length);
        expect(bytes.length).toBeLessThan(150 * 1024);
        expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      }
    });

    it('can expire the file or lie about its type', async () => {
      const s = await sim({ queueMs: 0, runMs: 0 });
      const expired = (await (await post(s, `/${T2V}`, { prompt: FAL_SIM_MARKERS.expiredVideo })).body.json()) as {
        request_id: string;
      };
      const html = (await (await post(s, `/${T2V}`, { prompt: FAL_SIM_MARKERS.htmlVideo })).body.json()) as {
        request_id: string;
      };
      const gone = await request(`${s.url}/files/${expired.request_id}/output.mp4`);
      await gone.body.dump();
      expect(gone.statusCode).toBe(404);
      const lying = await request(`${s.url}/files/${html.request_id}/output.mp4`);
      expect(lying.headers['content-type']).toBe('video/mp4');
      expect(await lying.body.text()).toMatch(/^<!doctype html>/);
    });

    it('can cut the video off mid-download: full Content-Length, half the bytes, then a closed connection', async () => {
      const s = await sim({ queueMs: 0, runMs: 0 });
      s.injectFault({ kind: 'cut_body' }, { routes: 'files', phase: 'after' });
      const created = (await (await post(s, `/${T2V}`, { prompt: 'x', resolution: '480p' })).body.json()) as {
        request_id: string;
      };
      const cut = await request(`${s.url}/files/${created.request_id}/output.mp4`);
      expect(cut.headers['content-type']).toBe('video/mp4');
      await expect(cut.body.arrayBuffer()).rejects.toThrow();
      const whole = await request(`${s.url}/files/${created.request_id}/output.mp4`);
      expect(Buffer.from(await whole.body.arrayBuffer()).length).toBe(Number(cut.headers['content-length']));
    });

    it('expires files after fileTtlMs on its clock', async () => {
      const clock = createTestClock();
      const s = await sim({ queueMs: 0, runMs: 0, clock, fileTtlMs: 60_000 });
      const created = (await (await post(s, `/${T2V}`, { prompt: 'x' })).body.json()) as { request_id: string };
      const fresh = await request(`${s.url}/files/${created.request_id}/output.mp4`);
      await fresh.body.dump();
      clock.advance(61_000);
      const stale = await request(`${s.url}/files/${created.request_id}/output.mp4`);
      await stale.body.dump();
      expect([fresh.statusCode, stale.statusCode]).toEqual([200, 404]);
    });

    it('ships a small PNG for image-to-video tests', async () => {
      const { readFile } = await import('node:fs/promises');
      const png = await readFile(FAL_SIM_ASSETS.image);
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    });
  });

  describe('when a submit response is dropped after the request was created', () => {
    it('counts the submission even though the client never saw it', async () => {
      const h = await open();
      const prompt = `lost ${FAL_SIM_MARKERS.dropSubmitResponse}`;
      await expectProviderError(h.provider.submit(req(prompt)), { kind: 'transient' });
      await h.provider.submit(req(prompt));
      expect(h.sim.submissionsFor(prompt)).toBe(2);
    });
  });

  describe('when the prompt says [sim:no_webhook]', () => {
    it('finishes the request but never calls back', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(req(`quiet ${FAL_SIM_MARKERS.noWebhook}`, { webhookUrl: h.receiver.url }));
      await vi.waitFor(() => expect(h.sim.request(task.taskId)!.state).toBe('COMPLETED'));
      h.sim.pump();
      await h.sim.webhooksSettled();
      expect(h.receiver.deliveries).toHaveLength(0);
      expect(h.sim.stats.webhookAttempts).toBe(0);
    });
  });

  describe('when a webhook receiver fails', () => {
    it('delivers again', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { webhookRetryDelayMs: 10 } });
      h.receiver.respondWith(500);
      await h.provider.submit(req('retry me', { webhookUrl: h.receiver.url }));
      await h.receiver.next();
      h.receiver.respondWith(200);
      const second = await h.receiver.next();
      await expect(h.provider.verifyWebhook(second)).resolves.toHaveProperty('status.state', 'succeeded');
      await h.sim.webhooksSettled();
      expect(h.sim.stats.webhooksDelivered).toBe(1);
    });

    it('still closes promptly while a re-delivery is pending', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { webhookRetryDelayMs: 60_000 } });
      h.receiver.respondWith(500);
      await h.provider.submit(req('never acked', { webhookUrl: h.receiver.url }));
      await h.receiver.next();
      const started = Date.now();
      await h.sim.close();
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });
});

describe('fal models of the catalog', () => {
  it('name only endpoints the simulator serves', () => {
    for (const m of FAL_MODELS) {
      expect(FAL_SIM_MODELS[m.providerModels.textToVideo], m.id).toBeDefined();
      expect(FAL_SIM_MODELS[m.providerModels.imageToVideo], m.id).toBeDefined();
    }
  });

  describe('when a member asks Seedance 2.0 for options its schema lacks', () => {
    it('keeps neither seed nor camera_fixed, and sends audio by default', () => {
      expect(resolveParams(seedance2, { seed: 7, cameraFixed: true, duration: 15 }, false)).toEqual({
        durationS: 15,
        resolution: '720p',
        aspectRatio: '16:9',
        audio: true,
      });
    });

    it('refuses 1080p on fast and clips shorter than 4 s', () => {
      expect(() => resolveParams(seedance2Fast, { resolution: '1080p' }, false)).toThrow(/supports 480p, 720p/);
      expect(() => resolveParams(seedance2, { duration: 3 }, false)).toThrow(/4 to 15 seconds/);
    });
  });

  it('prices Seedance 2.0 from fal’s per-second prices (720p $0.3024/s, fast $0.24192/s)', () => {
    const at = (resolution: '480p' | '720p' | '1080p', durationS: number) => ({
      durationS,
      resolution,
      aspectRatio: '16:9',
    });
    expect(priceUsd(seedance2, at('720p', 10))).toBeCloseTo(3.024, 6);
    expect(priceUsd(seedance2Fast, at('720p', 10))).toBeCloseTo(2.4192, 6);
    expect(priceUsd(seedance2, at('1080p', 5)) / priceUsd(seedance2, at('720p', 5))).toBeCloseTo(
      (1920 * 1080) / (1280 * 720),
      6,
    );
    expect(priceUsd(seedance2Fast, at('480p', 5)) / priceUsd(seedance2Fast, at('720p', 5))).toBeCloseTo(
      (864 * 480) / (1280 * 720),
      6,
    );
    expect(priceCredits(seedance2, at('720p', 15))).toBe(570);
  });
});

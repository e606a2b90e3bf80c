import { readFile } from 'node:fs/promises';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODELS, resolveParams, type ModelSpec } from '../../src/core/catalog.js';
import { WebhookAuthError, type ProviderErrorKind } from '../../src/core/errors.js';
import type { GenerationRequest } from '../../src/core/ports.js';
import {
  createArkProvider,
  neutralizeTextFlags,
  type ArkProvider,
  type ArkProviderOptions,
} from '../../src/providers/ark.js';
import { SIM_ASSETS } from '../../src/sim/assets.js';
import { CLIPBOT_USER_AGENT as USER_AGENT } from '../../src/version.js';
import {
  ARK_SIM_MARKERS,
  startArkSimulator,
  type ArkSimFault,
  type ArkSimOptions,
  type ArkSimRoute,
  type ArkSimulator,
} from '../../src/sim/ark.js';
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

const ARK_MODELS = MODELS.filter((m) => m.provider === 'ark');
const arkModel = (id: string) => ARK_MODELS.find((m) => m.id === id)!;
const MODEL = arkModel('seedance-1-pro-ark').providerModels.textToVideo;
const TASK_ID_RE = /^cgt-\d{14}-[a-z0-9]{5}$/;

const OPERATION_ROUTES: Record<ProviderOperation, ArkSimRoute[]> = {
  submit: ['create'],
  status: ['get'],
  cancel: ['delete'],
};

interface ArkHarness extends ConformanceHarness {
  provider: ArkProvider;
  sim: ArkSimulator;
  receiver: WebhookReceiver;
  clock: TestClock;
}

interface ArkHarnessOptions extends ConformanceSetupOptions {
  sim?: ArkSimOptions;
  provider?: Partial<ArkProviderOptions>;
  /** The catalog model whose requests `request()` makes; default Seedance 1.0 Pro on Ark. */
  model?: ModelSpec;
}

/** An Ark simulator, a callback receiver and an adapter pointed at them, all on one movable clock. */
async function startArk(opts: ArkHarnessOptions = {}): Promise<ArkHarness> {
  const model = opts.model;
  const clock = createTestClock();
  const sim = await startArkSimulator({ clock, queueMs: opts.queueMs ?? 40, runMs: opts.runMs ?? 80, ...opts.sim });
  const receiver = await startWebhookReceiver();
  const provider = createArkProvider({
    apiKey: sim.apiKey,
    baseUrl: sim.url,
    clock,
    timeoutMs: opts.timeoutMs ?? 5000,
    ...opts.provider,
  });
  const fault = (op: ProviderOperation, f: ArkSimFault, times = 1) =>
    sim.injectFault(f, { routes: OPERATION_ROUTES[op], times });
  return {
    provider,
    sim,
    receiver,
    clock,
    request: (prompt, extra = {}) => (model ? catalogReq(model, prompt, extra) : req(prompt, extra)),
    markers: { contentPolicyOutput: ARK_SIM_MARKERS.contentPolicy, stayQueued: ARK_SIM_MARKERS.queuedForever },
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
    unknownTask: { taskId: 'cgt-20250629201507-zzzzz', providerModel: MODEL },
    webhooks: { url: receiver.url, next: () => receiver.next() },
    async close() {
      await provider.close();
      await sim.close();
      await receiver.close();
    },
  };
}

async function open(opts: ArkHarnessOptions = {}): Promise<ArkHarness> {
  const h = await startArk(opts);
  onTestFinished(() => h.close());
  return h;
}

function req(prompt: string, extra: Partial<GenerationRequest> = {}): GenerationRequest {
  return { jobId: 'job-1', providerModel: MODEL, prompt, params: DEFAULT_TEST_PARAMS, ...extra };
}

/** The request the engine would make for this catalog model with the member's defaults (audio on where offered). */
function catalogReq(model: ModelSpec, prompt: string, extra: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    jobId: 'job-1',
    providerModel: model.providerModels.textToVideo,
    prompt,
    params: resolveParams(model, {}, false),
    ...extra,
  };
}

async function finalOf(h: ArkHarness, prompt: string) {
  const task = await h.provider.submit(req(prompt));
  return { task, final: (await pollUntilFinal(h.provider, task)).at(-1)! };
}

const callback = (body: unknown) => ({
  headers: { 'content-type': 'application/json' },
  rawBody: Buffer.from(JSON.stringify(body)),
});

// Every Ark model of the catalog, each with the parameters its members would send.
for (const model of ARK_MODELS) {
  describeVideoProviderConformance(`ark ${model.id}`, (opts) => startArk({ ...opts, model }), {
    cancelQueued: true,
    webhooks: true,
    webhookTrust: 'refetch',
  });
}

it('runs the conformance suite for the four Ark models of the catalog', () => {
  expect(ARK_MODELS.map((m) => m.id)).toEqual([
    'seedance-1-pro-ark',
    'seedance-1.5-pro-ark',
    'seedance-2-ark',
    'seedance-2-fast-ark',
  ]);
});

describe('ark adapter', () => {
  describe('when it creates a task', () => {
    it('sends the parameters as body fields: duration a number, camera_fixed, seed, watermark false, no text flags', async () => {
      const h = await open();
      const params = { durationS: 7, resolution: '480p' as const, aspectRatio: '9:16', seed: 42, cameraFixed: true };
      await h.provider.submit(req('a red kite', { params }));
      const create = h.sim.calls.find((c) => c.route === 'create')!;
      expect(create).toMatchObject({ method: 'POST', path: '/api/v3/contents/generations/tasks', status: 200 });
      expect(h.sim.requests()[0]!.body).toEqual({
        model: MODEL,
        content: [{ type: 'text', text: 'a red kite' }],
        resolution: '480p',
        ratio: '9:16',
        duration: 7,
        camera_fixed: true,
        seed: 42,
        watermark: false,
        execution_expires_after: 3600,
        return_last_frame: true,
      });
      expect(h.sim.requests()[0]!.params).toMatchObject({
        resolution: '480p',
        ratio: '9:16',
        duration: 7,
        seed: 42,
        cameraFixed: true,
      });
    });

    it('sends the image as a first_frame item and asks for the image’s own shape with adaptive', async () => {
      const h = await open();
      const imageUrl = 'http://127.0.0.1:1/media/input.png';
      await h.provider.submit(
        req('animate this', { imageUrl, params: { ...DEFAULT_TEST_PARAMS, aspectRatio: 'auto' } }),
      );
      const body = h.sim.requests()[0]!.body;
      expect(body.content).toEqual([
        { type: 'text', text: 'animate this' },
        { type: 'image_url', image_url: { url: imageUrl }, role: 'first_frame' },
      ]);
      expect(body.ratio).toBe('adaptive');
    });

    it('may send the image inline as a data: URI', async () => {
      const h = await open();
      expect(h.provider.acceptsInlineImages).toBe(true);
      const dataUri = `data:image/png;base64,${(await readFile(SIM_ASSETS.image)).toString('base64')}`;
      await expect(h.provider.submit(req('inline', { imageUrl: dataUri }))).resolves.toHaveProperty('taskId');
      expect(h.sim.requests()[0]!.image).toEqual({ url: dataUri, role: 'first_frame' });
    });

    it('asks for callbacks with callback_url and tells the simulator which job it is', async () => {
      const h = await open();
      const task = await h.provider.submit(req('hooked', { jobId: 'job-77', webhookUrl: h.receiver.url }));
      expect(task.taskId).toMatch(TASK_ID_RE);
      expect(h.sim.task(task.taskId)!.body.callback_url).toBe(h.receiver.url);
      expect(h.sim.stats.createsByJobId.get('job-77')).toBe(1);
    });

    describe('when the member typed Ark’s own --flags into the prompt', () => {
      it('takes their dashes off, so the clip made is the clip charged', async () => {
        const h = await open();
        await h.provider.submit(
          req('a cat --resolution 1080p --duration 12 --rs 1080p --wm true', {
            params: { ...DEFAULT_TEST_PARAMS, resolution: '480p' },
          }),
        );
        const task = h.sim.requests()[0]!;
        expect(task.prompt).toBe('a cat resolution 1080p duration 12 rs 1080p wm true');
        expect(task.textFlags).toEqual({});
        expect(task.params).toMatchObject({ resolution: '480p', duration: 5, watermark: false });
      });

      it('leaves dashes that are not flags alone', () => {
        expect(neutralizeTextFlags('a well-known -- dramatic pause --seedling --durations')).toBe(
          'a well-known -- dramatic pause --seedling --durations',
        );
        expect(neutralizeTextFlags('--seed 1\n---ratio 1:1')).toBe('seed 1\nratio 1:1');
        expect(neutralizeTextFlags('cat,--duration 12 x--RS 1080p')).toBe('cat, duration 12 x RS 1080p');
      });
    });

    describe('when the key is wrong', () => {
      it('throws a non-retryable auth error', async () => {
        const h = await open({ provider: { apiKey: 'not-the-key' } });
        await expectProviderError(h.provider.submit(req('x')), { kind: 'auth', retryable: false, status: 401 });
        expect(h.sim.stats.creates).toBe(0);
      });
    });

    describe('when the model or endpoint does not exist', () => {
      it('throws a non-retryable not_found error', async () => {
        const h = await open();
        await expectProviderError(h.provider.submit(req('x', { providerModel: 'doubao-nothing-1' })), {
          kind: 'not_found',
          retryable: false,
          status: 404,
        });
      });
    });
  });

  describe('when Ark rejects the input', () => {
    it('reports a flagged prompt at create as content_policy at the input stage', async () => {
      const h = await open();
      await expectProviderError(h.provider.submit(req(`nsfw ${ARK_SIM_MARKERS.contentPolicyInput}`)), {
        kind: 'content_policy',
        stage: 'input',
        retryable: false,
        status: 400,
      });
      expect(h.sim.stats.creates).toBe(0);
    });

    it.each([
      'InputImageSensitiveContentDetected.PrivacyInformation',
      'InputImageSensitiveContentDetected.PolicyViolation',
      'InputVideoSensitiveContentDetected.PrivacyInformation',
      'InputTextRiskDetection',
      'InputImageRiskDetection',
      'ContentSecurityDetectionError',
    ])('reports %s as content_policy at the input stage', async (code) => {
      const h = await open();
      h.sim.injectFault({ kind: 'error', status: 400, code });
      await expectProviderError(h.provider.submit(req('x')), {
        kind: 'content_policy',
        stage: 'input',
        retryable: false,
      });
    });

    it('turns InvalidParameter into a validation error naming the parameter, without Ark’s request id', async () => {
      const h = await open();
      const error = await expectProviderError(
        h.provider.submit(req('too long', { params: { ...DEFAULT_TEST_PARAMS, durationS: 13 } })),
        {
          kind: 'validation',
          retryable: false,
          status: 400,
        },
      );
      expect(error.message).toContain('`duration`');
      expect(error.message).not.toMatch(/Request id/i);
    });

    it('turns MissingParameter into a validation error', async () => {
      const h = await open();
      h.sim.injectFault({
        kind: 'error',
        status: 400,
        code: 'MissingParameter',
        param: 'content',
        message: 'This field is required.',
      });
      const error = await expectProviderError(h.provider.submit(req('x')), { kind: 'validation', retryable: false });
      expect(error.message).toBe('content: This field is required.');
    });
  });

  describe('when Ark refuses the request with a code of its own', () => {
    it('is a validation error in Ark’s words, without internals', async () => {
      const h = await open();
      h.sim.injectFault({
        kind: 'error',
        status: 400,
        code: 'InvalidEndpoint.ClosedEndpoint',
        message: 'The endpoint is closed.',
      });
      const error = await expectProviderError(h.provider.submit(req('x')), {
        kind: 'validation',
        retryable: false,
        status: 400,
      });
      expect(error.message).toBe('The endpoint is closed.');
    });
  });

  describe('when the account cannot use Ark', () => {
    it.each<[string, ProviderErrorKind]>([
      ['AccountOverdueError', 'insufficient_funds'],
      ['AccessDenied', 'auth'],
      ['ModelNotOpen', 'auth'],
    ])('reports a 403 %s as non-retryable %s', async (code, kind) => {
      const h = await open();
      h.sim.injectFault({ kind: 'error', status: 403, code });
      await expectProviderError(h.provider.submit(req('x')), { kind, retryable: false, status: 403 });
    });
  });

  describe('when Ark is busy or failing', () => {
    it.each([
      'RateLimitExceeded.EndpointRPMExceeded',
      'RateLimitExceeded.EndpointTPMExceeded',
      'ModelAccountRpmRateLimitExceeded',
      'ModelAccountTpmRateLimitExceeded',
      'QuotaExceeded',
      'ServerOverloaded',
      'ModelLoadingError',
    ])('reports a 429 %s as a retryable rate_limit with its Retry-After', async (code) => {
      const h = await open();
      h.sim.injectFault({ kind: 'rate_limit', code, retryAfter: '12' });
      await expectProviderError(h.provider.submit(req('x')), {
        kind: 'rate_limit',
        retryable: true,
        retryAfterS: 12,
        status: 429,
      });
    });

    it('reports the prompt-driven 429s until they stop, creating the task once', async () => {
      const h = await open();
      const prompt = `busy ${ARK_SIM_MARKERS.rateLimit(2)}`;
      await expectProviderError(h.provider.submit(req(prompt)), { kind: 'rate_limit', retryAfterS: 1 });
      await expectProviderError(h.provider.submit(req(prompt)), { kind: 'rate_limit', retryAfterS: 1 });
      await expect(h.provider.submit(req(prompt))).resolves.toHaveProperty('taskId');
      expect(h.sim.createsFor(prompt)).toBe(1);
    });

    it.each([500, 502, 503])('reports a %i as a retryable transient error', async (status) => {
      const h = await open();
      h.sim.injectFault({ kind: 'server_error', status });
      await expectProviderError(h.provider.submit(req('x')), { kind: 'transient', retryable: true, status });
    });

    it('reports the prompt-driven 500s as transient', async () => {
      const h = await open();
      const prompt = `flaky ${ARK_SIM_MARKERS.serverError(1)}`;
      await expectProviderError(h.provider.submit(req(prompt)), { kind: 'transient', status: 500 });
      await expect(h.provider.submit(req(prompt))).resolves.toHaveProperty('taskId');
    });
  });

  describe('when it reads a task', () => {
    it('maps queued, running and succeeded, with a signed TOS-style video URL', async () => {
      const h = await open({ queueMs: 40, runMs: 40 });
      const task = await h.provider.submit(req('a lighthouse'));
      const seen = await pollUntilFinal(h.provider, task);
      expect(seen.map((s) => s.state)).toEqual(expect.arrayContaining(['queued', 'running', 'succeeded']));
      const final = seen.at(-1)!;
      if (final.state !== 'succeeded') throw new Error(final.state);
      const url = new URL(final.videoUrl);
      expect(url.pathname).toBe(`/files/${task.taskId}/output.mp4`);
      expect(url.searchParams.get('X-Tos-Algorithm')).toBe('TOS4-HMAC-SHA256');
      expect(url.searchParams.get('X-Tos-Expires')).toBe('86400');
    });

    it('refuses a task id that is not a plain token without calling Ark', async () => {
      const h = await open();
      await expectProviderError(h.provider.status({ taskId: '../../secrets', providerModel: MODEL }), {
        kind: 'not_found',
      });
      expect(h.sim.calls).toHaveLength(0);
    });

    describe('when the safety filter flagged what was generated', () => {
      it('reports a flagged video as content_policy at the output stage, in Ark’s words', async () => {
        const h = await open({ queueMs: 0, runMs: 10 });
        const { final } = await finalOf(h, `street ${ARK_SIM_MARKERS.contentPolicy}`);
        expect(final).toMatchObject({
          state: 'failed',
          error: { kind: 'content_policy', stage: 'output', retryable: false },
        });
        if (final.state === 'failed')
          expect(final.error.message).toBe(
            'The request failed because the output video may contain sensitive information.',
          );
      });

      it('reports flagged audio as content_policy at the output stage too', async () => {
        const h = await open({ queueMs: 0, runMs: 10 });
        const { final } = await finalOf(h, `song ${ARK_SIM_MARKERS.contentPolicyAudio}`);
        expect(final).toMatchObject({ state: 'failed', error: { kind: 'content_policy', stage: 'output' } });
      });

      it('reports a task failed with an Input* code as content_policy at the input stage', async () => {
        const h = await open();
        const task = await h.provider.submit(req('x'));
        h.sim.injectFault(
          {
            kind: 'respond',
            status: 200,
            body: {
              id: task.taskId,
              status: 'failed',
              error: { code: 'InputImageSensitiveContentDetected', message: 'flagged' },
            },
          },
          { routes: 'get' },
        );
        await expect(h.provider.status(task)).resolves.toMatchObject({
          state: 'failed',
          error: { kind: 'content_policy', stage: 'input' },
        });
      });
    });

    describe('when generation failed inside Ark', () => {
      it('reports InternalServiceError as a failed task', async () => {
        const h = await open({ queueMs: 0, runMs: 10 });
        const { final } = await finalOf(h, `boom ${ARK_SIM_MARKERS.fail}`);
        expect(final).toMatchObject({ state: 'failed', error: { kind: 'transient' } });
      });

      it('reports a failure without an error object as unknown, not as success', async () => {
        const h = await open();
        const task = await h.provider.submit(req('x'));
        h.sim.injectFault(
          { kind: 'respond', status: 200, body: { id: task.taskId, status: 'failed', error: null } },
          { routes: 'get' },
        );
        await expect(h.provider.status(task)).resolves.toMatchObject({
          state: 'failed',
          error: { kind: 'unknown', retryable: false },
        });
      });
    });

    describe('when the task expired before it finished', () => {
      it('reports a failed task of kind timeout', async () => {
        const h = await open({ queueMs: 10, runMs: 20 });
        const { task, final } = await finalOf(h, `late ${ARK_SIM_MARKERS.expired}`);
        expect(final).toMatchObject({ state: 'failed', error: { kind: 'timeout', retryable: false } });
        expect(h.sim.task(task.taskId)!.status).toBe('expired');
      });
    });

    describe('when a status read hits a gateway error page', () => {
      it('throws so the caller polls again', async () => {
        const h = await open({ queueMs: 0, runMs: 10 });
        const task = await h.provider.submit(req('gateway'));
        await pollUntilFinal(h.provider, task);
        h.sim.injectFault({ kind: 'html', status: 502 }, { routes: 'get' });
        await expectProviderError(h.provider.status(task), { kind: 'transient', retryable: true, status: 502 });
        await expect(h.provider.status(task)).resolves.toMatchObject({ state: 'succeeded' });
      });
    });
  });

  describe('when a response does not look like Ark', () => {
    it('treats a create answer without id as malformed', async () => {
      const h = await open();
      h.sim.injectFault({ kind: 'respond', status: 200, body: { task: 'cgt-1' } }, { routes: 'create' });
      await expectProviderError(h.provider.submit(req('x')), { kind: 'malformed', retryable: true });
    });

    it('treats an id that is not a plain token as malformed', async () => {
      const h = await open();
      h.sim.injectFault({ kind: 'respond', status: 200, body: { id: '../../admin' } }, { routes: 'create' });
      await expectProviderError(h.provider.submit(req('x')), { kind: 'malformed' });
    });

    it('treats a video URL that is not http(s) as malformed', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(req(`odd ${ARK_SIM_MARKERS.badVideoUrl}`));
      h.sim.complete(task.taskId);
      await expectProviderError(h.provider.status(task), { kind: 'malformed', retryable: true });
    });

    it('treats success without a video URL as malformed', async () => {
      const h = await open();
      const task = await h.provider.submit(req('x'));
      h.sim.injectFault(
        { kind: 'respond', status: 200, body: { id: task.taskId, status: 'succeeded', content: {} } },
        { routes: 'get' },
      );
      await expectProviderError(h.provider.status(task), { kind: 'malformed' });
    });

    it('treats an unknown status value as malformed', async () => {
      const h = await open();
      const task = await h.provider.submit(req('x'));
      h.sim.injectFault({ kind: 'respond', status: 200, body: { id: task.taskId, status: 'done' } }, { routes: 'get' });
      await expectProviderError(h.provider.status(task), { kind: 'malformed' });
    });

    it('treats an answer about another task as malformed', async () => {
      const h = await open();
      const task = await h.provider.submit(req('x'));
      h.sim.injectFault(
        { kind: 'respond', status: 200, body: { id: 'cgt-20250101000000-other', status: 'queued' } },
        { routes: 'get' },
      );
      await expectProviderError(h.provider.status(task), { kind: 'malformed' });
    });

    it('treats truncated JSON as malformed', async () => {
      const h = await open();
      const task = await h.provider.submit(req('x'));
      h.sim.injectFault({ kind: 'truncated' }, { routes: 'get', phase: 'after' });
      await expectProviderError(h.provider.status(task), { kind: 'malformed', retryable: true });
    });

    it('times out a body that stalls halfway', async () => {
      const h = await open({ timeoutMs: 150 });
      const task = await h.provider.submit(req('x'));
      h.sim.injectFault({ kind: 'hang_body' }, { routes: 'get', phase: 'after' });
      await expectProviderError(h.provider.status(task), { kind: 'transient', retryable: true });
    });

    it('recovers from a slow answer within the deadline', async () => {
      const h = await open();
      const task = await h.provider.submit(req('x'));
      h.sim.injectFault({ kind: 'slow', delayMs: 30 }, { routes: 'get' });
      await expect(h.provider.status(task)).resolves.toHaveProperty('state');
    });
  });

  describe('when it cancels', () => {
    it('deletes a queued task, which Ark then reports cancelled', async () => {
      const h = await open();
      const task = await h.provider.submit(req(`wait ${ARK_SIM_MARKERS.queuedForever}`));
      await expect(h.provider.cancel(task)).resolves.toBe(true);
      expect(h.sim.calls.filter((c) => c.route !== 'create').map((c) => `${c.method} ${c.status}`)).toEqual([
        'GET 200',
        'DELETE 200',
      ]);
      expect(h.sim.task(task.taskId)!.status).toBe('cancelled');
      await expect(h.provider.status(task)).resolves.toMatchObject({
        state: 'failed',
        error: { kind: 'unknown', retryable: false },
      });
    });

    it('returns false for a running task without sending DELETE, and the task still finishes', async () => {
      const h = await open({ queueMs: 0, runMs: 60 });
      const task = await h.provider.submit(req('running'));
      await expect(h.provider.status(task)).resolves.toEqual({ state: 'running' });
      await expect(h.provider.cancel(task)).resolves.toBe(false);
      expect(h.sim.stats.deleteCalls).toBe(0);
      expect((await pollUntilFinal(h.provider, task)).at(-1)!.state).toBe('succeeded');
    });

    it('never deletes the record of a finished task', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(req('done'));
      await pollUntilFinal(h.provider, task);
      await expect(h.provider.cancel(task)).resolves.toBe(false);
      expect(h.sim.stats.deleteCalls).toBe(0);
      await expect(h.provider.status(task)).resolves.toMatchObject({ state: 'succeeded' });
    });

    it('returns false when the task started running between the read and the delete', async () => {
      const h = await open();
      const task = await h.provider.submit(req(`wait ${ARK_SIM_MARKERS.queuedForever}`));
      h.sim.injectFault({ kind: 'error', status: 409, code: 'InvalidAction.TaskRunning' }, { routes: 'delete' });
      await expect(h.provider.cancel(task)).resolves.toBe(false);
    });

    it('returns false for an unknown task', async () => {
      const h = await open();
      await expect(h.provider.cancel({ taskId: 'cgt-20250629201507-zzzzz', providerModel: MODEL })).resolves.toBe(
        false,
      );
    });

    it('throws when the delete is rate-limited, so the caller may try again', async () => {
      const h = await open();
      const task = await h.provider.submit(req(`wait ${ARK_SIM_MARKERS.queuedForever}`));
      h.sim.injectFault({ kind: 'rate_limit', retryAfter: '2' }, { routes: 'delete' });
      await expectProviderError(h.provider.cancel(task), { kind: 'rate_limit', retryAfterS: 2 });
    });
  });
});

describe('ark models of the catalog', () => {
  describe('when a member asks for what a model does not offer', () => {
    it.each<[string, Parameters<typeof resolveParams>[1], string]>([
      ['seedance-1-pro-ark', { audio: true }, 'no_audio'],
      ['seedance-1.5-pro-ark', { duration: 3 }, 'bad_duration'],
      ['seedance-1.5-pro-ark', { duration: 13 }, 'bad_duration'],
      ['seedance-2-ark', { duration: 16 }, 'bad_duration'],
      ['seedance-2-ark', { duration: 3 }, 'bad_duration'],
      ['seedance-2-fast-ark', { resolution: '1080p' }, 'bad_resolution'],
    ])('%s refuses %j before anything is charged', (id, options, identifier) => {
      expect(() => resolveParams(arkModel(id), options, false)).toThrow(expect.objectContaining({ identifier }));
    });

    it('offers 15 s clips on Seedance 2.0 and 2.0 Fast, with audio on by default, and keeps camera_fixed to 1.x', () => {
      expect(resolveParams(arkModel('seedance-2-ark'), { duration: 15, resolution: '1080p' }, false)).toMatchObject({
        durationS: 15,
        audio: true,
      });
      expect(
        resolveParams(arkModel('seedance-2-fast-ark'), { duration: 15, cameraFixed: true }, false),
      ).not.toHaveProperty('cameraFixed');
      expect(resolveParams(arkModel('seedance-1.5-pro-ark'), { cameraFixed: true, audio: false }, false)).toMatchObject(
        { cameraFixed: true, audio: false },
      );
    });
  });

  describe('when a task is created for each model', () => {
    it.each(ARK_MODELS.map((m) => [m.id, m] as const))(
      '%s sends generate_audio only where the model makes sound, and the simulator takes it',
      async (_id, model) => {
        const h = await open({ model });
        await h.provider.submit(h.request('a drum solo'));
        const task = h.sim.requests()[0]!;
        expect(task.model).toBe(model.providerModels.textToVideo);
        expect(task.body.generate_audio).toBe(model.supportsAudio ? true : undefined);
        // Every task asks for its last frame: Extend continues from it.
        expect(task.body.return_last_frame).toBe(true);
        expect(task.body).not.toHaveProperty('service_tier');
      },
    );

    it('sends generate_audio false when the member turned sound off', async () => {
      const model = arkModel('seedance-2-ark');
      const h = await open({ model });
      await h.provider.submit(
        catalogReq(model, 'silent film', { params: resolveParams(model, { audio: false }, false) }),
      );
      expect(h.sim.requests()[0]!.body.generate_audio).toBe(false);
    });
  });

  describe('when the owner chose a service tier', () => {
    const flexModels = new Set(ARK_MODELS.filter((m) => m.offersFlexTier).map((m) => m.providerModels.textToVideo));

    it('asks for flex on the models that offer it and leaves Seedance 2.0 at Ark’s default', async () => {
      const h = await open({ provider: { serviceTier: 'flex', flexModels } });
      for (const model of ARK_MODELS) await h.provider.submit(catalogReq(model, `tiered ${model.id}`));
      expect(Object.fromEntries(h.sim.requests().map((t) => [t.model, t.body.service_tier]))).toEqual({
        'doubao-seedance-1-0-pro-250528': 'flex',
        'doubao-seedance-1-5-pro-251215': 'flex',
        'doubao-seedance-2-0-260128': undefined,
        'doubao-seedance-2-0-fast-260128': undefined,
      });
    });

    it('sends default to every model when the owner named it', async () => {
      const h = await open({ provider: { serviceTier: 'default', flexModels } });
      for (const model of ARK_MODELS) await h.provider.submit(catalogReq(model, `tiered ${model.id}`));
      expect(h.sim.requests().map((t) => t.body.service_tier)).toEqual(['default', 'default', 'default', 'default']);
    });
  });
});

describe('ark callbacks', () => {
  async function hooked(h: ArkHarness, prompt = 'hook') {
    return h.provider.submit(req(prompt, { webhookUrl: h.receiver.url }));
  }
  const bodyOf = (d: { rawBody: Uint8Array }) =>
    JSON.parse(Buffer.from(d.rawBody).toString()) as Record<string, unknown>;

  describe('when Ark calls back', () => {
    it('sends one per status change, unsigned, and none of them moves the job by itself', async () => {
      const h = await open({ queueMs: 30, runMs: 30 });
      const task = await hooked(h);
      const deliveries = [await h.receiver.next(), await h.receiver.next(), await h.receiver.next()];
      expect(deliveries.map((d) => bodyOf(d).status)).toEqual(['queued', 'running', 'succeeded']);
      expect(Object.keys(deliveries[0]!.headers).filter((k) => /signature|hmac/i.test(k))).toEqual([]);
      const events = await Promise.all(deliveries.map((d) => h.provider.verifyWebhook(d)));
      // Unsigned, so no dedup key; the claimed queued / running ones are only acknowledged, the last is a nudge.
      expect(events).toEqual([
        { taskId: task.taskId, progressOnly: true },
        { taskId: task.taskId, progressOnly: true },
        { taskId: task.taskId },
      ]);
    });

    it('reads duplicate deliveries as the same event', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      await hooked(h, `twice ${ARK_SIM_MARKERS.dupWebhook}`);
      const first = await h.receiver.next();
      const second = await h.receiver.next();
      const [a, b] = await Promise.all([h.provider.verifyWebhook(first), h.provider.verifyWebhook(second)]);
      expect(a).toEqual(b);
    });

    it('can deliver out of order, final first', async () => {
      const h = await open({ queueMs: 20, runMs: 20, sim: { callbackOrder: 'final_first' } });
      await hooked(h);
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push(bodyOf(await h.receiver.next()).status);
      expect(statuses).toEqual(['succeeded', 'queued', 'running']);
    });

    it('re-delivers an unacknowledged final callback three times', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { callbackRetryDelayMs: 5 } });
      h.receiver.respondWith(500);
      const task = await hooked(h);
      for (let i = 0; i < 6; i++) await h.receiver.next();
      await h.sim.webhooksSettled();
      const finals = h.sim.webhookDeliveries.filter((d) => d.taskStatus === 'succeeded');
      expect(finals.map((d) => d.attempt)).toEqual([1, 2, 3, 4]);
      expect(h.sim.webhookDeliveries.filter((d) => d.taskStatus !== 'succeeded').map((d) => d.attempt)).toEqual([1, 1]);
      await expect(h.provider.status(task)).resolves.toMatchObject({ state: 'succeeded' });
    });

    it('may never call back, and polling still finds the result', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await hooked(h, `silent ${ARK_SIM_MARKERS.noWebhook}`);
      expect((await pollUntilFinal(h.provider, task)).at(-1)!.state).toBe('succeeded');
      await h.sim.webhooksSettled();
      expect(h.receiver.deliveries).toHaveLength(0);
    });
  });

  describe('when someone else posts a callback', () => {
    it('believes none of a forged success: the status read still says queued', async () => {
      const h = await open();
      const task = await h.provider.submit(req(`wait ${ARK_SIM_MARKERS.queuedForever}`));
      const forged = callback({
        id: task.taskId,
        status: 'succeeded',
        content: { video_url: 'https://evil.example/x.mp4' },
        updated_at: 1,
      });
      const event = await h.provider.verifyWebhook(forged);
      expect(event).toEqual({ taskId: task.taskId });
      expect(event.status).toBeUndefined();
      await expect(h.provider.status(task)).resolves.toEqual({ state: 'queued' });
    });

    it.each([
      ['not JSON', Buffer.from('id=cgt-20250629201507-n6k56')],
      ['JSON null', Buffer.from('null')],
      ['an array', Buffer.from('[{"id":"cgt-20250629201507-n6k56"}]')],
      ['no id', Buffer.from('{"status":"succeeded"}')],
      ['a numeric id', Buffer.from('{"id":42}')],
      ['an empty id', Buffer.from('{"id":""}')],
      ['an id with a path', Buffer.from('{"id":"../../admin"}')],
      ['a status that is not a status word', Buffer.from('{"id":"cgt-20250629201507-n6k56","status":"<script>"}')],
      ['an updated_at that is not a timestamp', Buffer.from('{"id":"cgt-20250629201507-n6k56","updated_at":"soon"}')],
      [
        'a body of 300 KiB',
        Buffer.from(JSON.stringify({ id: 'cgt-20250629201507-n6k56', pad: 'x'.repeat(300 * 1024) })),
      ],
    ])('rejects a body with %s', async (_label, rawBody) => {
      const h = await open();
      await expect(h.provider.verifyWebhook({ headers: {}, rawBody })).rejects.toBeInstanceOf(WebhookAuthError);
    });
  });
});

describe('ark simulator', () => {
  async function sim(opts: ArkSimOptions = {}) {
    const s = await startArkSimulator({ queueMs: 0, runMs: 0, ...opts });
    onTestFinished(() => s.close());
    return s;
  }

  describe('when a client names no User-Agent', () => {
    it('refuses it with 403, as some providers’ edges do, while the adapter always names itself', async () => {
      const s = await sim();
      const res = await request(`${s.url}/contents/generations/tasks/cgt-1`, {
        headers: { authorization: `Bearer ${s.apiKey}` },
      });
      expect(res.statusCode).toBe(403);
      await res.body.dump();
      expect(USER_AGENT).toMatch(/^clipbot\/\d+\.\d+\.\d+/);
    });
  });
  interface Answer {
    id: string;
    error: { code: string; message: string; param: string; type: string };
  }
  interface TaskBody {
    id: string;
    status: string;
    content: { video_url: string };
    usage: { completion_tokens: number };
    created_at: number;
    updated_at: number;
  }
  const post = async (s: ArkSimulator, body: unknown, key = s.apiKey) => {
    const res = await request(`${s.url}/contents/generations/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'user-agent': 'clipbot-test', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as Answer };
  };
  const get = async (s: ArkSimulator, id: string) => {
    const res = await request(`${s.url}/contents/generations/tasks/${id}`, {
      headers: { authorization: `Bearer ${s.apiKey}`, 'user-agent': 'clipbot-test' },
    });
    return { status: res.statusCode, body: (await res.body.json()) as TaskBody };
  };
  const text = (t: string) => [{ type: 'text', text: t }];
  const fetchBytes = async (url: string) => {
    const res = await request(url);
    return { status: res.statusCode, headers: res.headers, bytes: Buffer.from(await res.body.arrayBuffer()) };
  };

  describe('when the input breaks the rules', () => {
    it.each([
      ['resolution', '4k'],
      ['ratio', '2:1'],
      ['duration', 13],
      ['duration', '5'],
      ['camera_fixed', 'yes'],
      ['seed', 2 ** 32],
    ])('answers 400 InvalidParameter for %s %j, OpenAI-style, and creates nothing', async (field, value) => {
      const s = await sim();
      const res = await post(s, { model: MODEL, content: text('x'), [field]: value });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'InvalidParameter', param: field, type: 'BadRequest' });
      expect(res.body.error.message).toMatch(/Request id: 0217/);
      expect(s.stats).toMatchObject({ createCalls: 1, creates: 0 });
    });

    it.each<[string, Record<string, unknown>, string]>([
      ['generate_audio on Seedance 1.0 Pro', { model: MODEL, generate_audio: true }, 'generate_audio'],
      ['draft on Seedance 2.0', { model: 'doubao-seedance-2-0-260128', draft: true }, 'draft'],
      [
        'tools on Seedance 1.5 Pro',
        { model: 'doubao-seedance-1-5-pro-251215', tools: [{ type: 'web_search' }] },
        'tools',
      ],
      ['the flex tier on Seedance 2.0', { model: 'doubao-seedance-2-0-260128', service_tier: 'flex' }, 'service_tier'],
      [
        'the flex tier on Seedance 2.0 Fast',
        { model: 'doubao-seedance-2-0-fast-260128', service_tier: 'flex' },
        'service_tier',
      ],
      ['1080p on Seedance 2.0 Fast', { model: 'doubao-seedance-2-0-fast-260128', resolution: '1080p' }, 'resolution'],
      ['16 s on Seedance 2.0', { model: 'doubao-seedance-2-0-260128', duration: 16 }, 'duration'],
      ['3 s on Seedance 1.5 Pro', { model: 'doubao-seedance-1-5-pro-251215', duration: 3 }, 'duration'],
      ['return_last_frame as a string', { model: MODEL, return_last_frame: 'true' }, 'return_last_frame'],
      ['a field the request schema does not name', { model: MODEL, aspect_ratio: '16:9' }, 'aspect_ratio'],
      ['a misspelt field', { model: 'doubao-seedance-2-0-260128', generateAudio: true }, 'generateAudio'],
    ])('answers 400 InvalidParameter for %s, naming the field, and creates nothing', async (_label, fields, param) => {
      const s = await sim();
      const res = await post(s, { content: text('x'), ...fields });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'InvalidParameter', param, type: 'BadRequest' });
      expect(res.body.error.message).toMatch(/Request id: 0217/);
      expect(s.stats.creates).toBe(0);
    });

    it.each<[string, Record<string, unknown>]>([
      ['Seedance 1.0 Pro at the flex tier', { model: MODEL, service_tier: 'flex' }],
      [
        'Seedance 1.5 Pro with audio and a draft',
        { model: 'doubao-seedance-1-5-pro-251215', generate_audio: true, draft: true, service_tier: 'flex' },
      ],
      [
        'Seedance 2.0 for 15 s at 1080p with audio and web search',
        {
          model: 'doubao-seedance-2-0-260128',
          duration: 15,
          resolution: '1080p',
          generate_audio: false,
          tools: [{ type: 'web_search' }],
        },
      ],
      ['Seedance 2.0 under its BytePlus name', { model: 'dreamina-seedance-2-0-260128', service_tier: 'default' }],
      [
        'Seedance 2.0 Fast at 720p for 4 s',
        { model: 'doubao-seedance-2-0-fast-260128', duration: 4, resolution: '720p' },
      ],
      [
        'every field the SDK names, unset ones as null as the SDK sends them',
        {
          model: MODEL,
          callback_url: null,
          return_last_frame: null,
          service_tier: null,
          execution_expires_after: null,
          priority: null,
          safety_identifier: null,
          generate_audio: null,
          draft: null,
          camera_fixed: null,
          watermark: null,
          seed: null,
          resolution: null,
          ratio: null,
          duration: null,
          frames: null,
          tools: null,
        },
      ],
    ])('accepts %s', async (_label, fields) => {
      const s = await sim();
      const res = await post(s, { content: text('x'), ...fields });
      expect(res.status).toBe(200);
      expect(res.body.id).toMatch(TASK_ID_RE);
    });

    it('answers an unknown model with 404 InvalidEndpointOrModel.NotFound in Ark’s error shape', async () => {
      const s = await sim();
      const res = await post(s, { model: 'doubao-seedance-9-0-000000', content: text('x') });
      expect(res.status).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'InvalidEndpointOrModel.NotFound', param: '', type: 'NotFound' });
      expect(s.stats.creates).toBe(0);
    });

    it('answers 400 MissingParameter without content', async () => {
      const s = await sim();
      const res = await post(s, { model: MODEL });
      expect(res.body.error).toMatchObject({ code: 'MissingParameter', param: 'content' });
    });

    it('refuses an image on a text-only model and requires one on an image-only model', async () => {
      const s = await sim();
      const image = { type: 'image_url', image_url: { url: 'https://example.com/a.png' }, role: 'first_frame' };
      expect(
        (await post(s, { model: 'doubao-seedance-1-0-lite-t2v-250428', content: [...text('x'), image] })).status,
      ).toBe(400);
      expect((await post(s, { model: 'doubao-seedance-1-0-lite-i2v-250428', content: text('x') })).status).toBe(400);
      expect(
        (await post(s, { model: 'doubao-seedance-1-0-lite-i2v-250428', content: [...text('x'), image] })).status,
      ).toBe(200);
    });

    it('refuses inline images when told Ark does not take them', async () => {
      const s = await sim({ acceptInlineImages: false });
      const image = { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } };
      expect((await post(s, { model: MODEL, content: [...text('x'), image] })).status).toBe(400);
    });

    it('answers 401 AuthenticationError for a wrong key', async () => {
      const s = await sim();
      const res = await post(s, { model: MODEL, content: text('x') }, 'wrong');
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('AuthenticationError');
    });
  });

  describe('when the prompt carries old-style --flags', () => {
    it('lets them beat the body fields by default, the costly case the adapter guards against', async () => {
      const s = await sim();
      const res = await post(s, {
        model: MODEL,
        content: text('a cat --resolution 1080p --dur 12'),
        resolution: '480p',
        duration: 5,
      });
      expect(s.task(res.body.id)!.params).toMatchObject({ resolution: '1080p', duration: 12 });
    });

    it('lets the body win when told to', async () => {
      const s = await sim({ textFlagPrecedence: 'body' });
      const res = await post(s, { model: MODEL, content: text('a cat --resolution 1080p'), resolution: '480p' });
      expect(s.task(res.body.id)!.params.resolution).toBe('480p');
    });
  });

  describe('when a task runs', () => {
    it('answers with Ark-shaped ids, Unix-second timestamps and usage on success', async () => {
      const s = await sim();
      const created = await post(s, { model: MODEL, content: text('x'), resolution: '480p', duration: 5, seed: 7 });
      expect(created.body).toEqual({ id: expect.stringMatching(TASK_ID_RE) });
      expect(created.headers['x-request-id']).toMatch(/^0217/);
      const task = (await get(s, created.body.id)).body;
      expect(task).toMatchObject({
        id: created.body.id,
        model: MODEL,
        status: 'succeeded',
        error: null,
        seed: 7,
        resolution: '480p',
        duration: 5,
      });
      expect(task.created_at).toBeLessThan(1e11);
      expect(task.updated_at).toBeGreaterThanOrEqual(task.created_at);
      expect(task.usage.completion_tokens).toBe(Math.round((864 * 480 * 24 * 5) / 1024));
    });

    it('returns content.last_frame_url, a signed link to a real PNG, only when return_last_frame was true', async () => {
      const s = await sim();
      const asked = (
        await post(s, { model: 'doubao-seedance-2-0-260128', content: text('x'), return_last_frame: true })
      ).body.id;
      const plain = (await post(s, { model: 'doubao-seedance-2-0-260128', content: text('y') })).body.id;
      const task = (await get(s, asked)).body as TaskBody & {
        content: { last_frame_url: string };
        generate_audio: boolean;
        service_tier: string;
      };
      expect(task).toMatchObject({ generate_audio: true, service_tier: 'default' });
      expect(new URL(task.content.last_frame_url).pathname).toBe(`/files/${asked}/last_frame.png`);
      const frame = await fetchBytes(task.content.last_frame_url);
      expect(frame.status).toBe(200);
      expect(frame.headers['content-type']).toBe('image/png');
      expect(frame.bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect((await fetchBytes(task.content.video_url)).headers['content-type']).toBe('video/mp4');
      // A signature is for one file: the video's does not open the frame.
      expect((await fetchBytes(task.content.video_url.replace('output.mp4', 'last_frame.png'))).status).toBe(403);
      expect((await get(s, plain)).body.content).not.toHaveProperty('last_frame_url');
    });

    it('echoes the tier it ran at', async () => {
      const s = await sim();
      const id = (await post(s, { model: MODEL, content: text('x'), service_tier: 'flex' })).body.id;
      expect((await get(s, id)).body).toMatchObject({ service_tier: 'flex' });
      expect((await get(s, id)).body).not.toHaveProperty('generate_audio');
    });

    it('lists tasks, filtered by id', async () => {
      const s = await sim();
      const a = (await post(s, { model: MODEL, content: text('a') })).body.id;
      await post(s, { model: MODEL, content: text('b') });
      const res = await request(`${s.url}/contents/generations/tasks?page_num=1&page_size=10&filter.task_ids=${a}`, {
        headers: { authorization: `Bearer ${s.apiKey}`, 'user-agent': 'clipbot-test' },
      });
      const body = (await res.body.json()) as { total: number; items: Array<{ id: string }> };
      expect(body.total).toBe(1);
      expect(body.items[0]!.id).toBe(a);
    });

    it('expires a hanging task after execution_expires_after on its clock', async () => {
      const clock = createTestClock();
      const s = await sim({ clock });
      const id = (
        await post(s, { model: MODEL, content: text(`x ${ARK_SIM_MARKERS.hang}`), execution_expires_after: 3600 })
      ).body.id;
      expect((await get(s, id)).body.status).toBe('running');
      clock.advance(3600_000);
      expect((await get(s, id)).body.status).toBe('expired');
    });

    it('cancels a running task on DELETE only when told to', async () => {
      const s = await sim({ runMs: 60_000, deleteRunning: 'cancel' });
      const id = (await post(s, { model: MODEL, content: text('x') })).body.id;
      const del = await request(`${s.url}/contents/generations/tasks/${id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${s.apiKey}`, 'user-agent': 'clipbot-test' },
      });
      await del.body.dump();
      expect((await get(s, id)).body.status).toBe('cancelled');
    });

    it('deletes the record of a finished task', async () => {
      const s = await sim();
      const id = (await post(s, { model: MODEL, content: text('x') })).body.id;
      const del = await request(`${s.url}/contents/generations/tasks/${id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${s.apiKey}`, 'user-agent': 'clipbot-test' },
      });
      await del.body.dump();
      expect(del.statusCode).toBe(200);
      expect((await get(s, id)).status).toBe(404);
    });

    it('counts a task whose create answer was dropped', async () => {
      const h = await open();
      const prompt = `lost ${ARK_SIM_MARKERS.dropSubmitResponse}`;
      await expectProviderError(h.provider.submit(req(prompt)), { kind: 'transient' });
      await h.provider.submit(req(prompt));
      expect(h.sim.createsFor(prompt)).toBe(2);
    });
  });

  describe('when it serves a finished video', () => {
    it('serves the committed MP4 for 480p and 720p with their length', async () => {
      const s = await sim();
      for (const resolution of ['480p', '720p']) {
        const id = (await post(s, { model: MODEL, content: text('x'), resolution })).body.id;
        const { body } = await get(s, id);
        const file = await fetchBytes(body.content.video_url);
        expect(file.status).toBe(200);
        expect(file.headers['content-type']).toBe('video/mp4');
        expect(Number(file.headers['content-length'])).toBe(file.bytes.length);
        expect(file.bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      }
    });

    it('refuses a tampered or expired link like a presigned TOS URL', async () => {
      const clock = createTestClock();
      const s = await sim({ clock });
      const id = (await post(s, { model: MODEL, content: text('x') })).body.id;
      const url = (await get(s, id)).body.content.video_url as string;
      expect((await fetchBytes(url.replace(/X-Tos-Expires=\d+/, 'X-Tos-Expires=999999'))).status).toBe(403);
      clock.advance(24 * 60 * 60 * 1000 + 2000);
      expect((await fetchBytes(url)).status).toBe(403);
    });

    it('can lose the file or lie about its type', async () => {
      const s = await sim();
      const gone = (await post(s, { model: MODEL, content: text(ARK_SIM_MARKERS.expiredVideo) })).body.id;
      const html = (await post(s, { model: MODEL, content: text(ARK_SIM_MARKERS.htmlVideo) })).body.id;
      expect((await fetchBytes((await get(s, gone)).body.content.video_url)).status).toBe(404);
      const lying = await fetchBytes((await get(s, html)).body.content.video_url);
      expect(lying.headers['content-type']).toBe('video/mp4');
      expect(lying.bytes.toString()).toMatch(/^<!doctype html>/);
    });
  });

  describe('when a callback receiver never answers', () => {
    it('still closes promptly while a re-delivery is pending', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { callbackRetryDelayMs: 60_000 } });
      h.receiver.respondWith(500);
      await hooked(h);
      await h.receiver.next();
      await h.receiver.next();
      await h.receiver.next();
      const started = Date.now();
      await h.sim.close();
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });

  async function hooked(h: ArkHarness) {
    return h.provider.submit(req('hook', { webhookUrl: h.receiver.url }));
  }
});

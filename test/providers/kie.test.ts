import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { GenerationParams } from '../../src/core/catalog.js';
import { MODELS } from '../../src/core/catalog.js';
import { WebhookAuthError } from '../../src/core/errors.js';
import type { GenerationRequest, TaskRef, WebhookRequest } from '../../src/core/ports.js';
import { ENGLISH_ONLY_MESSAGE } from '../../src/providers/kie-api.js';
import { KIE_NO_CALLBACK_URL } from '../../src/providers/kie-suno.js';
import {
  createKieProvider,
  KIE_WEBHOOK_TOLERANCE_S,
  signKieWebhook,
  type KieProvider,
  type KieProviderOptions,
} from '../../src/providers/kie.js';
import {
  KIE_SIM_MARKERS,
  KIE_SIM_MESSAGES,
  signKieSimWebhook,
  startKieSimulator,
  type KieErrorStyle,
  type KieSimFault,
  type KieSimOptions,
  type KieSimRoute,
  type KieSimulator,
} from '../../src/sim/kie.js';
import {
  createTestClock,
  describeVideoProviderConformance,
  expectProviderError,
  pollUntilFinal,
  type ConformanceHarness,
  type ConformanceSetupOptions,
  type ProviderOperation,
  type TestClock,
} from './conformance.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

const VEO_FAST = MODELS.find((m) => m.id === 'veo3.1-fast')!.providerModels.textToVideo;
const VEO = MODELS.find((m) => m.id === 'veo3.1')!.providerModels.textToVideo;
const SUNO = MODELS.find((m) => m.id === 'suno-music-video')!.providerModels.textToVideo;
const HMAC_KEY = 'test-kie-hmac-key';
const PARAMS: GenerationParams = { durationS: 8, resolution: '720p', aspectRatio: '16:9' };
const PARAMS_1080P: GenerationParams = { ...PARAMS, resolution: '1080p' };
const PARAMS_4K: GenerationParams = { ...PARAMS, resolution: '4k' };

const OPERATION_ROUTES: Record<ProviderOperation, KieSimRoute[]> = {
  submit: ['veo_generate', 'mp4_generate'],
  status: ['veo_record_info', 'veo_1080p', 'veo_4k', 'mp4_record_info'],
  cancel: [],
};

type Api = 'veo' | 'suno';

interface KieHarness extends ConformanceHarness {
  provider: KieProvider;
  sim: KieSimulator;
  receiver: WebhookReceiver;
  clock: TestClock;
}

interface KieHarnessOptions extends ConformanceSetupOptions {
  api?: Api;
  sim?: KieSimOptions;
  provider?: Partial<KieProviderOptions>;
  /** False: neither the simulator nor the adapter has a webhook key. */
  signed?: boolean;
}

const veoRequest = (prompt: string, extra: Partial<GenerationRequest> = {}): GenerationRequest => ({
  jobId: 'job-1',
  providerModel: VEO_FAST,
  prompt,
  params: PARAMS,
  ...extra,
});

/** Suno has no prompt: the conformance suite's prompt (and its markers) travel as the `author`. */
const sunoRequest = (author: string, extra: Partial<GenerationRequest> = {}): GenerationRequest => ({
  jobId: 'job-1',
  providerModel: SUNO,
  prompt: '',
  params: PARAMS,
  musicVideo: { taskId: 'suno-music-task-1', audioId: 'e231-audio-1', author },
  ...extra,
});

const bodyOf = (d: WebhookRequest): { code: number; msg: string; data: Record<string, unknown> } =>
  JSON.parse(Buffer.from(d.rawBody).toString('utf8')) as { code: number; msg: string; data: Record<string, unknown> };

const taskIdIn = (d: WebhookRequest): string => {
  const data = bodyOf(d).data;
  return String(data.taskId ?? data.task_id);
};

/** A kie simulator, a webhook receiver and an adapter pointed at them, all on one movable clock. */
async function startKie(opts: KieHarnessOptions = {}): Promise<KieHarness> {
  const clock = createTestClock();
  const signed = opts.signed ?? true;
  const sim = await startKieSimulator({
    clock,
    queueMs: opts.queueMs ?? 40,
    runMs: opts.runMs ?? 80,
    ...(signed ? { hmacKey: HMAC_KEY } : {}),
    ...opts.sim,
  });
  const receiver = await startWebhookReceiver();
  const provider = createKieProvider({
    apiKey: sim.apiKey,
    baseUrl: sim.url,
    clock,
    timeoutMs: opts.timeoutMs ?? 5000,
    ...(sim.hmacKey !== undefined ? { webhookHmacKey: sim.hmacKey } : {}),
    ...opts.provider,
  });
  const fault = (op: ProviderOperation, f: KieSimFault, times = 1) =>
    sim.injectFault(f, { routes: OPERATION_ROUTES[op], times });
  const api = opts.api ?? 'veo';
  return {
    provider,
    sim,
    receiver,
    clock,
    request: api === 'veo' ? veoRequest : sunoRequest,
    markers: { contentPolicyOutput: KIE_SIM_MARKERS.contentPolicy, stayQueued: KIE_SIM_MARKERS.hang },
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
    unknownTask:
      api === 'veo'
        ? { taskId: 'veo_task_0000000000000000', providerModel: VEO_FAST }
        : { taskId: '0'.repeat(32), providerModel: SUNO },
    webhooks: {
      url: receiver.url,
      next: () => receiver.next(),
      forge: (real) => ({
        headers: {
          ...real.headers,
          ...signKieSimWebhook('not-the-key', taskIdIn(real), Number(real.headers['x-webhook-timestamp'])),
        },
        rawBody: real.rawBody,
      }),
      maxAgeS: KIE_WEBHOOK_TOLERANCE_S,
    },
    async close() {
      await provider.close();
      await sim.close();
      await receiver.close();
    },
  };
}

async function open(opts: KieHarnessOptions = {}): Promise<KieHarness> {
  const h = await startKie(opts);
  onTestFinished(() => h.close());
  return h;
}

async function finalOf(h: KieHarness, task: TaskRef) {
  return (await pollUntilFinal(h.provider, task)).at(-1)!;
}

describeVideoProviderConformance('kie Veo', (o) => startKie({ ...o, api: 'veo' }), {
  cancelQueued: false,
  webhooks: true,
  webhookTrust: 'signed-refetch',
});

describeVideoProviderConformance(
  'kie Veo without a webhook key',
  (o) => startKie({ ...o, api: 'veo', signed: false }),
  {
    cancelQueued: false,
    webhooks: true,
    webhookTrust: 'refetch',
  },
);

describeVideoProviderConformance('kie Suno music video', (o) => startKie({ ...o, api: 'suno' }), {
  cancelQueued: false,
  webhooks: true,
  webhookTrust: 'signed-refetch',
  outputSafetyFilter: false,
});

describe('kie adapter', () => {
  describe('when it submits a Veo video', () => {
    it('posts the prompt, model, TEXT_2_VIDEO and the documented aspect_ratio (no deprecated enableFallback), with the job id header', async () => {
      const h = await open();
      await h.provider.submit(
        veoRequest('a red kite', { jobId: 'job-9', providerModel: VEO, params: { ...PARAMS, aspectRatio: '9:16' } }),
      );
      const [task] = h.sim.requests();
      expect(task!.input).toEqual({
        prompt: 'a red kite',
        model: 'veo3',
        aspect_ratio: '9:16',
        generationType: 'TEXT_2_VIDEO',
      });
      expect(task!.aspectRatio).toBe('9:16');
      expect(h.sim.stats.submissionsByJobId.get('job-9')).toBe(1);
      expect(h.sim.calls[0]).toMatchObject({ method: 'POST', path: '/api/v1/veo/generate' });
    });

    it('sends the image as the one imageUrl of FIRST_AND_LAST_FRAMES_2_VIDEO, and callBackUrl for a webhook', async () => {
      const h = await open();
      const imageUrl = 'https://media.example.com/inputs/job-1.png';
      await h.provider.submit(veoRequest('animate this', { imageUrl, webhookUrl: h.receiver.url }));
      expect(h.sim.requests()[0]!.input).toMatchObject({
        imageUrls: [imageUrl],
        generationType: 'FIRST_AND_LAST_FRAMES_2_VIDEO',
        callBackUrl: h.receiver.url,
      });
    });

    it.each([
      ['Quality', VEO],
      ['Fast', VEO_FAST],
    ])(
      'is accepted by the simulator’s generationType rules on %s, with and without an image',
      async (_label, providerModel) => {
        const h = await open();
        await h.provider.submit(veoRequest('text', { providerModel }));
        await h.provider.submit(
          veoRequest('image', {
            providerModel,
            imageUrl: 'https://media.example.com/a.png',
            params: { ...PARAMS, aspectRatio: 'auto' },
          }),
        );
        expect(h.sim.requests().map((t) => [t.model, t.input.generationType])).toEqual([
          [providerModel, 'TEXT_2_VIDEO'],
          [providerModel, 'FIRST_AND_LAST_FRAMES_2_VIDEO'],
        ]);
      },
    );

    it('sends "Auto" for an automatic aspect ratio', async () => {
      const h = await open();
      await h.provider.submit(veoRequest('whatever fits', { params: { ...PARAMS, aspectRatio: 'auto' } }));
      expect(h.sim.requests()[0]!.aspectRatio).toBe('Auto');
    });

    it('folds any seed into the 10000–99999 range kie accepts, the same way every time', async () => {
      const h = await open();
      await h.provider.submit(veoRequest('seeded', { params: { ...PARAMS, seed: 2_000_000_000 } }));
      await h.provider.submit(veoRequest('seeded', { params: { ...PARAMS, seed: 2_000_000_000 } }));
      const seeds = h.sim.requests().map((t) => t.input.seeds as number);
      expect(seeds[0]).toBeGreaterThanOrEqual(10_000);
      expect(seeds[0]).toBeLessThanOrEqual(99_999);
      expect(seeds[1]).toBe(seeds[0]);
    });

    it('returns the job parameters with the task, for the 1080p upgrade', async () => {
      const h = await open();
      const task = await h.provider.submit(veoRequest('hd', { params: PARAMS_1080P }));
      expect(task).toMatchObject({ providerModel: VEO_FAST, params: PARAMS_1080P });
    });

    describe('when the image is a data: URI', () => {
      it('refuses it before calling kie, which can only fetch URLs', async () => {
        const h = await open();
        await expectProviderError(h.provider.submit(veoRequest('x', { imageUrl: 'data:image/png;base64,AAAA' })), {
          kind: 'validation',
        });
        expect(h.sim.calls).toHaveLength(0);
      });
    });

    describe('when the model is not a kie model', () => {
      it('refuses it before calling kie', async () => {
        const h = await open();
        await expectProviderError(h.provider.submit(veoRequest('x', { providerModel: 'veo9' })), {
          kind: 'validation',
          retryable: false,
        });
        expect(h.sim.calls).toHaveLength(0);
      });
    });

    describe('when the key is wrong', () => {
      it('throws a non-retryable auth error', async () => {
        const h = await open({ provider: { apiKey: 'not-the-key' } });
        await expectProviderError(h.provider.submit(veoRequest('x')), { kind: 'auth', retryable: false, status: 401 });
      });
    });
  });

  describe.each<KieErrorStyle>(['envelope', 'http', 'http500'])(
    'when kie answers an error code (%s style)',
    (style) => {
      it.each([
        [401, 'You do not have access permissions', { kind: 'auth', retryable: false }],
        [402, 'The current credits are insufficient. Please top up.', { kind: 'insufficient_funds', retryable: false }],
        [404, 'Not found', { kind: 'not_found', retryable: false }],
        [429, 'Your call frequency is too high.', { kind: 'rate_limit', retryable: true }],
        [455, 'Service unavailable: under maintenance', { kind: 'transient', retryable: true }],
        [422, 'model is invalid', { kind: 'validation', retryable: false, message: 'model is invalid' }],
        [
          400,
          'Your prompt was flagged by Website as violating content policies.',
          { kind: 'content_policy', stage: 'input', retryable: false },
        ],
        [
          422,
          'Your request was rejected by Flow(public_error_prominent_people_upload).',
          { kind: 'content_policy', stage: 'input' },
        ],
        [400, 'Only English prompts are supported at this time', { kind: 'validation', message: ENGLISH_ONLY_MESSAGE }],
        [500, 'Server error', { kind: 'transient', retryable: true }],
        [501, 'Generation failed', { kind: 'transient', retryable: true }],
        [503, 'Service unavailable', { kind: 'transient', retryable: true }],
      ] as const)('maps code %i at submit', async (code, msg, expected) => {
        const h = await open();
        h.sim.injectFault({ kind: 'code', code, msg, style }, { routes: 'veo_generate' });
        await expectProviderError(h.provider.submit(veoRequest('x')), { ...expected, status: code });
        expect(h.sim.calls[0]!.status).toBe(style === 'http' ? code : style === 'http500' ? 500 : 200);
      });

      it('reads Retry-After on a 429', async () => {
        const h = await open();
        h.sim.injectFault({ kind: 'rate_limit', retryAfter: '12', style }, { routes: 'veo_generate' });
        await expectProviderError(h.provider.submit(veoRequest('x')), { kind: 'rate_limit', retryAfterS: 12 });
      });

      it('throws, rather than failing the task, when record-info itself answers an error', async () => {
        const h = await open();
        const task = await h.provider.submit(veoRequest('x'));
        h.sim.injectFault({ kind: 'code', code: 455, msg: 'maintenance', style }, { routes: 'veo_record_info' });
        await expectProviderError(h.provider.status(task), { kind: 'transient', retryable: true, status: 455 });
        await expect(h.provider.status(task)).resolves.toEqual({ state: 'running' });
      });

      it('reads the prompt-driven codes of the simulator alike', async () => {
        const h = await open({ sim: { errorStyle: style } });
        await expectProviderError(h.provider.submit(veoRequest(`x ${KIE_SIM_MARKERS.noCredits}`)), {
          kind: 'insufficient_funds',
          status: 402,
        });
        await expectProviderError(h.provider.submit(veoRequest(`x ${KIE_SIM_MARKERS.maintenance}`)), {
          kind: 'transient',
          status: 455,
        });
        const busy = `x ${KIE_SIM_MARKERS.rateLimit(1)}`;
        await expectProviderError(h.provider.submit(veoRequest(busy)), { kind: 'rate_limit', retryAfterS: 1 });
        await expect(h.provider.submit(veoRequest(busy))).resolves.toHaveProperty('taskId');
        expect(h.sim.submissionsFor(busy)).toBe(1);
      });
    },
  );

  describe('when a gateway answers instead of kie', () => {
    it('reads a bare HTML 502 as transient', async () => {
      const h = await open();
      h.sim.injectFault({ kind: 'html', status: 502 }, { routes: 'veo_generate' });
      await expectProviderError(h.provider.submit(veoRequest('x')), {
        kind: 'transient',
        retryable: true,
        status: 502,
      });
    });
  });

  describe('when a Veo generation fails', () => {
    it('reports a non-English prompt as validation with kie’s plain message', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(veoRequest('一只猫在花园里玩耍'));
      const final = await finalOf(h, task);
      expect(final).toMatchObject({
        state: 'failed',
        error: { kind: 'validation', retryable: false, message: ENGLISH_ONLY_MESSAGE },
      });
    });

    it('reports a flagged video as content_policy at the output stage', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(veoRequest(`x ${KIE_SIM_MARKERS.contentPolicy}`));
      expect(await finalOf(h, task)).toMatchObject({
        state: 'failed',
        error: { kind: 'content_policy', stage: 'output', status: 400 },
      });
    });

    it('reports a prompt flagged during generation as content_policy at the input stage', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(veoRequest(`x ${KIE_SIM_MARKERS.contentPolicyInputLate}`));
      expect(await finalOf(h, task)).toMatchObject({
        state: 'failed',
        error: { kind: 'content_policy', stage: 'input' },
      });
    });

    it('reports a prompt flagged at submit as content_policy at the input stage, with no task created', async () => {
      const h = await open();
      await expectProviderError(h.provider.submit(veoRequest(`x ${KIE_SIM_MARKERS.contentPolicyInput}`)), {
        kind: 'content_policy',
        stage: 'input',
        retryable: false,
      });
      expect(h.sim.stats.submissions).toBe(0);
    });

    it('reports a failed generation (code 501) as a final, non-retryable failure', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(veoRequest(`x ${KIE_SIM_MARKERS.fail}`));
      expect(await finalOf(h, task)).toMatchObject({
        state: 'failed',
        error: { kind: 'unknown', retryable: false, status: 501 },
      });
    });

    it('reports an image kie could not fetch as validation', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { fetchImages: true } });
      const task = await h.provider.submit(veoRequest('animate', { imageUrl: 'http://127.0.0.1:1/gone.png' }));
      const final = await finalOf(h, task);
      expect(final).toMatchObject({
        state: 'failed',
        error: { kind: 'validation', message: KIE_SIM_MESSAGES.imageFetch },
      });
    });
  });

  describe('when the member asked for the 1080p upgrade', () => {
    it('reports running until the 1080p copy is ready, then succeeds with its URL', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { hdReadyMs: 120 } });
      const task = await h.provider.submit(veoRequest('hd please', { params: PARAMS_1080P }));
      const seen = await pollUntilFinal(h.provider, task);
      const final = seen.at(-1)!;
      if (final.state !== 'succeeded') throw new Error(`expected success, got ${final.state}`);
      expect(final.videoUrl).toBe(`${h.sim.url}/files/${task.taskId}/output-1080p.mp4`);
      const notReady = h.sim.calls.filter((c) => c.route === 'veo_1080p' && c.code === 400);
      expect(notReady.length).toBeGreaterThan(0);
      expect(seen.filter((s) => s.state === 'running').length).toBeGreaterThanOrEqual(notReady.length);
      expect(h.sim.calls.find((c) => c.route === 'veo_1080p')!.path).toBe(
        `/api/v1/veo/get-1080p-video?taskId=${task.taskId}&index=0`,
      );
      const res = await request(final.videoUrl);
      expect(res.headers['content-type']).toBe('video/mp4');
      expect(
        Buffer.from(await res.body.arrayBuffer())
          .subarray(4, 8)
          .toString('latin1'),
      ).toBe('ftyp');
    });

    it('reads the request from the TaskRef the engine rebuilds from the job', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { hdReadyMs: 0 } });
      const { taskId } = await h.provider.submit(veoRequest('hd'));
      const final = await finalOf(h, { taskId, providerModel: VEO_FAST, params: PARAMS_1080P });
      expect(final).toMatchObject({ state: 'succeeded', videoUrl: expect.stringMatching(/output-1080p\.mp4$/) });
    });

    it('treats not-ready answers sent as HTTP statuses the same way', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { hdReadyMs: 80, errorStyle: 'http' } });
      const task = await h.provider.submit(veoRequest('hd', { params: PARAMS_1080P }));
      expect(await finalOf(h, task)).toMatchObject({
        state: 'succeeded',
        videoUrl: expect.stringMatching(/output-1080p\.mp4$/),
      });
      expect(h.sim.calls.some((c) => c.route === 'veo_1080p' && c.status === 400)).toBe(true);
    });

    it('throws rate_limit when the 1080p endpoint is rate limited', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(veoRequest('hd', { params: PARAMS_1080P }));
      h.sim.complete(task.taskId);
      h.sim.injectFault({ kind: 'rate_limit', retryAfter: '20' }, { routes: 'veo_1080p' });
      await expectProviderError(h.provider.status(task), { kind: 'rate_limit', retryAfterS: 20 });
    });

    it('never calls the 1080p or 4K endpoint for a 720p job', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(veoRequest('plain'));
      expect(await finalOf(h, task)).toMatchObject({
        state: 'succeeded',
        videoUrl: expect.stringMatching(/\/output\.mp4$/),
      });
      expect(h.sim.stats.hdCalls).toBe(0);
      expect(h.sim.stats.uhdCalls).toBe(0);
    });
  });

  describe('when the member asked for 4K', () => {
    it('asks get-4k-video once the video exists, reports running while kie says it is processing, then succeeds with the 4K URL', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { uhdReadyMs: 150 } });
      const task = await h.provider.submit(veoRequest('uhd please', { providerModel: VEO, params: PARAMS_4K }));
      const seen = await pollUntilFinal(h.provider, task);
      const final = seen.at(-1)!;
      if (final.state !== 'succeeded') throw new Error(`expected success, got ${final.state}`);
      const uhdCalls = h.sim.calls.filter((c) => c.route === 'veo_4k');
      expect(uhdCalls[0]).toMatchObject({ method: 'POST', path: '/api/v1/veo/get-4k-video', code: 200 });
      expect(uhdCalls.some((c) => c.code === 422)).toBe(true);
      expect(uhdCalls.at(-1)!.code).toBe(200);
      expect(h.sim.stats.hdCalls).toBe(0);
      // The 4K task is kie's own, known to record-info, and its video is the URL the job got.
      const uhd = h.sim.request(final.videoUrl.split('/').at(-2)!);
      expect(uhd).toMatchObject({
        upgradeOf: task.taskId,
        input: { taskId: task.taskId, index: 0 },
        state: 'succeeded',
      });
      expect(h.sim.requests()).toHaveLength(1);
      const res = await request(final.videoUrl);
      expect(res.headers['content-type']).toBe('video/mp4');
      await res.body.dump();
    });

    it('fails the job, not retried, when kie says the 4K version is unavailable', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { uhdReadyMs: 20 } });
      const task = await h.provider.submit(veoRequest(`x ${KIE_SIM_MARKERS.uhdUnavailable}`, { params: PARAMS_4K }));
      expect(await finalOf(h, task)).toMatchObject({
        state: 'failed',
        error: { kind: 'validation', retryable: false, message: KIE_SIM_MESSAGES.uhdUnavailable },
      });
    });

    it('throws rate_limit when the 4K endpoint is rate limited', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(veoRequest('uhd', { params: PARAMS_4K }));
      h.sim.complete(task.taskId);
      h.sim.injectFault({ kind: 'rate_limit', retryAfter: '30' }, { routes: 'veo_4k' });
      await expectProviderError(h.provider.status(task), { kind: 'rate_limit', retryAfterS: 30 });
    });

    it('treats not-ready answers sent as HTTP statuses the same way', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { uhdReadyMs: 80, errorStyle: 'http' } });
      const task = await h.provider.submit(veoRequest('uhd', { params: PARAMS_4K }));
      expect(await finalOf(h, task)).toMatchObject({ state: 'succeeded' });
      expect(h.sim.calls.some((c) => c.route === 'veo_4k' && c.status === 422)).toBe(true);
    });
  });

  describe('when it makes a Suno music video', () => {
    it('posts taskId, audioId, author, domainName and callBackUrl to the MP4 API', async () => {
      const h = await open({ api: 'suno' });
      const musicVideo = {
        taskId: 'taskId_774b9aa0422f',
        audioId: 'e231-8cadc7dc',
        author: 'DJ Name',
        domainName: 'music.example.com',
      };
      await h.provider.submit(sunoRequest('', { musicVideo, webhookUrl: h.receiver.url, jobId: 'job-mv' }));
      const [task] = h.sim.requests();
      expect(task).toMatchObject({ api: 'mp4', model: 'suno-mp4', jobId: 'job-mv' });
      expect(task!.input).toEqual({ ...musicVideo, callBackUrl: h.receiver.url });
      expect(h.sim.calls[0]!.path).toBe('/api/v1/mp4/generate');
    });

    describe('when the install has no PUBLIC_URL', () => {
      it('still sends the callBackUrl kie requires: the documented placeholder, and the video comes by polling', async () => {
        const h = await open({ api: 'suno', queueMs: 0, runMs: 10 });
        const task = await h.provider.submit(sunoRequest('DJ'));
        expect(h.sim.requests()[0]!.input.callBackUrl).toBe(KIE_NO_CALLBACK_URL);
        expect(await finalOf(h, task)).toMatchObject({ state: 'succeeded' });
        expect(h.sim.webhookDeliveries).toHaveLength(0);
      });
    });

    describe('when the same song was already made into a video (a Retry)', () => {
      it('tracks the existing MP4 task named by the 409 instead of failing', async () => {
        const h = await open({ api: 'suno', queueMs: 0, runMs: 10 });
        const first = await h.provider.submit(sunoRequest('DJ', { jobId: 'job-a' }));
        const retry = await h.provider.submit(sunoRequest('DJ', { jobId: 'job-b' }));
        expect(h.sim.calls.filter((c) => c.route === 'mp4_generate').map((c) => c.code)).toEqual([200, 409]);
        // Its own task id (the store keeps one job per task id), naming kie's task: status reads that record.
        expect(retry.taskId).toBe(`${first.taskId}#job-b`);
        expect(await finalOf(h, retry)).toMatchObject({ state: 'succeeded' });
        expect(h.sim.stats.submissions).toBe(1);
      });

      it('fails as before when the 409 does not name the existing task', async () => {
        const h = await open({ api: 'suno', sim: { mp4ConflictNamesTask: false } });
        await h.provider.submit(sunoRequest('DJ'));
        await expectProviderError(h.provider.submit(sunoRequest('DJ')), { kind: 'validation', status: 409 });
      });
    });

    it('refuses a music-video request that names no song, before calling kie', async () => {
      const h = await open({ api: 'suno' });
      const withoutSong = sunoRequest('x');
      delete withoutSong.musicVideo;
      await expectProviderError(h.provider.submit(withoutSong), { kind: 'validation' });
      expect(h.sim.calls).toHaveLength(0);
    });

    it.each(['string', 'epoch'] as const)('succeeds with response.videoUrl when times are %s', async (timeFormat) => {
      const h = await open({ api: 'suno', queueMs: 0, runMs: 10, sim: { timeFormat } });
      const task = await h.provider.submit(sunoRequest('DJ'));
      expect(await finalOf(h, task)).toEqual({
        state: 'succeeded',
        videoUrl: `${h.sim.url}/files/${task.taskId}/output.mp4`,
      });
      expect(h.sim.calls.filter((c) => c.route === 'mp4_record_info').length).toBe(h.sim.stats.recordInfoCalls);
    });

    it('reports CREATE_TASK_FAILED as validation: the song could not be used', async () => {
      const h = await open({ api: 'suno', queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(sunoRequest(`DJ ${KIE_SIM_MARKERS.createFailed}`));
      expect(await finalOf(h, task)).toMatchObject({
        state: 'failed',
        error: { kind: 'validation', message: KIE_SIM_MESSAGES.createFailed },
      });
    });

    it('reports GENERATE_MP4_FAILED as a failed generation', async () => {
      const h = await open({ api: 'suno', queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(sunoRequest(`DJ ${KIE_SIM_MARKERS.fail}`));
      const final = await finalOf(h, task);
      expect(final).toMatchObject({ state: 'failed', error: { kind: 'transient', status: 500 } });
    });

    it('takes CALLBACK_EXCEPTION with a finished video as success', async () => {
      const h = await open({ api: 'suno', queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(sunoRequest(`DJ ${KIE_SIM_MARKERS.callbackException}`));
      expect(await finalOf(h, task)).toMatchObject({ state: 'succeeded' });
    });

    it('keeps markers in the source task id too', async () => {
      const h = await open({ api: 'suno' });
      const musicVideo = { taskId: `src ${KIE_SIM_MARKERS.noCredits}`, audioId: 'a1' };
      await expectProviderError(h.provider.submit(sunoRequest('', { musicVideo })), { kind: 'insufficient_funds' });
    });
  });

  describe('when a response does not look like kie', () => {
    it('treats a generate answer without a taskId as malformed', async () => {
      const h = await open();
      h.sim.injectFault({ kind: 'respond', status: 200, body: { code: 200, msg: 'success', data: {} } });
      await expectProviderError(h.provider.submit(veoRequest('x')), { kind: 'malformed', retryable: true });
    });

    it('treats a taskId with spaces or control characters as malformed', async () => {
      const h = await open();
      h.sim.injectFault({
        kind: 'respond',
        status: 200,
        body: { code: 200, msg: 'success', data: { taskId: 'a b\n' } },
      });
      await expectProviderError(h.provider.submit(veoRequest('x')), { kind: 'malformed' });
    });

    it('treats JSON that is not an envelope as malformed', async () => {
      const h = await open();
      h.sim.injectFault({ kind: 'respond', status: 200, body: { taskId: 'veo_task_1' } });
      await expectProviderError(h.provider.submit(veoRequest('x')), { kind: 'malformed' });
    });

    it('treats a Veo result URL that is not http(s) as malformed', async () => {
      const h = await open({ queueMs: 0, runMs: 0 });
      const task = await h.provider.submit(veoRequest(`odd ${KIE_SIM_MARKERS.badVideoUrl}`));
      await expectProviderError(h.provider.status(task), { kind: 'malformed', retryable: true });
    });

    it('treats a Suno video URL that is not http(s) as malformed', async () => {
      const h = await open({ api: 'suno', queueMs: 0, runMs: 0 });
      const task = await h.provider.submit(sunoRequest(`odd ${KIE_SIM_MARKERS.badVideoUrl}`));
      await expectProviderError(h.provider.status(task), { kind: 'malformed' });
    });

    it.each([
      ['a Veo success without resultUrls', { taskId: 'T', successFlag: 1, response: { resultUrls: [] } }, VEO_FAST],
      ['a successFlag that is not a number', { taskId: 'T', successFlag: 'one' }, VEO_FAST],
      ['an answer about another task', { taskId: 'other', successFlag: 0 }, VEO_FAST],
    ])('treats %s as malformed', async (_label, data, providerModel) => {
      const h = await open();
      h.sim.injectFault(
        { kind: 'respond', status: 200, body: { code: 200, msg: 'success', data } },
        { routes: ['veo_record_info', 'mp4_record_info'] },
      );
      await expectProviderError(h.provider.status({ taskId: 'T', providerModel }), { kind: 'malformed' });
    });

    it('reads a non-numeric errorCode label as part of the verdict', async () => {
      const h = await open();
      const data = { taskId: 'T', successFlag: 2, errorCode: 'public_error_prominent_people_upload', errorMessage: '' };
      h.sim.injectFault(
        { kind: 'respond', status: 200, body: { code: 200, msg: 'success', data } },
        { routes: 'veo_record_info' },
      );
      const status = await h.provider.status({ taskId: 'T', providerModel: VEO_FAST });
      expect(status).toMatchObject({ state: 'failed', error: { kind: 'content_policy', stage: 'input', status: 501 } });
    });

    it('treats truncated JSON as malformed', async () => {
      const h = await open();
      const task = await h.provider.submit(veoRequest('x'));
      h.sim.injectFault({ kind: 'truncated' }, { routes: 'veo_record_info', phase: 'after' });
      await expectProviderError(h.provider.status(task), { kind: 'malformed', retryable: true });
    });

    it.each([
      ['Veo', 'veo' as const, (h: KieHarness) => h.provider.submit(veoRequest(`odd ${KIE_SIM_MARKERS.unknownFlag}`))],
      [
        'Suno',
        'suno' as const,
        (h: KieHarness) => h.provider.submit(sunoRequest(`odd ${KIE_SIM_MARKERS.unknownFlag}`)),
      ],
    ])(
      'fails a %s task whose successFlag it does not know at once, instead of polling until the timeout',
      async (_label, api, submit) => {
        const h = await open({ api, queueMs: 0, runMs: 10 });
        const task = await submit(h);
        const status = await h.provider.status(task);
        expect(status).toMatchObject({ state: 'failed', error: { kind: 'unknown', retryable: false } });
        expect(status.state === 'failed' && status.error.message).toMatch(/unknown successFlag/);
      },
    );

    it('reads a record-info with data null as an unknown task', async () => {
      const h = await open();
      h.sim.injectFault(
        { kind: 'respond', status: 200, body: { code: 200, msg: 'success', data: null } },
        { routes: 'veo_record_info' },
      );
      await expectProviderError(h.provider.status({ taskId: 'T', providerModel: VEO_FAST }), { kind: 'not_found' });
    });

    it('times out a body that stalls halfway', async () => {
      const h = await open({ timeoutMs: 150 });
      const task = await h.provider.submit(veoRequest('x'));
      h.sim.injectFault({ kind: 'hang_body' }, { routes: 'veo_record_info', phase: 'after' });
      await expectProviderError(h.provider.status(task), { kind: 'transient', retryable: true });
    });
  });

  describe('when a callback races the record', () => {
    it('names the task while record-info still says running, and the job moves only when the record does', async () => {
      const h = await open({ queueMs: 0, runMs: 300, sim: { webhookEarlyMs: 290 } });
      const task = await h.provider.submit(veoRequest('early bird', { webhookUrl: h.receiver.url }));
      const delivery = await h.receiver.next();
      const event = await h.provider.verifyWebhook(delivery);
      expect(event).toEqual({
        taskId: task.taskId,
        deliveryId: `${task.taskId}:${delivery.headers['x-webhook-timestamp']}`,
      });
      expect(await h.provider.status(task)).toEqual({ state: 'running' });
      expect(await finalOf(h, task)).toMatchObject({ state: 'succeeded' });
    });
  });

  describe.each<Api>(['veo', 'suno'])('when record-info has no record yet right after submit (%s)', (api) => {
    it('reports the task queued for a short while, then not_found', async () => {
      const h = await open({
        api,
        queueMs: 0,
        runMs: 10_000,
        sim: { recordDelayMs: 120_000 },
        provider: { recordGraceMs: 60_000 },
      });
      const task = await h.provider.submit(h.request('fresh'));
      await expect(h.provider.status(task)).resolves.toEqual({ state: 'queued' });
      h.clock.advance(59_000);
      await expect(h.provider.status(task)).resolves.toEqual({ state: 'queued' });
      h.clock.advance(2_000);
      await expectProviderError(h.provider.status(task), { kind: 'not_found', retryable: false });
    });

    it('tracks the task normally once the record appears within the grace', async () => {
      const h = await open({ api, queueMs: 0, runMs: 10, sim: { recordDelayMs: 5_000 } });
      const task = await h.provider.submit(h.request('fresh'));
      await expect(h.provider.status(task)).resolves.toEqual({ state: 'queued' });
      h.clock.advance(5_001);
      await expect(h.provider.status(task)).resolves.toMatchObject({ state: 'succeeded' });
    });
  });

  describe('when it cancels', () => {
    it('returns false without calling kie, which has no cancel endpoint', async () => {
      const h = await open();
      const task = await h.provider.submit(veoRequest(`x ${KIE_SIM_MARKERS.hang}`));
      const before = h.sim.calls.length;
      await expect(h.provider.cancel(task)).resolves.toBe(false);
      expect(h.sim.calls).toHaveLength(before);
    });
  });
});

describe('kie webhook verification', () => {
  async function delivered(h: KieHarness, req: GenerationRequest) {
    const task = await h.provider.submit({ ...req, webhookUrl: h.receiver.url });
    return { task, delivery: await h.receiver.next() };
  }

  const withBody = (d: WebhookRequest, body: unknown): WebhookRequest => ({
    headers: d.headers,
    rawBody: Buffer.from(JSON.stringify(body)),
  });
  const withHeader = (d: WebhookRequest, name: string, value: string | undefined): WebhookRequest => ({
    headers: { ...d.headers, [name]: value },
    rawBody: d.rawBody,
  });
  const nowS = (h: KieHarness) => Math.floor(h.clock.now() / 1000);

  describe('when the account signs callbacks', () => {
    it('accepts a genuine Veo callback and reports the task with no status', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { task, delivery } = await delivered(h, veoRequest('hook'));
      expect(bodyOf(delivery).data).toMatchObject({
        taskId: task.taskId,
        info: { resultUrls: [expect.stringMatching(/^http/)] },
      });
      const event = await h.provider.verifyWebhook(delivery);
      // The dedup key is made of what kie signed (task id and timestamp), never of the unsigned body.
      expect(event).toEqual({
        taskId: task.taskId,
        deliveryId: `${task.taskId}:${delivery.headers['x-webhook-timestamp']}`,
      });
      expect(event.status).toBeUndefined();
    });

    it('never reports a status, not even a failure the body claims', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { task, delivery } = await delivered(h, veoRequest(`bad ${KIE_SIM_MARKERS.contentPolicy}`));
      expect(bodyOf(delivery)).toMatchObject({ code: 400, msg: KIE_SIM_MESSAGES.videoFlagged });
      await expect(h.provider.verifyWebhook(delivery)).resolves.toEqual({
        taskId: task.taskId,
        deliveryId: `${task.taskId}:${delivery.headers['x-webhook-timestamp']}`,
      });
    });

    it('accepts a Suno callback with snake_case task_id and video_url', async () => {
      const h = await open({ api: 'suno', queueMs: 0, runMs: 10 });
      const { task, delivery } = await delivered(h, sunoRequest('DJ'));
      expect(bodyOf(delivery)).toEqual({
        code: 200,
        msg: 'MP4 generated successfully.',
        data: { task_id: task.taskId, video_url: `${h.sim.url}/files/${task.taskId}/output.mp4` },
      });
      await expect(h.provider.verifyWebhook(delivery)).resolves.toEqual({
        taskId: task.taskId,
        deliveryId: `${task.taskId}:${delivery.headers['x-webhook-timestamp']}`,
      });
    });

    it('gives duplicate deliveries the same delivery id', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await delivered(h, veoRequest(`twice ${KIE_SIM_MARKERS.dupWebhook}`));
      const again = await h.receiver.next();
      const [a, b] = await Promise.all([h.provider.verifyWebhook(delivery), h.provider.verifyWebhook(again)]);
      expect(a.deliveryId).toBe(b.deliveryId);
    });

    it('accepts header names in any case', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await delivered(h, veoRequest('hook'));
      const upper = Object.fromEntries(Object.entries(delivery.headers).map(([k, v]) => [k.toUpperCase(), v]));
      await expect(h.provider.verifyWebhook({ headers: upper, rawBody: delivery.rawBody })).resolves.toHaveProperty(
        'taskId',
      );
    });

    it('accepts a timestamp 299 s old', async () => {
      const h = await open();
      const body = { code: 200, msg: 'ok', data: { taskId: 'veo_task_1' } };
      const headers = h.sim.signWebhook('veo_task_1', { timestampS: nowS(h) - 299 });
      await expect(
        h.provider.verifyWebhook({ headers, rawBody: Buffer.from(JSON.stringify(body)) }),
      ).resolves.toMatchObject({ taskId: 'veo_task_1' });
    });

    it('signs exactly base64(HMAC-SHA256(key, taskId + "." + timestamp))', () => {
      // Computed independently: printf 'veo_task_abc.1700000000' | openssl dgst -sha256 -hmac k -binary | base64
      const expected = 'Fr2qVmqXwvyOF9c3NkQsiz1w6fO1bGDJqvYHGMPHDb4=';
      expect(signKieWebhook('k', 'veo_task_abc', 1_700_000_000)).toBe(expected);
      expect(signKieSimWebhook('k', 'veo_task_abc', 1_700_000_000)['x-webhook-signature']).toBe(expected);
    });
  });

  describe('when a callback is not provably from kie', () => {
    it('rejects a signature made with another key', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { webhookSigning: 'forged' } });
      const { delivery } = await delivered(h, veoRequest('hook'));
      await expect(h.provider.verifyWebhook(delivery)).rejects.toThrow(/does not verify/);
    });

    it('rejects a genuine signature moved onto a body naming another task', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await delivered(h, veoRequest('hook'));
      const swapped = withBody(delivery, {
        ...bodyOf(delivery),
        data: { ...bodyOf(delivery).data, taskId: 'veo_task_victim' },
      });
      await expect(h.provider.verifyWebhook(swapped)).rejects.toBeInstanceOf(WebhookAuthError);
    });

    it('rejects a Suno body whose task_id was swapped', async () => {
      const h = await open({ api: 'suno', queueMs: 0, runMs: 10 });
      const { delivery } = await delivered(h, sunoRequest('DJ'));
      const swapped = withBody(delivery, {
        ...bodyOf(delivery),
        data: { ...bodyOf(delivery).data, task_id: 'someone-else' },
      });
      await expect(h.provider.verifyWebhook(swapped)).rejects.toBeInstanceOf(WebhookAuthError);
    });

    it('rejects a timestamp 301 s old', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await delivered(h, veoRequest('hook'));
      h.clock.advance(301_000);
      await expect(h.provider.verifyWebhook(delivery)).rejects.toThrow(/timestamp/);
    });

    it('rejects a timestamp 301 s in the future', async () => {
      const h = await open();
      const headers = h.sim.signWebhook('veo_task_1', { timestampS: nowS(h) + 301 });
      const rawBody = Buffer.from(JSON.stringify({ code: 200, data: { taskId: 'veo_task_1' } }));
      await expect(h.provider.verifyWebhook({ headers, rawBody })).rejects.toBeInstanceOf(WebhookAuthError);
    });

    it.each(['x-webhook-timestamp', 'x-webhook-signature'])('rejects a callback without %s', async (name) => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await delivered(h, veoRequest('hook'));
      await expect(h.provider.verifyWebhook(withHeader(delivery, name, undefined))).rejects.toThrow(/missing/);
    });

    it('rejects an unsigned callback from the simulator', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { webhookSigning: 'none' } });
      const { delivery } = await delivered(h, veoRequest('hook'));
      expect(delivery.headers['x-webhook-signature']).toBeUndefined();
      await expect(h.provider.verifyWebhook(delivery)).rejects.toThrow(/missing/);
    });

    it.each([
      ['hex instead of base64', 'ab'.repeat(32)],
      ['too short', Buffer.alloc(31, 1).toString('base64')],
      ['empty', ' '],
    ])('rejects a signature that is %s', async (_label, signature) => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const { delivery } = await delivered(h, veoRequest('hook'));
      await expect(
        h.provider.verifyWebhook(withHeader(delivery, 'x-webhook-signature', signature)),
      ).rejects.toBeInstanceOf(WebhookAuthError);
    });

    it('rejects a timestamp in milliseconds', async () => {
      const h = await open();
      const ms = h.clock.now();
      const headers = {
        'x-webhook-timestamp': String(ms),
        'x-webhook-signature': signKieWebhook(HMAC_KEY, 'veo_task_1', ms),
      };
      const rawBody = Buffer.from(JSON.stringify({ code: 200, data: { taskId: 'veo_task_1' } }));
      await expect(h.provider.verifyWebhook({ headers, rawBody })).rejects.toThrow(/timestamp/);
    });
  });

  describe('when the body is malformed', () => {
    it.each([
      ['not JSON', 'not json'],
      ['without data', JSON.stringify({ code: 200, msg: 'ok' })],
      ['without a task id', JSON.stringify({ code: 200, data: { info: {} } })],
      ['with a task id that is not a string', JSON.stringify({ code: 200, data: { taskId: 42 } })],
      ['with two different task ids', JSON.stringify({ code: 200, data: { taskId: 'a', task_id: 'b' } })],
    ])('rejects a body %s, signed or not', async (_label, raw) => {
      const h = await open();
      const headers = h.sim.signWebhook('a');
      await expect(h.provider.verifyWebhook({ headers, rawBody: Buffer.from(raw) })).rejects.toBeInstanceOf(
        WebhookAuthError,
      );
      const unsigned = await open({ signed: false });
      await expect(unsigned.provider.verifyWebhook({ headers: {}, rawBody: Buffer.from(raw) })).rejects.toBeInstanceOf(
        WebhookAuthError,
      );
    });
  });

  describe('when the account does not sign callbacks', () => {
    it('accepts a well-formed body without headers, still without a status', async () => {
      const h = await open({ signed: false, queueMs: 0, runMs: 10 });
      const { task, delivery } = await delivered(h, veoRequest('hook'));
      expect(delivery.headers['x-webhook-signature']).toBeUndefined();
      // Unsigned: a nudge with no dedup key, since every field of it is the sender's choice.
      await expect(h.provider.verifyWebhook(delivery)).resolves.toEqual({ taskId: task.taskId });
    });
  });
});

describe('kie simulator', () => {
  async function sim(opts: KieSimOptions = {}) {
    const s = await startKieSimulator({ queueMs: 0, runMs: 0, ...opts });
    onTestFinished(() => s.close());
    return s;
  }

  describe('when a client names no User-Agent', () => {
    it('refuses it with 403', async () => {
      const s = await sim();
      const res = await request(`${s.url}/api/v1/veo/generate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'x' }),
      });
      expect(res.statusCode).toBe(403);
      await res.body.dump();
      expect(s.stats.submissions).toBe(0);
    });
  });
  const call = async (s: KieSimulator, method: 'GET' | 'POST', path: string, body?: unknown, key = s.apiKey) => {
    const res = await request(`${s.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'user-agent': 'clipbot-test', 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return {
      status: res.statusCode,
      body: (await res.body.json()) as { code: number; msg: string; data: Record<string, unknown> | null },
    };
  };

  describe('when a client names the aspect ratio', () => {
    it('accepts the documented aspect_ratio', async () => {
      const s = await sim();
      const res = await call(s, 'POST', '/api/v1/veo/generate', { prompt: 'x', aspect_ratio: '9:16' });
      expect(res.body.code).toBe(200);
      expect(s.requests()[0]).toMatchObject({ aspectRatio: '9:16' });
    });

    it('refuses the older aspectRatio spelling, which the published schema does not name', async () => {
      const s = await sim();
      const res = await call(s, 'POST', '/api/v1/veo/generate', { prompt: 'x', aspectRatio: '9:16' });
      expect(res.body).toMatchObject({ code: 422, msg: 'aspectRatio is not a parameter of this endpoint' });
      expect(s.stats.submissions).toBe(0);
    });

    it('refuses a ratio Veo does not have, as HTTP 200, 422 or 500 by style', async () => {
      const answers = [];
      for (const errorStyle of ['envelope', 'http', 'http500'] as const) {
        const res = await call(await sim({ errorStyle }), 'POST', '/api/v1/veo/generate', {
          prompt: 'x',
          aspect_ratio: '1:1',
        });
        answers.push(res.status, res.body.code);
        expect(res.body.msg).toBe('Ratio error');
      }
      expect(answers).toEqual([200, 422, 422, 422, 500, 422]);
    });
  });

  describe('when a client asks for a Suno music video', () => {
    const mp4 = { taskId: 'suno-1', audioId: 'a-1', callBackUrl: 'https://api.example.com/callback' };

    it('requires callBackUrl, as kie’s docs list it', async () => {
      const s = await sim();
      const { callBackUrl: _dropped, ...withoutCallback } = mp4;
      expect((await call(s, 'POST', '/api/v1/mp4/generate', withoutCallback)).body).toMatchObject({
        code: 422,
        msg: 'callBackUrl is required',
      });
    });

    it('accepts a callback URL off loopback but never calls it', async () => {
      const s = await sim();
      const created = await call(s, 'POST', '/api/v1/mp4/generate', mp4);
      expect(created.body.code).toBe(200);
      s.pump();
      await s.webhooksSettled();
      expect(s.webhookDeliveries).toHaveLength(0);
    });

    it('answers 409 "Mp4 record already exists" naming the first task for the same song', async () => {
      const s = await sim();
      const first = await call(s, 'POST', '/api/v1/mp4/generate', mp4);
      const second = await call(s, 'POST', '/api/v1/mp4/generate', { ...mp4, author: 'someone' });
      expect(second.body).toEqual({
        code: 409,
        msg: 'Mp4 record already exists',
        data: { taskId: first.body.data!.taskId },
      });
      expect((await call(s, 'POST', '/api/v1/mp4/generate', { ...mp4, audioId: 'a-2' })).body.code).toBe(200);
    });
  });

  describe('when a request breaks Veo’s rules', () => {
    it.each([
      ['no prompt', {}],
      ['an unknown model', { prompt: 'x', model: 'veo4' }],
      ['three images', { prompt: 'x', imageUrls: ['http://a/1', 'http://a/2', 'http://a/3'] }],
      ['a seed out of range', { prompt: 'x', seeds: 5 }],
      [
        'reference mode on veo3',
        { prompt: 'x', model: 'veo3', generationType: 'REFERENCE_2_VIDEO', imageUrls: ['http://a/1'] },
      ],
      [
        'reference mode at Auto',
        { prompt: 'x', generationType: 'REFERENCE_2_VIDEO', imageUrls: ['http://a/1'], aspect_ratio: 'Auto' },
      ],
      ['reference mode without images', { prompt: 'x', generationType: 'REFERENCE_2_VIDEO' }],
      ['first and last frames without images', { prompt: 'x', generationType: 'FIRST_AND_LAST_FRAMES_2_VIDEO' }],
      ['an image with TEXT_2_VIDEO', { prompt: 'x', generationType: 'TEXT_2_VIDEO', imageUrls: ['http://a/1'] }],
      ['two images without FIRST_AND_LAST_FRAMES_2_VIDEO', { prompt: 'x', imageUrls: ['http://a/1', 'http://a/2'] }],
      [
        'two images as references',
        { prompt: 'x', generationType: 'REFERENCE_2_VIDEO', imageUrls: ['http://a/1', 'http://a/2'] },
      ],
      ['an unknown generationType', { prompt: 'x', generationType: 'IMAGE_2_VIDEO', imageUrls: ['http://a/1'] }],
      ['a field the schema does not name', { prompt: 'x', resolution: '1080p' }],
      ['a callback that is not a URL', { prompt: 'x', callBackUrl: 'not a url' }],
    ])('answers 422 for %s', async (_label, body) => {
      const s = await sim();
      expect((await call(s, 'POST', '/api/v1/veo/generate', body)).body.code).toBe(422);
      expect(s.stats.submissions).toBe(0);
    });

    it.each([
      ['text to video', { generationType: 'TEXT_2_VIDEO' }],
      [
        'one image as first frame on Quality',
        { model: 'veo3', generationType: 'FIRST_AND_LAST_FRAMES_2_VIDEO', imageUrls: ['http://a/1'] },
      ],
      [
        'first and last frame',
        { generationType: 'FIRST_AND_LAST_FRAMES_2_VIDEO', imageUrls: ['http://a/1', 'http://a/2'] },
      ],
      [
        'reference mode on Fast at 9:16',
        { model: 'veo3_fast', generationType: 'REFERENCE_2_VIDEO', imageUrls: ['http://a/1'], aspect_ratio: '9:16' },
      ],
    ])('accepts %s', async (_label, body) => {
      const s = await sim();
      expect((await call(s, 'POST', '/api/v1/veo/generate', { prompt: 'x', ...body })).body.code).toBe(200);
      expect(s.stats.submissions).toBe(1);
    });

    it('answers 401 for a wrong key', async () => {
      const s = await sim();
      expect((await call(s, 'POST', '/api/v1/veo/generate', { prompt: 'x' }, 'wrong')).body).toMatchObject({
        code: 401,
        data: null,
      });
    });
  });

  describe('when a client reads a task of the other API', () => {
    it('answers 404', async () => {
      const s = await sim();
      const created = await call(s, 'POST', '/api/v1/veo/generate', { prompt: 'x' });
      const taskId = String(created.body.data!.taskId);
      expect((await call(s, 'GET', `/api/v1/mp4/record-info?taskId=${taskId}`)).body.code).toBe(404);
      expect((await call(s, 'GET', `/api/v1/veo/record-info?taskId=${taskId}`)).body.code).toBe(200);
      expect(s.stats.recordInfoCalls).toBe(2);
    });
  });

  describe('when a client asks for the 4K copy', () => {
    const uhd = async (s: KieSimulator, body: Record<string, unknown>) =>
      call(s, 'POST', '/api/v1/veo/get-4k-video', body);

    it('starts a 4K task, answers "processing" until it is ready, then its URL; record-info follows the 4K task', async () => {
      const clock = createTestClock();
      const s = await sim({ clock, uhdReadyMs: 60_000 });
      const source = String((await call(s, 'POST', '/api/v1/veo/generate', { prompt: 'x' })).body.data!.taskId);
      const started = await uhd(s, { taskId: source, index: 0, callBackUrl: 'https://api.example.com/4k' });
      expect(started.body).toMatchObject({ code: 200, msg: 'success', data: { resultUrls: null, imageUrls: null } });
      const uhdTask = String(started.body.data!.taskId);
      expect(uhdTask).not.toBe(source);
      expect((await uhd(s, { taskId: source, index: 0 })).body).toEqual({
        code: 422,
        msg: KIE_SIM_MESSAGES.uhdNotReady,
        data: { taskId: uhdTask, resultUrls: null, imageUrls: null },
      });
      expect((await call(s, 'GET', `/api/v1/veo/record-info?taskId=${uhdTask}`)).body.data).toMatchObject({
        taskId: uhdTask,
        successFlag: 0,
      });
      clock.advance(60_001);
      const ready = await uhd(s, { taskId: source, index: 0 });
      expect(ready.body).toMatchObject({
        code: 200,
        data: { taskId: uhdTask, resultUrls: [`${s.url}/files/${uhdTask}/output.mp4`] },
      });
      const record = (await call(s, 'GET', `/api/v1/veo/record-info?taskId=${uhdTask}`)).body.data!;
      expect(record).toMatchObject({
        successFlag: 1,
        response: { resultUrls: [`${s.url}/files/${uhdTask}/output.mp4`], resolution: '4k' },
      });
      expect(record).not.toHaveProperty('fallbackFlag');
      expect(s.requests().map((t) => t.id)).toEqual([source]);
      expect(s.stats).toMatchObject({ submissions: 1, uhdCalls: 3 });
    });

    it('calls back with the 4K callback’s own shape', async () => {
      const h = await open({ queueMs: 0, runMs: 0, sim: { uhdReadyMs: 10 } });
      const source = await h.provider.submit(veoRequest('x'));
      h.sim.complete(source.taskId);
      const started = await uhd(h.sim, { taskId: source.taskId, index: 0, callBackUrl: h.receiver.url });
      const d = await h.receiver.next();
      expect(bodyOf(d)).toEqual({
        code: 200,
        msg: KIE_SIM_MESSAGES.uhdDone,
        data: {
          taskId: started.body.data!.taskId,
          info: { resultUrls: [`${h.sim.url}/files/${String(started.body.data!.taskId)}/output.mp4`], imageUrls: [] },
        },
      });
    });

    it.each([
      ['a field the schema does not name', { index: 0, resolution: '4k' }, 422],
      ['another index', { index: 1 }, 422],
      ['no taskId', { taskId: undefined }, 422],
      ['an unknown task', { taskId: 'veo_task_nope' }, 404],
    ])('refuses %s', async (_label, extra, code) => {
      const s = await sim();
      const source = String((await call(s, 'POST', '/api/v1/veo/generate', { prompt: 'x' })).body.data!.taskId);
      expect((await uhd(s, { taskId: source, ...extra })).body.code).toBe(code);
      expect(s.stats.uhdCalls).toBe(1);
    });

    it('refuses a task that has not succeeded, and GET', async () => {
      const s = await sim({ queueMs: 0, runMs: 60_000 });
      const source = String((await call(s, 'POST', '/api/v1/veo/generate', { prompt: 'x' })).body.data!.taskId);
      expect((await uhd(s, { taskId: source, index: 0 })).body.code).toBe(422);
      const get = await request(`${s.url}/api/v1/veo/get-4k-video?taskId=${source}`, {
        headers: { authorization: `Bearer ${s.apiKey}`, 'user-agent': 't' },
      });
      expect(get.statusCode).toBe(405);
      await get.body.dump();
    });
  });

  describe('when it serves finished videos', () => {
    it('serves the 1080p file only once it is ready', async () => {
      const clock = createTestClock();
      const s = await sim({ clock, hdReadyMs: 60_000 });
      const taskId = String((await call(s, 'POST', '/api/v1/veo/generate', { prompt: 'x' })).body.data!.taskId);
      const early = await request(`${s.url}/files/${taskId}/output-1080p.mp4`);
      await early.body.dump();
      expect((await call(s, 'GET', `/api/v1/veo/get-1080p-video?taskId=${taskId}&index=0`)).body.code).toBe(400);
      clock.advance(60_001);
      const hd = await call(s, 'GET', `/api/v1/veo/get-1080p-video?taskId=${taskId}&index=0`);
      const late = await request(String(hd.body.data!.resultUrl));
      expect([early.statusCode, late.statusCode]).toEqual([404, 200]);
      expect(late.headers['content-type']).toBe('video/mp4');
      await late.body.dump();
      expect(s.stats.hdCalls).toBe(2);
    });

    it('can expire the file or lie about its type', async () => {
      const s = await sim();
      const expired = (await call(s, 'POST', '/api/v1/veo/generate', { prompt: KIE_SIM_MARKERS.expiredVideo })).body
        .data!.taskId;
      const html = (await call(s, 'POST', '/api/v1/veo/generate', { prompt: KIE_SIM_MARKERS.htmlVideo })).body.data!
        .taskId;
      const gone = await request(`${s.url}/files/${String(expired)}/output.mp4`);
      await gone.body.dump();
      expect(gone.statusCode).toBe(404);
      const lying = await request(`${s.url}/files/${String(html)}/output.mp4`);
      expect(lying.headers['content-type']).toBe('video/mp4');
      expect(await lying.body.text()).toMatch(/^<!doctype html>/);
    });
  });

  describe('when it sends callbacks', () => {
    it('signs them so that kie’s formula verifies', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(veoRequest('hook', { webhookUrl: h.receiver.url }));
      const d = await h.receiver.next();
      const ts = d.headers['x-webhook-timestamp']!;
      expect(d.headers['x-webhook-signature']).toBe(signKieWebhook(HMAC_KEY, task.taskId, ts));
      expect(JSON.parse(String(bodyOf(d).data.promptJson))).toMatchObject({
        aspectRatio: '16:9',
        model: 'veo3_fast',
        prompt: 'hook',
      });
    });

    it('sends none for [sim:no_webhook]', async () => {
      const h = await open({ queueMs: 0, runMs: 10 });
      const task = await h.provider.submit(
        veoRequest(`quiet ${KIE_SIM_MARKERS.noWebhook}`, { webhookUrl: h.receiver.url }),
      );
      await finalOf(h, task);
      await h.sim.webhooksSettled();
      expect(h.receiver.deliveries).toHaveLength(0);
    });

    it('can name the source Suno task in task_id, as kie’s example does', async () => {
      const h = await open({ api: 'suno', queueMs: 0, runMs: 10, sim: { sunoCallbackTaskId: 'source' } });
      await h.provider.submit(sunoRequest('DJ', { webhookUrl: h.receiver.url }));
      expect(bodyOf(await h.receiver.next()).data.task_id).toBe('suno-music-task-1');
    });

    it('delivers out of order when told to hold one delivery back', async () => {
      let held = '';
      const h = await open({
        queueMs: 0,
        runMs: 20,
        sim: { webhookDelayMs: ({ taskId }) => (taskId === held ? 80 : 0) },
      });
      const first = await h.provider.submit(veoRequest('first', { webhookUrl: h.receiver.url }));
      held = first.taskId;
      const second = await h.provider.submit(veoRequest('second', { webhookUrl: h.receiver.url }));
      const order = [taskIdIn(await h.receiver.next()), taskIdIn(await h.receiver.next())];
      expect(order).toEqual([second.taskId, first.taskId]);
    });

    it('delivers again when the receiver fails, and closes promptly while a re-delivery is pending', async () => {
      const h = await open({ queueMs: 0, runMs: 10, sim: { webhookRetryDelayMs: 10 } });
      h.receiver.respondWith(500);
      await h.provider.submit(veoRequest('retry me', { webhookUrl: h.receiver.url }));
      await h.receiver.next();
      h.receiver.respondWith(200);
      await expect(h.provider.verifyWebhook(await h.receiver.next())).resolves.toHaveProperty('taskId');
      await h.sim.webhooksSettled();
      expect(h.sim.stats.webhooksDelivered).toBe(1);

      const slow = await open({ queueMs: 0, runMs: 10, sim: { webhookRetryDelayMs: 60_000 } });
      slow.receiver.respondWith(500);
      await slow.provider.submit(veoRequest('never acked', { webhookUrl: slow.receiver.url }));
      await slow.receiver.next();
      const started = Date.now();
      await slow.sim.close();
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });
});

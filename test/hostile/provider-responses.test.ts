import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ArkSimFault, ArkSimFaultOptions } from '../../src/sim/ark.js';
import type { FalSimFault, FalSimFaultOptions } from '../../src/sim/fal.js';
import type { KieSimFault, KieSimFaultOptions } from '../../src/sim/kie.js';
import { EngineHarness } from '../helpers/engine-harness.js';
import { jobRow, ledgerKinds, startWorld, videoRequest, type World } from './world.js';

/**
 * Hostile provider answers, through each simulator's fault injection and prompt markers: the job fails with a
 * reason the member can act on, its hold is released exactly once, the balance is whole again and no result file is kept.
 */

/** What the member reads, word for word: each hostile answer has one right reason, and a wrong one is a bug. */
const FAILED = 'The video service failed to generate this video.';
const NOT_A_VIDEO = 'The provider returned something that is not a video.';
const EXPIRED = 'The generated video could no longer be downloaded from the provider.';
const UNREACHABLE = 'The generated video could not be downloaded from the provider.';
const OUTPUT_POLICY = 'The provider’s safety filter rejected the generated video. Try a different prompt.';
const INPUT_POLICY = 'The provider’s safety filter rejected the prompt or image. Try rewording it.';
const UNAVAILABLE = 'The video service is not available right now (the bot owner has been told).';

const FAL_PERSISTENT = 1000;

describe('hostile fal answers (engine harness, fast retries)', () => {
  let h: EngineHarness;
  beforeAll(async () => {
    h = await EngineHarness.start();
  });
  afterEach(() => h.sim.clearFaults());
  afterAll(async () => h.close());

  const MARKERS: [string, string, string][] = [
    ['a video URL that is not http(s)', '[sim:bad_video_url] a fox', FAILED],
    ['HTML served as video/mp4', '[sim:html_video] a fox', NOT_A_VIDEO],
    ['a video URL that has already expired', '[sim:expired_video] a fox', EXPIRED],
    ['a flagged output', '[sim:content_policy] a fox', OUTPUT_POLICY],
    ['a prompt flagged at submit', '[sim:content_policy_input] a fox', INPUT_POLICY],
    ['a prompt flagged late by the model', '[sim:content_policy_input_late] a fox', INPUT_POLICY],
    ['an internal error at the provider', '[sim:fail] a fox', FAILED],
  ];

  const FAULTS: [string, FalSimFault, FalSimFaultOptions, string][] = [
    [
      'malformed JSON on every status check',
      { kind: 'malformed' },
      { routes: 'status', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'truncated JSON on every status check',
      { kind: 'truncated' },
      { routes: 'status', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a status that is a number',
      { kind: 'respond', status: 200, body: { status: 5 } },
      { routes: 'status', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a status answer that is an array',
      { kind: 'respond', status: 200, body: [] },
      { routes: 'status', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a status answer of JSON null',
      { kind: 'respond', status: 200, text: 'null', headers: { 'content-type': 'application/json' } },
      { routes: 'status', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'an HTML page with 200 on every status check',
      { kind: 'html', status: 200 },
      { routes: 'status', times: FAL_PERSISTENT },
      FAILED,
    ],
    ['malformed JSON on every result read', { kind: 'malformed' }, { routes: 'result', times: FAL_PERSISTENT }, FAILED],
    ['truncated JSON on every result read', { kind: 'truncated' }, { routes: 'result', times: FAL_PERSISTENT }, FAILED],
    [
      'a result whose video URL is a number',
      { kind: 'respond', status: 200, body: { video: { url: 5 } } },
      { routes: 'result', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a result with no video',
      { kind: 'respond', status: 200, body: {} },
      { routes: 'result', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a result whose video is null',
      { kind: 'respond', status: 200, body: { video: null } },
      { routes: 'result', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a result with a javascript: video URL',
      { kind: 'respond', status: 200, body: { video: { url: 'javascript:alert(1)' } } },
      { routes: 'result', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a result with a file: video URL',
      { kind: 'respond', status: 200, body: { video: { url: 'file:///etc/passwd' } } },
      { routes: 'result', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a result with a data: video URL',
      { kind: 'respond', status: 200, body: { video: { url: 'data:video/mp4;base64,AAAA' } } },
      { routes: 'result', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a result pointing at the metadata service',
      { kind: 'respond', status: 200, body: { video: { url: 'http://169.254.169.254/latest/meta-data/' } } },
      { routes: 'result', times: FAL_PERSISTENT },
      UNREACHABLE,
    ],
    [
      'a result pointing at a private network address',
      { kind: 'respond', status: 200, body: { video: { url: 'http://10.0.0.1/v.mp4' } } },
      { routes: 'result', times: FAL_PERSISTENT },
      UNREACHABLE,
    ],
    [
      'a submit answer with no request id',
      { kind: 'respond', status: 200, body: { status: 'IN_QUEUE' } },
      { routes: 'submit', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a submit answer whose request id is a path',
      { kind: 'respond', status: 200, body: { request_id: '../../admin', status: 'IN_QUEUE' } },
      { routes: 'submit', times: FAL_PERSISTENT },
      FAILED,
    ],
    [
      'a validation error at submit',
      {
        kind: 'respond',
        status: 422,
        body: { detail: [{ loc: ['body', 'prompt'], msg: 'bad', type: 'value_error' }] },
      },
      { routes: 'submit', times: FAL_PERSISTENT },
      'The provider refused these settings: prompt: bad',
    ],
    [
      'a 401 at submit',
      { kind: 'respond', status: 401, body: { detail: 'Invalid key' } },
      { routes: 'submit', times: FAL_PERSISTENT },
      UNAVAILABLE,
    ],
    [
      'a 403 at submit',
      { kind: 'respond', status: 403, body: { detail: 'Forbidden' } },
      { routes: 'submit', times: FAL_PERSISTENT },
      UNAVAILABLE,
    ],
  ];

  async function expectFailedAndRefundedOnce(jobId: string, user: string, reason: string): Promise<void> {
    const done = await h.engine.waitForJob(jobId);
    expect(done.status).toBe('failed');
    expect(done.errorMessage).toBe(reason);
    expect((await h.ledgerFor(jobId)).map((e) => e.kind).sort()).toEqual(['hold', 'release']);
    expect(await h.balance(user)).toBe(200);
    expect(done.mediaKey).toBeNull();
    expect(existsSync(path.join(h.dir, 'media', 'results', `${jobId}.mp4`))).toBe(false);
  }

  // Markers travel in the prompt, so these jobs can run side by side; injected faults are global and cannot.
  it.concurrent.each(MARKERS)(
    'fails a job on %s, says exactly why and refunds it once',
    async (what, prompt, reason) => {
      const user = `m-${what.replace(/\W/g, '')}`;
      const job = await h.submit(user, prompt);
      await expectFailedAndRefundedOnce(job.id, user, reason);
    },
  );

  it.each(FAULTS)(
    'fails a job on %s, says exactly why and refunds it once',
    async (what, fault, options, reason) => {
      const user = `f-${what.replace(/\W/g, '')}`;
      h.sim.injectFault(fault, options);
      const job = await h.submit(user, `a fox, ${what}`);
      await expectFailedAndRefundedOnce(job.id, user, reason);
    },
    20_000,
  );
});

describe('hostile Ark and kie answers (the whole bot)', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld();
  });
  afterEach(() => {
    w.ark.clearFaults();
    w.kie.clearFaults();
  });
  afterAll(async () => w.close());

  async function expectFailedAndRefundedOnce(jobId: string, reason: string): Promise<void> {
    const done = await w.bot.engine.waitForJob(jobId);
    expect(done.status).toBe('failed');
    expect(done.errorMessage).toBe(reason);
    expect(ledgerKinds(w.db, jobId)).toEqual(['hold', 'release']);
    expect(jobRow(w.db, jobId).mediaKey).toBeNull();
    expect(existsSync(path.join(w.dir, 'media', 'results', `${jobId}.mp4`))).toBe(false);
  }

  const MARKERS: [string, string, string, string][] = [
    ['Ark', 'seedance-1-pro-ark', '[sim:bad_video_url] a fox', FAILED],
    ['Ark', 'seedance-1-pro-ark', '[sim:html_video] a fox', NOT_A_VIDEO],
    ['Ark', 'seedance-1-pro-ark', '[sim:expired_video] a fox', EXPIRED],
    ['Ark', 'seedance-1-pro-ark', '[sim:content_policy] a fox', OUTPUT_POLICY],
    ['Ark', 'seedance-1-pro-ark', '[sim:content_policy_audio] a fox', OUTPUT_POLICY],
    ['Ark', 'seedance-1-pro-ark', '[sim:content_policy_input] a fox', INPUT_POLICY],
    ['Ark', 'seedance-1-pro-ark', '[sim:fail] a fox', FAILED],
    ['kie', 'veo3-fast', '[sim:bad_video_url] a fox', FAILED],
    ['kie', 'veo3-fast', '[sim:html_video] a fox', NOT_A_VIDEO],
    ['kie', 'veo3-fast', '[sim:expired_video] a fox', EXPIRED],
    ['kie', 'veo3-fast', '[sim:content_policy] a fox', OUTPUT_POLICY],
    ['kie', 'veo3-fast', '[sim:content_policy_input] a fox', INPUT_POLICY],
    ['kie', 'veo3-fast', '[sim:content_policy_input_late] a fox', INPUT_POLICY],
    ['kie', 'veo3-fast', '[sim:fail] a fox', FAILED],
  ];

  it.concurrent.each(MARKERS)(
    '%s (%s): fails “%s”, says exactly why and refunds once',
    async (_p, model, prompt, reason) => {
      const { job } = await w.bot.engine.submitVideo(
        videoRequest(model, prompt, `u-${model}-${prompt.replace(/\W/g, '')}`),
      );
      await expectFailedAndRefundedOnce(job.id, reason);
    },
    20_000,
  );

  const ARK_FAULTS: [string, ArkSimFault, ArkSimFaultOptions, string][] = [
    [
      'an InvalidParameter error at create',
      { kind: 'error', status: 400, code: 'InvalidParameter', message: 'bad' },
      { routes: 'create' },
      'The provider refused these settings: bad',
    ],
    [
      'a 401 at create',
      { kind: 'error', status: 401, code: 'AuthenticationError', message: 'The API key is invalid' },
      { routes: 'create' },
      UNAVAILABLE,
    ],
  ];
  it.each(ARK_FAULTS)(
    'Ark: fails a job on %s and refunds once',
    async (what, fault, options, reason) => {
      w.ark.injectFault(fault, options);
      const { job } = await w.bot.engine.submitVideo(videoRequest('seedance-1-pro-ark', `a fox, ${what}`));
      await expectFailedAndRefundedOnce(job.id, reason);
    },
    20_000,
  );

  const KIE_FAULTS: [string, KieSimFault, KieSimFaultOptions, string][] = [
    [
      'a 400 code at generate',
      { kind: 'code', code: 400, msg: 'bad request' },
      { routes: 'veo_generate' },
      'The provider refused these settings: bad request',
    ],
    [
      'a 401 code at generate',
      { kind: 'code', code: 401, msg: 'unauthorized' },
      { routes: 'veo_generate' },
      UNAVAILABLE,
    ],
    [
      'a generate answer whose task id is a path',
      { kind: 'respond', status: 200, body: { code: 200, msg: 'success', data: { taskId: '../../x' } } },
      { routes: 'veo_generate' },
      FAILED,
    ],
  ];
  it.each(KIE_FAULTS)(
    'kie: fails a job on %s and refunds once',
    async (what, fault, options, reason) => {
      w.kie.injectFault(fault, options);
      const { job } = await w.bot.engine.submitVideo(videoRequest('veo3-fast', `a fox, ${what}`));
      await expectFailedAndRefundedOnce(job.id, reason);
    },
    20_000,
  );

  // A nonsense answer to a create that made nothing is the provider's glitch, not the member's: the engine asks
  // again, and the job is made once, charged once, never trusting the nonsense.
  const RETRIED: [string, string, (w: World) => void, (w: World, jobId: string) => number][] = [
    [
      'Ark',
      'a create answer whose task id is a path',
      (w) => w.ark.injectFault({ kind: 'respond', status: 200, body: { id: '../../tasks' } }, { routes: 'create' }),
      (w, id) => w.ark.stats.createsByJobId.get(id) ?? 0,
    ],
    [
      'Ark',
      'a create answer whose task id is a number',
      (w) => w.ark.injectFault({ kind: 'respond', status: 200, body: { id: 42 } }, { routes: 'create' }),
      (w, id) => w.ark.stats.createsByJobId.get(id) ?? 0,
    ],
    [
      'Ark',
      'malformed JSON at create',
      (w) => w.ark.injectFault({ kind: 'malformed' }, { routes: 'create' }),
      (w, id) => w.ark.stats.createsByJobId.get(id) ?? 0,
    ],
    [
      'kie',
      'a generate answer with no data',
      (w) =>
        w.kie.injectFault(
          { kind: 'respond', status: 200, body: { code: 200, msg: 'success' } },
          { routes: 'veo_generate' },
        ),
      (w, id) => w.kie.stats.submissionsByJobId.get(id) ?? 0,
    ],
    [
      'kie',
      'malformed JSON at generate',
      (w) => w.kie.injectFault({ kind: 'malformed' }, { routes: 'veo_generate' }),
      (w, id) => w.kie.stats.submissionsByJobId.get(id) ?? 0,
    ],
  ];
  it.each(RETRIED)(
    '%s: asks again after %s, making and charging the video once',
    async (provider, what, inject, creates) => {
      inject(w);
      const { job } = await w.bot.engine.submitVideo(
        videoRequest(provider === 'Ark' ? 'seedance-1-pro-ark' : 'veo3-fast', `a fox, ${what}`),
      );
      const done = await w.bot.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(ledgerKinds(w.db, job.id)).toEqual(['capture', 'hold']);
      expect(creates(w, job.id)).toBe(1);
    },
    20_000,
  );
});

import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import type { GenerationRequest, TaskRef, TaskStatus } from '../core/ports.js';
import { clipProviderMessage, httpUrl } from './http.js';
import { errorCodeField, generationError, kieData, kieTaskId, unknownSuccessFlag, type KieClient } from './kie-api.js';

/**
 * kie.ai Veo 3.1 (provider-apis.md §3, §7.3): generate, record-info, and the optional 1080p or 4K upgrade fetched
 * after success. Veo has no queue state: `successFlag` 0 covers waiting and generating alike.
 */

export const KIE_VEO_MODELS = ['veo3', 'veo3_fast'] as const;
export type KieVeoModel = (typeof KIE_VEO_MODELS)[number];

export function isKieVeoModel(model: string): model is KieVeoModel {
  return (KIE_VEO_MODELS as readonly string[]).includes(model);
}

/** Seeds outside 10000–99999 are said to be refused [U]; folding keeps a member's seed reproducible either way. */
export function kieVeoSeed(seed: number): number {
  return 10_000 + (Math.abs(Math.trunc(seed)) % 90_000);
}

/**
 * The generate body (§3.2, §7.3). `generationType` says what the images are: none is TEXT_2_VIDEO; our one image is
 * FIRST_AND_LAST_FRAMES_2_VIDEO, which with a single image builds the video around it (two would be first and last
 * frame; members have no way to send a second). REFERENCE_2_VIDEO (Fast only) is never sent: no command asks for it.
 * The aspect ratio goes as `aspect_ratio`, the name the published schema of
 * POST /api/v1/veo/generate defines; a server that ignored another spelling would silently make every 9:16 or image
 * video 16:9. (The callback's `promptJson` echoes it as `aspectRatio`: that is kie's echo, not the request schema.)
 * `enableFallback` is not sent: the schema marks it deprecated, and its default (off) is what we want anyway, since
 * it keeps Google's verdicts visible instead of silently re-routing to a 720p-only model.
 */
export function buildKieVeoBody(request: GenerationRequest): Record<string, unknown> {
  const p = request.params;
  const body: Record<string, unknown> = {
    prompt: request.prompt,
    model: request.providerModel,
    aspect_ratio: p.aspectRatio.toLowerCase() === 'auto' ? 'Auto' : p.aspectRatio,
    generationType: request.imageUrl === undefined ? 'TEXT_2_VIDEO' : 'FIRST_AND_LAST_FRAMES_2_VIDEO',
  };
  if (request.imageUrl !== undefined) body.imageUrls = [request.imageUrl];
  if (p.seed !== undefined) body.seeds = kieVeoSeed(p.seed);
  if (request.webhookUrl !== undefined) body.callBackUrl = request.webhookUrl;
  return body;
}

const submitData = z.looseObject({ taskId: kieTaskId });

const recordData = z.looseObject({
  taskId: kieTaskId.optional(),
  // Any number: a flag we do not know fails the job clearly (below) instead of reading as malformed until the timeout.
  successFlag: z.number().int(),
  response: z
    .looseObject({
      resultUrls: z.array(httpUrl).max(16).nullish(),
      // An extend task's source and continuation joined [U: named so by kie's newer extend form, §7.3].
      fullResultUrls: z.array(httpUrl).max(16).nullish(),
      resolution: z.string().max(32).nullish(),
    })
    .nullish(),
  errorCode: errorCodeField,
  errorMessage: z.string().max(4000).nullish(),
  fallbackFlag: z.boolean().nullish(),
});

/** An empty or null `resultUrl` means "not yet", as a non-200 code does. */
const upgradeData = z.looseObject({ resultUrl: z.union([httpUrl, z.literal(''), z.null()]).optional() }).nullish();

/** get-4k-video's answer: `resultUrls` stays null until the 4K copy is ready (§7.3). */
const uhdData = z.looseObject({ resultUrls: z.array(httpUrl).max(16).nullish() }).nullish();

/** Codes about the account or the service, not the video: real errors even from the upgrade endpoints, which answer
 * every other non-200 code while the copy is not ready (§3.5, §7.3). */
const ACCOUNT_CODES = new Set([401, 402, 403, 429, 455, 505]);
/** kie's verdict that no 4K copy will come ("The 4K version of this video is unavailable", its 4K callback, §7.3). */
const UHD_UNAVAILABLE_RE = /4k version of this video is unavailable/i;

export async function submitKieVeo(
  client: KieClient,
  request: GenerationRequest,
  signal?: AbortSignal,
): Promise<TaskRef> {
  if (request.imageUrl !== undefined && !/^https?:\/\//i.test(request.imageUrl)) {
    // kie fetches imageUrls itself (acceptsInlineImages is false): a data: URI would only come back as a failure.
    throw new ProviderError('validation', 'kie.ai needs a public http(s) URL for the image', { retryable: false });
  }
  const answer = await client.call('POST', '/api/v1/veo/generate', {
    where: 'submit',
    what: 'kie veo generate',
    json: buildKieVeoBody(request),
    headers: { 'x-clipbot-job-id': request.jobId },
    ...(signal ? { signal } : {}),
  });
  if (!answer.ok) throw answer.error;
  const data = kieData(answer.res, submitData, 'kie veo generate');
  return { taskId: data.taskId, providerModel: request.providerModel, params: request.params };
}

export async function statusKieVeo(client: KieClient, task: TaskRef, signal?: AbortSignal): Promise<TaskStatus> {
  const what = 'kie veo record-info';
  const data = await client.readRecord('/api/v1/veo/record-info', task.taskId, { record: recordData, what, signal });
  if (data === 'not yet') return { state: 'queued' };
  switch (data.successFlag) {
    case 0:
      return { state: 'running' };
    case 1: {
      // An extend task's joined clip, where kie gives one, is what the member wants; else the continuation.
      const url = data.response?.fullResultUrls?.[0] ?? data.response?.resultUrls?.[0];
      if (url === undefined)
        throw new ProviderError('malformed', `${what}: success without a result URL`, { retryable: true });
      // Fallback-model videos are 720p only and have no 1080p or 4K version to wait for (§3.5).
      if (data.fallbackFlag !== true) {
        if (task.params?.resolution === '1080p') return upgradeTo1080p(client, task, signal);
        if (task.params?.resolution === '4k') return upgradeTo4k(client, task, signal);
      }
      return { state: 'succeeded', videoUrl: url };
    }
    case 2:
    case 3:
      return {
        state: 'failed',
        error: generationError(
          data.errorCode,
          data.errorMessage,
          { code: 501, message: 'the video failed at kie.ai' },
          'kie veo generation',
        ),
      };
    default:
      return { state: 'failed', error: unknownSuccessFlag(what, data.successFlag) };
  }
}

/** The 1080p copy takes a minute or more after success; until kie has it, the task is still running for us. */
async function upgradeTo1080p(client: KieClient, task: TaskRef, signal?: AbortSignal): Promise<TaskStatus> {
  const what = 'kie veo get-1080p-video';
  const answer = await client.call('GET', '/api/v1/veo/get-1080p-video', {
    where: 'read',
    what,
    query: { taskId: task.taskId, index: '0' },
    ...(signal ? { signal } : {}),
  });
  if (!answer.ok) {
    if (answer.enveloped && !ACCOUNT_CODES.has(answer.code)) return { state: 'running' };
    throw answer.error;
  }
  const data = kieData(answer.res, upgradeData, what);
  return data?.resultUrl ? { state: 'succeeded', videoUrl: data.resultUrl } : { state: 'running' };
}

/**
 * The 4K copy (§7.3): POST get-4k-video asks for it, and asking again is how to learn whether it is ready (non-200
 * "4k is processing" until then, 5–10 minutes). No callBackUrl: record-info and this endpoint say all we need, and
 * a 4K callback would name the 4K task, which no job knows.
 */
async function upgradeTo4k(client: KieClient, task: TaskRef, signal?: AbortSignal): Promise<TaskStatus> {
  const what = 'kie veo get-4k-video';
  const answer = await client.call('POST', '/api/v1/veo/get-4k-video', {
    where: 'read',
    what,
    json: { taskId: task.taskId, index: 0 },
    ...(signal ? { signal } : {}),
  });
  if (!answer.ok) {
    const msg = z.looseObject({ msg: z.string().nullish() }).safeParse(answer.res.body).data?.msg ?? '';
    if (answer.enveloped && UHD_UNAVAILABLE_RE.test(msg)) {
      return {
        state: 'failed',
        error: new ProviderError('validation', clipProviderMessage(msg.trim()), {
          status: answer.code,
          retryable: false,
        }),
      };
    }
    if (answer.enveloped && !ACCOUNT_CODES.has(answer.code)) return { state: 'running' };
    throw answer.error;
  }
  const url = kieData(answer.res, uhdData, what)?.resultUrls?.[0];
  return url ? { state: 'succeeded', videoUrl: url } : { state: 'running' };
}

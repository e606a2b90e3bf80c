import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import type { GenerationRequest, TaskRef, TaskStatus } from '../core/ports.js';
import { httpUrl, type JsonResponse } from './http.js';
import { errorCodeField, generationError, kieData, kieTaskId, unknownSuccessFlag, type KieClient } from './kie-api.js';

/**
 * kie.ai Suno music video (provider-apis.md §4): turns one track of a finished Suno music task into an MP4.
 * There is no prompt; the member names the song (`request.musicVideo`).
 */

export const KIE_SUNO_MP4_MODEL = 'suno-mp4';

/**
 * The `callBackUrl` of an install without PUBLIC_URL, which has no address kie could call. kie's docs list the field
 * as required for /api/v1/mp4/generate, so one must be sent; this is the value of kie's own documentation example. It
 * sits under example.com, which RFC 2606 reserves for documentation: no one we would leak a video URL to serves it,
 * and a syntax check on kie's side accepts it. The job never waits for it: polling record-info is how a polling-only
 * install learns the result, and a failed callback only shows as CALLBACK_EXCEPTION, which is read as success when
 * the video exists.
 */
export const KIE_NO_CALLBACK_URL = 'https://api.example.com/callback';

/** The create body (§4.1). */
export function buildKieSunoBody(request: GenerationRequest): Record<string, unknown> {
  const source = request.musicVideo;
  if (!source)
    throw new ProviderError('validation', 'a music video needs the Suno task and track it is made from', {
      retryable: false,
    });
  const body: Record<string, unknown> = {
    taskId: source.taskId,
    audioId: source.audioId,
    callBackUrl: request.webhookUrl ?? KIE_NO_CALLBACK_URL,
  };
  if (source.author !== undefined) body.author = source.author;
  if (source.domainName !== undefined) body.domainName = source.domainName;
  return body;
}

const submitData = z.looseObject({ taskId: kieTaskId });

/** kie's own example writes times as "YYYY-MM-DD hh:mm:ss", a copy of the same API as epoch ms (§4.2): both pass. */
const time = z.union([z.string().max(64), z.number()]).nullish();

const recordData = z.looseObject({
  taskId: kieTaskId.optional(),
  // Any text: a flag we do not know fails the job clearly (below) instead of reading as malformed until the timeout.
  successFlag: z.string().max(100),
  response: z.looseObject({ videoUrl: httpUrl.nullish() }).nullish(),
  createTime: time,
  completeTime: time,
  errorCode: errorCodeField,
  errorMessage: z.string().max(4000).nullish(),
});

export async function submitKieSuno(
  client: KieClient,
  request: GenerationRequest,
  signal?: AbortSignal,
): Promise<TaskRef> {
  const answer = await client.call('POST', '/api/v1/mp4/generate', {
    where: 'submit',
    what: 'kie mp4 generate',
    json: buildKieSunoBody(request),
    headers: { 'x-clipbot-job-id': request.jobId },
    ...(signal ? { signal } : {}),
  });
  if (!answer.ok) {
    const existing = answer.code === 409 ? existingMp4Task(answer.res) : undefined;
    if (existing === undefined) throw answer.error;
    // kie makes one MP4 per song and keeps it: a Retry, or a second member asking for the same song, tracks that one.
    return { taskId: sharedMp4TaskRef(existing, request.jobId), providerModel: request.providerModel };
  }
  const data = kieData(answer.res, submitData, 'kie mp4 generate');
  return { taskId: data.taskId, providerModel: request.providerModel };
}

/**
 * Our task id for a job that tracks an MP4 task another job may already track: the job store keeps one job per
 * provider task id (that is how a callback finds its job), so the id names kie's task and this job. Such a job learns
 * its result by polling; kie's callback about the task goes to the job that created it.
 */
const SHARED_TASK_SEPARATOR = '#';

export function sharedMp4TaskRef(mp4TaskId: string, jobId: string): string {
  return `${mp4TaskId}${SHARED_TASK_SEPARATOR}${jobId}`;
}

/** kie's MP4 task id inside one of our task ids (kie's ids travel in query strings and never hold a '#'). */
export function kieMp4TaskId(taskId: string): string {
  const at = taskId.indexOf(SHARED_TASK_SEPARATOR);
  return at < 0 ? taskId : taskId.slice(0, at);
}

const conflictSchema = z.looseObject({ data: z.looseObject({ taskId: kieTaskId }) });

/**
 * The MP4 task a 409 "Mp4 record already exists" names in `data.taskId` [S: one public client reads it there; kie's
 * docs only list the code]. Without it the 409 stays an error: nothing else finds an MP4 task by its song.
 */
function existingMp4Task(res: JsonResponse): string | undefined {
  const parsed = conflictSchema.safeParse(res.body);
  return parsed.success ? parsed.data.data.taskId : undefined;
}

export async function statusKieSuno(client: KieClient, task: TaskRef, signal?: AbortSignal): Promise<TaskStatus> {
  const what = 'kie mp4 record-info';
  const data = await client.readRecord('/api/v1/mp4/record-info', kieMp4TaskId(task.taskId), {
    record: recordData,
    what,
    signal,
  });
  if (data === 'not yet') return { state: 'queued' };
  const videoUrl = data.response?.videoUrl ?? undefined;
  const failed = (code: number, message: string): TaskStatus => ({
    state: 'failed',
    error: generationError(data.errorCode, data.errorMessage, { code, message }, 'kie mp4 generation'),
  });
  switch (data.successFlag) {
    case 'PENDING':
      return { state: 'running' };
    case 'SUCCESS':
      if (videoUrl === undefined)
        throw new ProviderError('malformed', `${what}: success without a video URL`, { retryable: true });
      return { state: 'succeeded', videoUrl };
    case 'CALLBACK_EXCEPTION':
      // Only kie's call to our callback failed; when the video was made, it is as good as any.
      return videoUrl !== undefined
        ? { state: 'succeeded', videoUrl }
        : failed(500, 'the music video failed at kie.ai');
    case 'CREATE_TASK_FAILED':
      // The song itself could not be used (unknown task or track): the member's input, not kie's generation.
      return failed(400, 'kie.ai could not make a music video from this song');
    case 'GENERATE_MP4_FAILED':
      return failed(501, 'the music video failed at kie.ai');
    default:
      return { state: 'failed', error: unknownSuccessFlag(what, data.successFlag) };
  }
}

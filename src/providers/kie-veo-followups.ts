import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import type { GenerationRequest, TaskRef, TaskStatus } from '../core/ports.js';
import { kieData, kieTaskId, type KieClient } from './kie-api.js';
import { kieVeoSeed, statusKieVeo, type KieVeoModel } from './kie-veo.js';

/**
 * Follow-ups of a finished kie Veo 3.1 task (provider-apis.md §3.5, §7.3):
 * - Upscale: the parent task's 1080p copy (get-1080p-video) or 4K copy (get-4k-video). No new task exists at kie for
 *   1080p, and the jobs table keeps one job per provider task, so the follow-up's task id is ours:
 *   `upscale:<resolution>:<our job id>:<parent task id>`, which `status` reads back into the parent task.
 * - Extend: POST /api/v1/veo/extend makes a new task, tracked through record-info like any Veo task.
 */

const UPSCALE_RE = /^upscale:(1080p|4k):([\w-]{1,40}):(.+)$/;

export function upscaleTaskId(resolution: '1080p' | '4k', jobId: string, parentTaskId: string): string {
  return `upscale:${resolution}:${jobId}:${parentTaskId}`;
}

/** The parent task and wanted resolution of an upscale follow-up's task id; undefined for any other task id. */
export function parseUpscaleTaskId(taskId: string): { resolution: '1080p' | '4k'; parentTaskId: string } | undefined {
  const match = UPSCALE_RE.exec(taskId);
  return match ? { resolution: match[1] as '1080p' | '4k', parentTaskId: match[3]! } : undefined;
}

/**
 * Asks kie for the parent's upgraded copy once (this starts a 4K upgrade; a 1080p copy not ready yet is fine), so an
 * unknown task, an account problem or kie's "no 4K version of this video" refuses the follow-up at submit.
 * (A fallback-model parent would answer with its 720p video: we never ask for fallback, `enableFallback` is off.)
 */
export async function submitKieVeoUpscale(
  client: KieClient,
  request: GenerationRequest & { followup: { parentTaskId: string } },
  signal?: AbortSignal,
): Promise<TaskRef> {
  const resolution = request.params.resolution;
  if (resolution !== '1080p' && resolution !== '4k') {
    throw new ProviderError('validation', `kie.ai upscales Veo videos to 1080p or 4K, not ${resolution}`, {
      retryable: false,
    });
  }
  const parent: TaskRef = {
    taskId: request.followup.parentTaskId,
    providerModel: request.providerModel,
    params: request.params,
  };
  const first = await statusKieVeo(client, parent, signal);
  if (first.state === 'failed') throw first.error;
  return {
    taskId: upscaleTaskId(resolution, request.jobId, request.followup.parentTaskId),
    providerModel: request.providerModel,
    params: request.params,
  };
}

/** An upscale follow-up's status is its parent task's, at the wanted resolution. */
export async function statusKieVeoUpscale(
  client: KieClient,
  task: TaskRef,
  signal?: AbortSignal,
): Promise<TaskStatus | undefined> {
  const upscale = parseUpscaleTaskId(task.taskId);
  if (!upscale) return undefined;
  const params = task.params ?? { durationS: 8, aspectRatio: '16:9', resolution: upscale.resolution };
  return statusKieVeo(
    client,
    {
      taskId: upscale.parentTaskId,
      providerModel: task.providerModel,
      params: { ...params, resolution: upscale.resolution },
    },
    signal,
  );
}

/** kie's extend names the model `fast` or `quality` (the docs' example sends "fast"; "quality" is [U]). */
const EXTEND_MODEL: Record<KieVeoModel, string> = { veo3_fast: 'fast', veo3: 'quality' };

/** The extend body (docs.kie.ai veo3-api/extend-video, old-model form): the parent task, the new prompt. */
export function buildKieVeoExtendBody(
  request: GenerationRequest & { followup: { parentTaskId: string } },
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    taskId: request.followup.parentTaskId,
    prompt: request.prompt,
    model: EXTEND_MODEL[request.providerModel as KieVeoModel] ?? 'fast',
  };
  if (request.params.seed !== undefined) body.seeds = kieVeoSeed(request.params.seed);
  if (request.webhookUrl !== undefined) body.callBackUrl = request.webhookUrl;
  return body;
}

const submitData = z.looseObject({ taskId: kieTaskId });

export async function submitKieVeoExtend(
  client: KieClient,
  request: GenerationRequest & { followup: { parentTaskId: string } },
  signal?: AbortSignal,
): Promise<TaskRef> {
  const answer = await client.call('POST', '/api/v1/veo/extend', {
    where: 'submit',
    what: 'kie veo extend',
    json: buildKieVeoExtendBody(request),
    headers: { 'x-clipbot-job-id': request.jobId },
    ...(signal ? { signal } : {}),
  });
  if (!answer.ok) throw answer.error;
  const data = kieData(answer.res, submitData, 'kie veo extend');
  // The continuation is a 720p Veo task: record-info, never an upgrade.
  return {
    taskId: data.taskId,
    providerModel: request.providerModel,
    params: { ...request.params, resolution: '720p' },
  };
}

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { clip } from '../clip.js';
import { ProviderError, WebhookAuthError } from '../core/errors.js';
import {
  systemClock,
  type Clock,
  type GenerationRequest,
  type Logger,
  type TaskRef,
  type TaskStatus,
  type VideoProvider,
  type WebhookEvent,
  type WebhookRequest,
} from '../core/ports.js';
import { createHttpAgent } from './http.js';
import { createKieClient, isKieTaskId, kieData, kieTaskId } from './kie-api.js';
import { KIE_SUNO_MP4_MODEL, statusKieSuno, submitKieSuno } from './kie-suno.js';
import { isKieVeoModel, statusKieVeo, submitKieVeo } from './kie-veo.js';
import { statusKieVeoUpscale, submitKieVeoExtend, submitKieVeoUpscale } from './kie-veo-followups.js';

/**
 * kie.ai adapter: Veo 3.1 (provider-apis.md §3, §7.3) and the Suno music-video MP4 API (§4), one key and one base URL.
 * The catalog's provider model picks the API: 'veo3' / 'veo3_fast' or 'suno-mp4'.
 * kie has no cancel endpoint, and its callbacks are notifications only: record-info is the source of truth.
 */

export interface KieProviderOptions {
  apiKey: string;
  /** `https://api.kie.ai` or a simulator. */
  baseUrl: string;
  /**
   * The "webhookHmacKey" of the kie account, when enabled there: callbacks must then carry a valid signature.
   * Without it any well-formed callback is accepted, which is safe only because a callback never moves a job by itself.
   */
  webhookHmacKey?: string;
  clock?: Clock;
  logger?: Logger;
  /** Deadline of each HTTP request. */
  timeoutMs?: number;
  /** How long "record is null" from record-info counts as "not written yet" (default KIE_RECORD_GRACE_MS). */
  recordGraceMs?: number;
  /** Owned by the caller when given; otherwise the adapter makes one and `close()` ends it. */
  dispatcher?: Dispatcher;
}

export interface KieProvider extends VideoProvider {
  readonly id: 'kie';
  verifyWebhook(request: WebhookRequest): Promise<WebhookEvent>;
  /** The account's remaining credits (`GET /api/v1/chat/credit`, docs.kie.ai "Get Remaining Credits": `data` is the number). */
  credits(signal?: AbortSignal): Promise<number>;
  close(): Promise<void>;
}

/** kie does not say how old a signed callback may be [U]; five minutes either way, as for fal. */
export const KIE_WEBHOOK_TOLERANCE_S = 300;
const MAX_CALLBACK_BYTES = 256 * 1024;
/** base64 of an HMAC-SHA256: 32 bytes. */
const SIGNATURE_RE = /^[A-Za-z0-9+/]{43}=$/;

/** Veo names the task `data.taskId`, Suno MP4 `data.task_id` (§3.4, §4.3). Nothing else in the body is trusted. */
const callbackSchema = z.looseObject({
  code: z.number().int().optional(),
  data: z.looseObject({ taskId: kieTaskId.optional(), task_id: kieTaskId.optional() }),
});

/** `data` signed by kie's scheme (§3.4): only the task id and the timestamp, never the body. */
export function signKieWebhook(key: string, taskId: string, timestamp: number | string): string {
  return createHmac('sha256', key).update(`${taskId}.${timestamp}`, 'utf8').digest('base64');
}

export function createKieProvider(opts: KieProviderOptions): KieProvider {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger?.child({ provider: 'kie' });
  const ownsDispatcher = opts.dispatcher === undefined;
  const dispatcher = opts.dispatcher ?? createHttpAgent();
  const client = createKieClient({
    apiKey: opts.apiKey,
    baseUrl: opts.baseUrl,
    dispatcher,
    clock,
    timeoutMs: opts.timeoutMs ?? 30_000,
    ...(opts.recordGraceMs !== undefined ? { recordGraceMs: opts.recordGraceMs } : {}),
  });

  function unknownModel(model: string): ProviderError {
    return new ProviderError('validation', `not a kie.ai model: ${JSON.stringify(clip(model, 80))}`, {
      retryable: false,
    });
  }

  async function submit(request: GenerationRequest, signal?: AbortSignal): Promise<TaskRef> {
    let task: TaskRef;
    const followup = request.followup;
    if (followup && isKieVeoModel(request.providerModel)) {
      task =
        followup.kind === 'upscale'
          ? await submitKieVeoUpscale(client, { ...request, followup }, signal)
          : await submitKieVeoExtend(client, { ...request, followup }, signal);
    } else if (followup)
      throw new ProviderError(
        'validation',
        `kie.ai has no follow-ups for ${JSON.stringify(clip(request.providerModel, 80))}`,
        { retryable: false },
      );
    else if (request.providerModel === KIE_SUNO_MP4_MODEL) task = await submitKieSuno(client, request, signal);
    else if (isKieVeoModel(request.providerModel)) task = await submitKieVeo(client, request, signal);
    else throw unknownModel(request.providerModel);
    log?.debug({ jobId: request.jobId, taskId: task.taskId, model: request.providerModel }, 'kie task created');
    return task;
  }

  async function status(task: TaskRef, signal?: AbortSignal): Promise<TaskStatus> {
    if (!isKieTaskId(task.taskId)) {
      throw new ProviderError('not_found', `not a kie task id: ${JSON.stringify(clip(task.taskId, 80))}`, {
        retryable: false,
      });
    }
    if (task.providerModel === KIE_SUNO_MP4_MODEL) return statusKieSuno(client, task, signal);
    if (isKieVeoModel(task.providerModel))
      return (await statusKieVeoUpscale(client, task, signal)) ?? statusKieVeo(client, task, signal);
    throw unknownModel(task.providerModel);
  }

  /**
   * Names the task a callback is about, after checking its signature when the account signs callbacks.
   * The status is never taken from the body: kie signs only the task id and the time, so the rest could be anyone's.
   */
  async function verifyWebhook(req: WebhookRequest): Promise<WebhookEvent> {
    if (req.rawBody.length > MAX_CALLBACK_BYTES) throw new WebhookAuthError('kie webhook: body too large');
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(req.rawBody).toString('utf8'));
    } catch {
      throw new WebhookAuthError('kie webhook: body is not JSON');
    }
    const parsed = callbackSchema.safeParse(json);
    if (!parsed.success) throw new WebhookAuthError('kie webhook: unexpected body');
    const { taskId: camel, task_id: snake } = parsed.data.data;
    if (camel !== undefined && snake !== undefined && camel !== snake)
      throw new WebhookAuthError('kie webhook: two task ids');
    const taskId = camel ?? snake;
    if (taskId === undefined) throw new WebhookAuthError('kie webhook: no task id');

    if (opts.webhookHmacKey === undefined) return { taskId };
    // Signed: repeats of one delivery share the signed task id and timestamp (the body's `code` is not signed).
    const timestamp = verifySignature(req.headers, taskId, opts.webhookHmacKey);
    return { taskId, deliveryId: `${taskId}:${timestamp}` };
  }

  /** Throws unless the callback is signed with the account's key; returns the signed timestamp. */
  function verifySignature(raw: Record<string, string | undefined>, taskId: string, key: string): string {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw)) if (value !== undefined) headers[name.toLowerCase()] = value;
    const timestamp = headers['x-webhook-timestamp']?.trim();
    const signature = headers['x-webhook-signature']?.trim();
    if (!timestamp || !signature) throw new WebhookAuthError('kie webhook: signature headers missing');
    if (!/^\d{1,15}$/.test(timestamp)) throw new WebhookAuthError('kie webhook: bad timestamp');
    const nowS = Math.floor(clock.now() / 1000);
    if (Math.abs(nowS - Number(timestamp)) > KIE_WEBHOOK_TOLERANCE_S)
      throw new WebhookAuthError('kie webhook: timestamp out of range');
    if (!SIGNATURE_RE.test(signature)) throw new WebhookAuthError('kie webhook: signature is not 32 bytes of base64');
    const expected = Buffer.from(signKieWebhook(key, taskId, timestamp), 'base64');
    const given = Buffer.from(signature, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new WebhookAuthError('kie webhook: signature does not verify');
    }
    return timestamp;
  }

  return {
    id: 'kie',
    // kie downloads `imageUrls` itself: it needs a URL it can reach, never a data: URI.
    acceptsInlineImages: false,
    submit,
    status,
    // No cancel endpoint exists (§3.6): the task runs to its end and is simply not tracked any more.
    async cancel() {
      return false;
    },
    verifyWebhook,
    async credits(signal) {
      const answer = await client.call('GET', '/api/v1/chat/credit', {
        where: 'read',
        what: 'credits',
        ...(signal ? { signal } : {}),
      });
      if (!answer.ok) throw answer.error;
      return kieData(answer.res, z.number().nonnegative(), 'credits');
    },
    async close() {
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}

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
import {
  clipProviderMessage,
  createHttpAgent,
  errorFromStatus,
  httpUrl,
  parseBody,
  requestJson,
  type HttpMethod,
  type JsonResponse,
} from './http.js';

/**
 * Volcano Engine Ark / BytePlus ModelArk adapter for Seedance (provider-apis.md §2).
 * Parameters travel as body fields, never as `--flag` text (see `buildArkBody`). Callbacks are unsigned, so a
 * callback only names a task: the engine reads the task with `status` before anything moves.
 */

export interface ArkProviderOptions {
  apiKey: string;
  /** `https://ark.cn-beijing.volces.com/api/v3`, the BytePlus host, or a simulator. */
  baseUrl: string;
  clock?: Clock;
  logger?: Logger;
  /** Deadline of each HTTP request. */
  timeoutMs?: number;
  /** Owned by the caller when given; otherwise the adapter makes one and `close()` ends it. */
  dispatcher?: Dispatcher;
  /** The owner's `service_tier` (ARK_SERVICE_TIER); unset sends none, so Ark applies its default. */
  serviceTier?: ArkServiceTier;
  /** Provider model ids that offer the `flex` tier (catalog `offersFlexTier`); the others get Ark's default. */
  flexModels?: ReadonlySet<string>;
}

export type ArkServiceTier = 'default' | 'flex';

export type ArkBodyOptions = Pick<ArkProviderOptions, 'serviceTier' | 'flexModels'>;

export interface ArkProvider extends VideoProvider {
  readonly id: 'ark';
  verifyWebhook(request: WebhookRequest): Promise<WebhookEvent>;
  close(): Promise<void>;
}

/** Task ids go into URL paths: anything but a plain token (`cgt-20250629201507-n6k56` in practice) is refused. */
const TASK_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const MAX_CALLBACK_BYTES = 256 * 1024;

/**
 * The old-style parameter flags Ark reads from the prompt text (§2.2), long names and the [U] short aliases.
 * Which wins when a flag and a body field disagree is [U], so a member's prompt must never carry one: a typed
 * `--resolution 1080p --duration 12` could otherwise buy a clip far dearer than the one charged.
 */
const TEXT_FLAG_RE =
  /(^|[\s\S])-{2,}(?=(?:resolution|rs|ratio|rt|duration|dur|frames|framespersecond|fps|camerafixed|cf|watermark|wm|seed|draft)(?![\w-]))/gi;

/**
 * Removes the dashes of anything Ark might read as a parameter flag, wherever it stands (`cat,--duration 12`
 * too: how strictly Ark's parser looks for a word boundary is unknown); the words stay part of the prompt.
 */
export function neutralizeTextFlags(prompt: string): string {
  return prompt.replace(TEXT_FLAG_RE, (_match, before: string) =>
    before === '' || /\s/.test(before) ? before : `${before} `,
  );
}

/**
 * The create body (§2.2). Body fields only: the SDK sends them, newer docs recommend them, and appending the
 * old `--resolution …` flags as well would give Ark two answers to one question with an undocumented winner.
 * Catalog `auto` (image-to-video keeps the image's shape) is Ark's `adaptive`.
 */
export function buildArkBody(request: GenerationRequest, opts: ArkBodyOptions = {}): Record<string, unknown> {
  const p = request.params;
  const content: Record<string, unknown>[] = [{ type: 'text', text: neutralizeTextFlags(request.prompt) }];
  if (request.imageUrl !== undefined) {
    content.push({ type: 'image_url', image_url: { url: request.imageUrl }, role: 'first_frame' });
  }
  const body: Record<string, unknown> = {
    model: request.providerModel,
    content,
    resolution: p.resolution,
    ratio: p.aspectRatio === 'auto' ? 'adaptive' : p.aspectRatio,
    duration: p.durationS,
    watermark: false,
    // Ark's minimum (1 h) instead of its 48 h default: a task we gave up on should not finish and bill much later.
    execution_expires_after: 3600,
  };
  if (p.cameraFixed !== undefined) body.camera_fixed = p.cameraFixed;
  if (p.seed !== undefined) body.seed = p.seed;
  if (p.audio !== undefined) body.generate_audio = p.audio;
  if (request.webhookUrl !== undefined) body.callback_url = request.webhookUrl;
  // Flex (offline, cheaper) is not offered for Seedance 2.0 [S]: asking for it there would fail every job.
  if (opts.serviceTier === 'default' || (opts.serviceTier === 'flex' && opts.flexModels?.has(request.providerModel))) {
    body.service_tier = opts.serviceTier;
  }
  // The last frame is what Extend continues from (§7.2: "the documented way to chain clips"); asking costs nothing.
  body.return_last_frame = true;
  return body;
}

// ---------------------------------------------------------------- response schemas

const taskId = z.string().regex(TASK_ID_RE, 'not a task id');

const createSchema = z.looseObject({ id: taskId });

const ARK_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;

const taskErrorSchema = z.looseObject({ code: z.string().max(200), message: z.string().max(4000).nullish() });

const taskSchema = z.looseObject({
  id: taskId,
  status: z.enum(ARK_STATUSES),
  content: z.looseObject({ video_url: httpUrl.nullish(), last_frame_url: httpUrl.nullish() }).nullish(),
  error: taskErrorSchema.nullish(),
});

const errorBodySchema = z.looseObject({
  error: z.looseObject({
    code: z.string().max(200).nullish(),
    message: z.string().max(4000).nullish(),
    param: z.string().max(200).nullish(),
    type: z.string().max(200).nullish(),
  }),
});

/** Only the id is trusted, and only as a hint: the rest of an unsigned body is anyone's word. */
const callbackSchema = z.looseObject({
  id: taskId,
  status: z
    .string()
    .regex(/^[a-z_]{1,32}$/)
    .optional(),
  updated_at: z.number().int().nonnegative().optional(),
});

// ---------------------------------------------------------------- error classification

type Operation = 'create' | 'get' | 'delete';

/** Ark appends its request id to every message; the member does not need it and it defeats log grouping. */
function cleanMessage(message: string | null | undefined): string {
  return clipProviderMessage((message ?? '').replace(/\s*Request id:\s*\S+\s*$/i, '').trim());
}

const isInputPolicy = (code: string) =>
  /^Input(Text|Image|Video|Audio)(SensitiveContentDetected|RiskDetection)/.test(code);
const isOutputPolicy = (code: string) =>
  /^Output(Video|Audio|Text|Image)(SensitiveContentDetected|RiskDetection)/.test(code);
const isValidationCode = (code: string) => /^(InvalidParameter|MissingParameter)/.test(code);

/** A code that names the input or output filter; `ContentSecurityDetectionError` is placed by when it happened. */
function policyStage(code: string, during: 'create' | 'task'): 'input' | 'output' | undefined {
  if (isInputPolicy(code)) return 'input';
  if (isOutputPolicy(code)) return 'output';
  if (code === 'ContentSecurityDetectionError') return during === 'create' ? 'input' : 'output';
  return undefined;
}

/** An HTTP error answer (§2.6) → ProviderError. Validation messages are what the member reads: Ark's words only. */
function arkHttpError(res: JsonResponse, op: Operation, nowMs: number): ProviderError {
  const parsed = errorBodySchema.safeParse(res.body);
  const err = parsed.success ? parsed.data.error : undefined;
  const code = err?.code ?? '';
  const message = cleanMessage(err?.message);
  const status = res.status;
  const label = `ark ${op}: HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;

  if (status === 429) return errorFromStatus(status, res.headers, label, nowMs);
  if (status >= 500) return errorFromStatus(status, res.headers, label, nowMs);
  const stage = policyStage(code, 'create');
  if (stage !== undefined && status >= 400 && status < 500) {
    return new ProviderError('content_policy', message || code, { status, stage, retryable: false });
  }
  if (status === 403) {
    // An overdue account needs money; AccessDenied / ModelNotOpen need the owner to grant or activate something.
    return new ProviderError(code.startsWith('AccountOverdue') ? 'insufficient_funds' : 'auth', label, { status });
  }
  const detail = message || code || `HTTP ${status}`;
  const param = err?.param;
  const forMember = param && !detail.includes(param) ? `${param}: ${detail}` : detail;
  if (status === 400 && isValidationCode(code)) return new ProviderError('validation', forMember, { status });
  // Other refusals of the request itself (400, 409, 422) are shown to the member too: Ark's words, no internals.
  const refusal = status >= 400 && status < 500 && ![401, 402, 404, 408].includes(status);
  return errorFromStatus(status, res.headers, refusal ? forMember : label, nowMs);
}

/** A task Ark reports as failed (§2.4): its `error.code` says whose fault it was. */
function taskFailure(code: string | undefined, message: string | null | undefined): ProviderError {
  const text = cleanMessage(message) || code || 'the task failed without an error code';
  if (code === undefined) return new ProviderError('unknown', `ark task failed: ${text}`, { retryable: false });
  const stage = policyStage(code, 'task');
  if (stage !== undefined) return new ProviderError('content_policy', text, { stage, retryable: false });
  if (isValidationCode(code)) return new ProviderError('validation', text, { retryable: false });
  // The task is over either way; the kind only tells the owner whether Ark or the request was at fault.
  if (/^(InternalServiceError|ServerOverloaded|ServiceUnavailable|ModelLoadingError)/.test(code)) {
    return new ProviderError('transient', `ark task failed: ${code}: ${text}`, { retryable: true });
  }
  return new ProviderError('unknown', `ark task failed: ${code}: ${text}`, { retryable: false });
}

// ---------------------------------------------------------------- the adapter

export function createArkProvider(opts: ArkProviderOptions): ArkProvider {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger?.child({ provider: 'ark' });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const ownsDispatcher = opts.dispatcher === undefined;
  const dispatcher = opts.dispatcher ?? createHttpAgent();
  const tasksUrl = `${opts.baseUrl.replace(/\/+$/, '')}/contents/generations/tasks`;

  function call(method: HttpMethod, url: string, signal?: AbortSignal, json?: unknown, extra?: Record<string, string>) {
    return requestJson(dispatcher, {
      method,
      url,
      headers: { authorization: `Bearer ${opts.apiKey}`, ...extra },
      timeoutMs,
      ...(json !== undefined ? { json } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  function taskUrl(task: TaskRef): string {
    if (!TASK_ID_RE.test(task.taskId)) {
      throw new ProviderError('not_found', `not an Ark task id: ${JSON.stringify(clip(task.taskId, 80))}`, {
        retryable: false,
      });
    }
    return `${tasksUrl}/${task.taskId}`;
  }

  const ok = (res: JsonResponse) => res.status >= 200 && res.status < 300;

  /**
   * Extend on Ark: image-to-video from the parent task's last frame (`content.last_frame_url`, asked for on every
   * task), with the new prompt. Ark keeps that URL 24 h and the task 7 days [S]: an older clip cannot be extended.
   * Ark returns no joined clip: the member gets the continuation.
   */
  async function extendRequest(
    request: GenerationRequest,
    parentTaskId: string,
    signal?: AbortSignal,
  ): Promise<GenerationRequest> {
    const parent = await readTask({ taskId: parentTaskId, providerModel: request.providerModel }, signal);
    const lastFrame = parent.status === 'succeeded' ? parent.content?.last_frame_url : undefined;
    if (!lastFrame)
      throw new ProviderError('validation', 'ark: the last frame of this video is not available any more', {
        retryable: false,
      });
    const { followup: _followup, ...rest } = request;
    return { ...rest, imageUrl: lastFrame };
  }

  async function submit(request: GenerationRequest, signal?: AbortSignal): Promise<TaskRef> {
    if (request.followup?.kind === 'upscale')
      throw new ProviderError('validation', 'ark: videos cannot be upscaled', { retryable: false });
    if (request.followup) request = await extendRequest(request, request.followup.parentTaskId, signal);
    const res = await call('POST', tasksUrl, signal, buildArkBody(request, opts), {
      'x-clipbot-job-id': request.jobId,
    });
    if (!ok(res)) throw arkHttpError(res, 'create', clock.now());
    const body = parseBody(res, createSchema, 'ark create');
    log?.debug({ jobId: request.jobId, taskId: body.id, model: request.providerModel }, 'ark task created');
    return { taskId: body.id, providerModel: request.providerModel };
  }

  async function readTask(task: TaskRef, signal?: AbortSignal): Promise<z.output<typeof taskSchema>> {
    const res = await call('GET', taskUrl(task), signal);
    if (!ok(res)) throw arkHttpError(res, 'get', clock.now());
    const body = parseBody(res, taskSchema, 'ark get');
    if (body.id !== task.taskId)
      throw new ProviderError('malformed', 'ark get: answer is about another task', { retryable: true });
    return body;
  }

  async function status(task: TaskRef, signal?: AbortSignal): Promise<TaskStatus> {
    const body = await readTask(task, signal);
    switch (body.status) {
      case 'queued':
        return { state: 'queued' };
      case 'running':
        return { state: 'running' };
      case 'succeeded': {
        const videoUrl = body.content?.video_url;
        if (!videoUrl)
          throw new ProviderError('malformed', 'ark get: succeeded without content.video_url', { retryable: true });
        return { state: 'succeeded', videoUrl };
      }
      case 'failed': {
        const error = taskFailure(body.error?.code, body.error?.message);
        log?.debug({ taskId: task.taskId, code: body.error?.code, kind: error.kind }, 'ark task failed');
        return { state: 'failed', error };
      }
      case 'cancelled':
        return { state: 'failed', error: new ProviderError('unknown', 'ark task was cancelled', { retryable: false }) };
      case 'expired':
        return {
          state: 'failed',
          error: new ProviderError('timeout', 'ark task expired before it finished', { retryable: false }),
        };
    }
  }

  /**
   * DELETE only cancels a queued task; on a finished one it deletes the record (and with it the only copy of the
   * video URL), and on a running one its effect is undocumented. So the task is read first and only a queued one
   * is deleted.
   */
  async function cancel(task: TaskRef, signal?: AbortSignal): Promise<boolean> {
    let current: z.output<typeof taskSchema>;
    try {
      current = await readTask(task, signal);
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'not_found') return false;
      throw err;
    }
    if (current.status !== 'queued') return false;
    const res = await call('DELETE', taskUrl(task), signal);
    if (ok(res)) return true;
    // It started running between the read and the delete, or vanished: nothing was cancelled.
    if (res.status >= 400 && res.status < 500 && ![401, 403, 408, 429].includes(res.status)) return false;
    throw arkHttpError(res, 'delete', clock.now());
  }

  /**
   * Ark signs nothing (§2.5), so nothing in the body is believed: a well-formed callback only names a task and
   * the engine reads that task with `status`. The delivery id keeps each reported change distinct, so a
   * duplicate is dropped while a later change still wakes the job.
   */
  async function verifyWebhook(req: WebhookRequest): Promise<WebhookEvent> {
    if (req.rawBody.byteLength > MAX_CALLBACK_BYTES) throw new WebhookAuthError('ark callback: body too large');
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(req.rawBody).toString('utf8'));
    } catch {
      throw new WebhookAuthError('ark callback: body is not JSON');
    }
    const parsed = callbackSchema.safeParse(json);
    if (!parsed.success) throw new WebhookAuthError('ark callback: no task id');
    const { id, status: reported } = parsed.data;
    // Unsigned: no dedup key (every field is the sender's choice), a nudge at most. Ark calls back on every change,
    // and only the end is worth a status read: the claimed queued/running ones are just acknowledged.
    return { taskId: id, ...(reported === 'queued' || reported === 'running' ? { progressOnly: true } : {}) };
  }

  return {
    id: 'ark',
    // Ark takes `data:image/<fmt>;base64,…` as well as a URL for image_url [S]; the simulator checks the same shape.
    acceptsInlineImages: true,
    submit,
    status,
    cancel,
    verifyWebhook,
    async close() {
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}

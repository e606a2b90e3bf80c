import { createHash, createPublicKey, verify as verifyEd25519, type KeyObject } from 'node:crypto';
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
  describeUrl,
  errorFromStatus,
  httpUrl,
  parseBody,
  requestJson,
  type HttpMethod,
  type JsonResponse,
} from './http.js';

/**
 * fal.ai queue API adapter for the Seedance models (provider-apis.md §1).
 * Submit posts to the full model id; status, result and cancel use only `owner/app` (§1.2).
 * A finished request is always COMPLETED; a failure only shows when the result is read (§1.4).
 */

export interface FalProviderOptions {
  key: string;
  /** `https://queue.fal.run` or a simulator. */
  queueUrl: string;
  /**
   * Where fal publishes its webhook public keys, tried in order until one verifies: fal's docs name
   * `https://rest.fal.ai/.well-known/jwks.json` now and `https://rest.alpha.fal.ai/.well-known/jwks.json` before.
   * The later URLs are fetched only when the keys of the earlier ones do not verify a webhook.
   */
  jwksUrls: readonly string[];
  clock?: Clock;
  logger?: Logger;
  /** Deadline of each HTTP request. */
  timeoutMs?: number;
  /** Owned by the caller when given; otherwise the adapter makes one and `close()` ends it. */
  dispatcher?: Dispatcher;
  /** When set, webhooks signed for another fal account are refused (fal signs every account's webhooks alike). */
  webhookUserId?: string;
  /** How long fetched JWKS keys are trusted; at most 24 h (§1.5). */
  jwksTtlMs?: number;
  /** Minimum time between JWKS refetches triggered by a signature that no cached key verifies. */
  jwksRefreshIntervalMs?: number;
  /** While no key could ever be loaded: minimum time between JWKS fetches (default 30 s). */
  jwksRetryAfterFailureMs?: number;
}

export interface FalProvider extends VideoProvider {
  readonly id: 'fal';
  verifyWebhook(request: WebhookRequest): Promise<WebhookEvent>;
  close(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
export const FAL_WEBHOOK_TOLERANCE_S = 300;
const NAMESPACES = new Set(['workflows', 'comfy']);
const SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Request ids go into URL paths: anything but a plain token (a uuid in practice) is refused. */
const REQUEST_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** A content-policy verdict whose `loc` names one of these was about the input, even if it came with the result. */
const INPUT_FIELDS = new Set(['prompt', 'image_url', 'end_image_url']);

export interface FalEndpoint {
  /** `owner/app` (with a `workflows/` or `comfy/` prefix when namespaced): what status, result and cancel use. */
  app: string;
  /** The full model id: what submit uses. */
  model: string;
}

/** Splits a model id the way fal's own client does (`parseEndpointId`). */
export function parseFalModelId(id: string): FalEndpoint {
  const parts = id.split('/');
  const ns = parts[0] !== undefined && NAMESPACES.has(parts[0]) ? 1 : 0;
  if (parts.length < 2 + ns || !parts.every((p) => SEGMENT_RE.test(p) && p !== '..')) {
    throw new ProviderError('validation', `not a fal model id: ${JSON.stringify(id)}`, { retryable: false });
  }
  return { app: parts.slice(0, 2 + ns).join('/'), model: parts.join('/') };
}

/** Which of fal's Seedance input schemas a model id takes: v1 and v1.5 (§1.8) or 2.0 (§7.1, ids without `fal-ai/`). */
export function falSeedanceSchema(model: string): 'v1' | 'v1.5' | '2.0' {
  if (model.startsWith('bytedance/seedance-2.0/')) return '2.0';
  return /\/v1\.5\//.test(model) ? 'v1.5' : 'v1';
}

/**
 * The input exactly as the model's schema names it: `duration` is a string enum everywhere; `generate_audio` exists
 * on v1.5 and 2.0 only; 2.0 names no `seed`, `camera_fixed` or `enable_safety_checker`. The end frame
 * (`end_image_url`) is never sent: members give one image.
 */
export function buildFalInput(request: GenerationRequest): Record<string, unknown> {
  const p = request.params;
  const schema = falSeedanceSchema(request.providerModel);
  const input: Record<string, unknown> = {
    prompt: request.prompt,
    duration: String(p.durationS),
    resolution: p.resolution,
    aspect_ratio: p.aspectRatio,
  };
  if (schema !== '2.0') {
    input.enable_safety_checker = true;
    if (p.seed !== undefined) input.seed = p.seed;
    if (p.cameraFixed !== undefined) input.camera_fixed = p.cameraFixed;
  }
  if (schema !== 'v1') input.generate_audio = p.audio ?? true;
  if (request.imageUrl !== undefined) input.image_url = request.imageUrl;
  return input;
}

// ---------------------------------------------------------------- response schemas

const requestId = z.string().regex(REQUEST_ID_RE, 'not a request id');

const submitSchema = z.looseObject({
  request_id: requestId,
  queue_position: z.number().int().min(0).nullish(),
});

const statusSchema = z.looseObject({
  status: z.enum(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']),
  request_id: z.string().optional(),
  queue_position: z.number().int().min(0).nullish(),
  error: z.string().nullish(),
  error_type: z.string().nullish(),
});

const outputSchema = z.looseObject({
  video: z.looseObject({ url: httpUrl, content_type: z.string().optional() }),
  seed: z.number().optional(),
});

const detailItemSchema = z.looseObject({
  loc: z.array(z.union([z.string(), z.number()])).optional(),
  msg: z.string().optional(),
  type: z.string().optional(),
});

const errorBodySchema = z.looseObject({
  detail: z.union([z.string(), z.array(detailItemSchema)]).optional(),
  error_type: z.string().nullish(),
  message: z.string().optional(),
  status: z.string().optional(),
});

const webhookSchema = z.looseObject({
  request_id: z.string(),
  gateway_request_id: z.string().nullish(),
  status: z.enum(['OK', 'ERROR']),
  payload: z.unknown().optional(),
  error: z.string().nullish(),
  payload_error: z.string().nullish(),
});

const jwksSchema = z.object({
  keys: z
    .array(z.looseObject({ kty: z.string().optional(), crv: z.string().optional(), x: z.string().optional() }))
    .max(50),
});

// ---------------------------------------------------------------- error classification

interface Detail {
  field?: string;
  msg: string;
  type: string;
}

function readDetails(body: unknown): { details: Detail[]; errorType?: string; message?: string } {
  const parsed = errorBodySchema.safeParse(body);
  if (!parsed.success) return { details: [] };
  const { detail, error_type: errorType, message } = parsed.data;
  const details: Detail[] =
    typeof detail === 'string'
      ? [{ msg: detail, type: errorType ?? 'value_error' }]
      : (detail ?? []).map((d) => {
          const field = [...(d.loc ?? [])].reverse().find((l): l is string => typeof l === 'string' && l !== 'body');
          return { ...(field !== undefined ? { field } : {}), msg: d.msg ?? '', type: d.type ?? '' };
        });
  return { details, ...(errorType ? { errorType } : {}), ...(message ? { message } : {}) };
}

type Operation = 'submit' | 'status' | 'result' | 'cancel';

/**
 * fal error → ProviderError (§1.7). Validation messages are what the member reads, so they carry only the field
 * messages. `X-Fal-Retryable` overrides our guess, except for content policy and auth: retrying those only costs.
 */
function falError(
  status: number,
  headers: Record<string, string>,
  body: unknown,
  op: Operation,
  nowMs: number,
): ProviderError {
  const { details, errorType, message } = readDetails(body);
  const summary = clipProviderMessage(
    details.length
      ? details.map((d) => (d.field ? `${d.field}: ${d.msg}` : d.msg)).join('; ')
      : (message ?? errorType ?? `HTTP ${status}`),
  );
  const policy = details.find((d) => d.type === 'content_policy_violation');
  if (policy || errorType === 'content_policy_violation') {
    const stage =
      op === 'submit' || (policy?.field !== undefined && INPUT_FIELDS.has(policy.field)) ? 'input' : 'output';
    return new ProviderError('content_policy', summary, { status, stage, retryable: false });
  }
  const clientError = status >= 400 && status < 500 && status !== 429;
  let error = errorFromStatus(status, headers, clientError ? summary : `fal ${op}: HTTP ${status}: ${summary}`, nowMs);
  // fal locks accounts whose balance ran out with a 403 [U: wording from memory].
  if (status === 403 && /balance|billing|locked/i.test(summary)) {
    error = new ProviderError('insufficient_funds', error.message, { status });
  }
  const hint = retryHint(headers);
  if (hint !== undefined && error.kind !== 'auth' && error.kind !== 'insufficient_funds') {
    error = new ProviderError(error.kind, error.message, {
      status,
      retryable: hint,
      ...(error.retryAfterS !== undefined ? { retryAfterS: error.retryAfterS } : {}),
    });
  }
  return error;
}

/**
 * fal's word on retrying, from `X-Fal-Retryable` (model errors, "true" / "false") or `X-Fal-Needs-Retry` (the
 * per-response override its retries page documents as "1" / "0"; "true" / "false" are seen in the wild too).
 * When both are present and disagree, `X-Fal-Needs-Retry` wins: fal's docs say it takes precedence.
 */
export function retryHint(headers: Record<string, string>): boolean | undefined {
  const read = (value: string | undefined): boolean | undefined => {
    const v = value?.trim().toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes') return true;
    if (v === 'false' || v === '0' || v === 'no') return false;
    return undefined;
  };
  return read(headers['x-fal-needs-retry']) ?? read(headers['x-fal-retryable']);
}

/** The status an ERROR webhook or a failed result carries (`error: "Invalid status code: 422"`). */
function statusFromWebhookError(error: string | null | undefined): number {
  const m = /\b([45]\d\d)\b/.exec(error ?? '');
  return m ? Number(m[1]) : 500;
}

// ---------------------------------------------------------------- the adapter

export function createFalProvider(opts: FalProviderOptions): FalProvider {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger?.child({ provider: 'fal' });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const ownsDispatcher = opts.dispatcher === undefined;
  const dispatcher = opts.dispatcher ?? createHttpAgent();
  const queueUrl = opts.queueUrl.replace(/\/+$/, '');
  if (!opts.jwksUrls.length) throw new Error('fal: at least one JWKS URL is needed to verify webhooks');
  const jwksSets = opts.jwksUrls.map(
    (url) =>
      new JwksCache({
        url,
        clock,
        ttlMs: Math.min(opts.jwksTtlMs ?? DAY_MS, DAY_MS),
        refreshIntervalMs: opts.jwksRefreshIntervalMs ?? 5 * 60 * 1000,
        retryAfterFailureMs: opts.jwksRetryAfterFailureMs ?? 30_000,
        fetch: (signal) => requestJson(dispatcher, { method: 'GET', url, timeoutMs, ...(signal ? { signal } : {}) }),
        ...(log ? { log } : {}),
      }),
  );

  function call(method: HttpMethod, url: string, signal?: AbortSignal, json?: unknown, extra?: Record<string, string>) {
    return requestJson(dispatcher, {
      method,
      url,
      headers: { authorization: `Key ${opts.key}`, ...extra },
      timeoutMs,
      ...(json !== undefined ? { json } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  function requestUrl(task: TaskRef, suffix: string): string {
    if (!REQUEST_ID_RE.test(task.taskId)) {
      throw new ProviderError('not_found', `not a fal request id: ${JSON.stringify(clip(task.taskId, 80))}`, {
        retryable: false,
      });
    }
    return `${queueUrl}/${parseFalModelId(task.providerModel).app}/requests/${task.taskId}${suffix}`;
  }

  function fail(res: JsonResponse, op: Operation): ProviderError {
    return falError(res.status, res.headers, res.body, op, clock.now());
  }

  async function submit(request: GenerationRequest, signal?: AbortSignal): Promise<TaskRef> {
    const endpoint = parseFalModelId(request.providerModel);
    let url = `${queueUrl}/${endpoint.model}`;
    if (request.webhookUrl !== undefined) url += `?fal_webhook=${encodeURIComponent(request.webhookUrl)}`;
    const res = await call('POST', url, signal, buildFalInput(request), { 'x-clipbot-job-id': request.jobId });
    if (res.status < 200 || res.status >= 300) throw fail(res, 'submit');
    const body = parseBody(res, submitSchema, 'fal submit');
    log?.debug({ jobId: request.jobId, requestId: body.request_id, model: endpoint.model }, 'fal request queued');
    return { taskId: body.request_id, providerModel: request.providerModel };
  }

  async function status(task: TaskRef, signal?: AbortSignal): Promise<TaskStatus> {
    const res = await call('GET', requestUrl(task, '/status?logs=0'), signal);
    if (res.status < 200 || res.status >= 300) throw fail(res, 'status');
    const body = parseBody(res, statusSchema, 'fal status');
    if (body.request_id !== undefined && body.request_id !== task.taskId) {
      throw new ProviderError('malformed', 'fal status: answer is about another request', { retryable: true });
    }
    switch (body.status) {
      case 'IN_QUEUE':
        return body.queue_position != null
          ? { state: 'queued', queuePosition: body.queue_position }
          : { state: 'queued' };
      case 'IN_PROGRESS':
        return { state: 'running' };
      case 'COMPLETED':
        return result(task, body.error ?? undefined, signal);
    }
  }

  async function result(task: TaskRef, statusError: string | undefined, signal?: AbortSignal): Promise<TaskStatus> {
    const res = await call('GET', requestUrl(task, ''), signal);
    if (res.status >= 200 && res.status < 300) {
      const out = parseBody(res, outputSchema, 'fal result');
      return { state: 'succeeded', videoUrl: out.video.url };
    }
    // These say the read failed, not the request: the caller polls again (or gives up on 404/auth).
    if ([401, 403, 404, 408, 429].includes(res.status)) throw fail(res, 'result');
    // A gateway's own 5xx page is not the model's verdict; a model's error is JSON and the status flags it.
    const modelVerdict = res.isJson && (statusError !== undefined || readDetails(res.body).details.length > 0);
    if (res.status >= 500 && !modelVerdict) throw fail(res, 'result');
    const error = fail(res, 'result');
    log?.debug({ requestId: task.taskId, kind: error.kind, status: res.status }, 'fal request failed');
    return { state: 'failed', error };
  }

  async function cancel(task: TaskRef, signal?: AbortSignal): Promise<boolean> {
    const res = await call('PUT', requestUrl(task, '/cancel'), signal);
    if (res.status >= 200 && res.status < 300) return true;
    // 400 ALREADY_COMPLETED, 404 NOT_FOUND: nothing left to cancel.
    if (res.status >= 400 && res.status < 500 && ![401, 403, 408, 429].includes(res.status)) return false;
    throw fail(res, 'cancel');
  }

  /**
   * §1.5 exactly. Throws WebhookAuthError for anything unproven; a ProviderError only when fal's JWKS cannot be
   * fetched at all (the route then answers 5xx and fal delivers again later).
   */
  async function verifyWebhook(req: WebhookRequest): Promise<WebhookEvent> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined) headers[name.toLowerCase()] = value;
    const requestIdHeader = headers['x-fal-webhook-request-id'];
    const userId = headers['x-fal-webhook-user-id'];
    const timestamp = headers['x-fal-webhook-timestamp'];
    const signature = headers['x-fal-webhook-signature'];
    if (!requestIdHeader || !userId || !timestamp || !signature)
      throw new WebhookAuthError('fal webhook: signature headers missing');
    // The header names the id that was signed: the request id, or the gateway id of the last attempt after fal
    // retried the request (§1.5). The body must name it either way; the job is found by `request_id`.
    if (/[\r\n]/.test(requestIdHeader + userId)) throw new WebhookAuthError('fal webhook: bad header value');
    if (!/^\d{1,15}$/.test(timestamp)) throw new WebhookAuthError('fal webhook: bad timestamp');
    const nowS = Math.floor(clock.now() / 1000);
    if (Math.abs(nowS - Number(timestamp)) > FAL_WEBHOOK_TOLERANCE_S)
      throw new WebhookAuthError('fal webhook: timestamp out of range');
    if (!/^[0-9a-fA-F]{128}$/.test(signature))
      throw new WebhookAuthError('fal webhook: signature is not 64 bytes of hex');
    if (opts.webhookUserId !== undefined && userId !== opts.webhookUserId)
      throw new WebhookAuthError('fal webhook: other user');

    const bodyHash = createHash('sha256').update(req.rawBody).digest('hex');
    const message = Buffer.from(`${requestIdHeader}\n${userId}\n${timestamp}\n${bodyHash}`, 'utf8');
    const sig = Buffer.from(signature, 'hex');
    const verifies = (keys: readonly KeyObject[]) => keys.some((key) => verifyEd25519(null, message, key, sig));
    await verifyWithAnyJwks(verifies);

    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(req.rawBody).toString('utf8'));
    } catch {
      throw new WebhookAuthError('fal webhook: body is not JSON');
    }
    const parsed = webhookSchema.safeParse(json);
    if (!parsed.success) throw new WebhookAuthError('fal webhook: unexpected body');
    const body = parsed.data;
    if (requestIdHeader !== body.request_id && requestIdHeader !== body.gateway_request_id) {
      throw new WebhookAuthError('fal webhook: body and header disagree');
    }

    const event: WebhookEvent = { taskId: body.request_id, deliveryId: `${body.request_id}:${body.status}` };
    if (body.status === 'OK') {
      const out = outputSchema.safeParse(body.payload);
      // `payload: null` + `payload_error`, or a payload we do not trust: leave the verdict to a status poll.
      if (out.success) event.status = { state: 'succeeded', videoUrl: out.data.video.url };
    } else {
      const code = statusFromWebhookError(body.error);
      event.status = { state: 'failed', error: falError(code, {}, body.payload, 'result', clock.now()) };
    }
    return event;
  }

  /**
   * Passes when a key of any configured JWKS verifies. Cached keys first, in order; then each set refetched where its
   * gate allows (fal may have rotated its keys since). A JWKS that cannot be had is skipped while another has keys
   * (a retired host must not block the other); only when no set has any key is the refusal transient (5xx: fal
   * delivers again later), since then nothing was checked at all.
   */
  async function verifyWithAnyJwks(verifies: (keys: readonly KeyObject[]) => boolean): Promise<void> {
    let unavailable: unknown;
    for (const set of jwksSets) {
      try {
        if (verifies(await set.current())) return;
      } catch (error) {
        unavailable ??= error;
      }
    }
    for (const set of jwksSets) {
      const fresh = await set.refreshIfAllowed();
      if (fresh && verifies(fresh)) return;
    }
    if (unavailable !== undefined && jwksSets.every((set) => !set.hasKeys())) throw unavailable;
    throw new WebhookAuthError('fal webhook: signature does not verify');
  }

  return {
    id: 'fal',
    // fal accepts base64 data URIs wherever a model takes a file URL.
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

// ---------------------------------------------------------------- JWKS

interface JwksCacheOptions {
  url: string;
  clock: Clock;
  ttlMs: number;
  refreshIntervalMs: number;
  retryAfterFailureMs: number;
  fetch: (signal?: AbortSignal) => Promise<JsonResponse>;
  log?: Logger;
}

/**
 * fal's webhook public keys: fetched once, kept ≤ 24 h, refetched early only when a signature fails to verify.
 * Every fetch, whatever asks for it, goes through one gate: after a fetch (failed or not) the next waits
 * `refreshIntervalMs`, or `retryAfterFailureMs` while no key was ever loaded. Without that, a JWKS outage would
 * turn each forged callback into one more JWKS request and one more error line.
 */
class JwksCache {
  private keys: KeyObject[] = [];
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastError: ProviderError | undefined;
  private inflight: Promise<KeyObject[]> | undefined;

  constructor(private readonly opts: JwksCacheOptions) {}

  /** Keys to verify with; throws a transient ProviderError when none can be had now (the caller answers 5xx). */
  async current(): Promise<KeyObject[]> {
    if (this.keys.length && this.opts.clock.now() - this.fetchedAt < this.opts.ttlMs) return this.keys;
    if (this.inflight) return this.inflight;
    if (!this.mayFetch()) throw this.unavailable();
    return this.load();
  }

  hasKeys(): boolean {
    return this.keys.length > 0;
  }

  /** Fresh keys, or undefined when the last fetch was too recent (or the refetch failed). */
  async refreshIfAllowed(): Promise<KeyObject[] | undefined> {
    if (this.inflight) return this.inflight.catch(() => undefined);
    if (!this.mayFetch()) return undefined;
    return this.load().catch(() => undefined);
  }

  private mayFetch(): boolean {
    const wait = this.keys.length ? this.opts.refreshIntervalMs : this.opts.retryAfterFailureMs;
    return this.opts.clock.now() - this.lastAttemptAt >= wait;
  }

  private unavailable(): ProviderError {
    const waitS = Math.ceil(this.opts.retryAfterFailureMs / 1000);
    return new ProviderError(
      'transient',
      `fal JWKS unavailable (${this.lastError?.message ?? 'not loaded'}); next fetch within ${waitS} s`,
      {
        retryAfterS: waitS,
      },
    );
  }

  private load(): Promise<KeyObject[]> {
    this.inflight ??= this.fetchKeys()
      .then(
        (keys) => {
          this.lastError = undefined;
          return keys;
        },
        (error: unknown) => {
          this.lastError =
            error instanceof ProviderError
              ? error
              : new ProviderError('transient', 'fal JWKS request failed', { cause: error });
          // One line per real fetch; the callbacks refused meanwhile are not logged one by one.
          this.opts.log?.warn({ err: error }, 'fal JWKS fetch failed');
          throw this.lastError;
        },
      )
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  private async fetchKeys(): Promise<KeyObject[]> {
    this.lastAttemptAt = this.opts.clock.now();
    const res = await this.opts.fetch();
    if (res.status !== 200) {
      throw new ProviderError('transient', `fal JWKS ${describeUrl(this.opts.url)}: HTTP ${res.status}`, {
        status: res.status,
      });
    }
    const body = parseBody(res, jwksSchema, 'fal JWKS');
    const keys: KeyObject[] = [];
    for (const jwk of body.keys) {
      if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.x || !/^[A-Za-z0-9_-]{43}$/.test(jwk.x)) continue;
      try {
        keys.push(createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' }));
      } catch {
        // One unusable key must not hide the others.
      }
    }
    if (!keys.length) throw new ProviderError('malformed', 'fal JWKS: no usable Ed25519 key', { retryable: true });
    this.keys = keys;
    this.fetchedAt = this.opts.clock.now();
    this.opts.log?.debug({ keys: keys.length }, 'fal JWKS loaded');
    return keys;
  }
}

/**
 * A local fal.ai queue API (provider-apis.md §1) for the demo, tests and benchmarks: a real HTTP server on
 * 127.0.0.1, Seedance input validation (1.0, 1.5 and 2.0, whose schema it holds to the letter: 422 for any field
 * 2.0 does not name), queue → run → completed by the clock, results whose `video.url` points at
 * this server's own small real MP4s, and webhooks signed with ED25519 exactly as fal signs them (public key at
 * `jwksUrl`). Where fal's behaviour is not documented ([U] in provider-apis.md) the choice is marked [U] here.
 *
 * Prompt markers (anywhere in the prompt text):
 *   [sim:content_policy]            runs, then the result is 422 content_policy_violation (the output was flagged)
 *   [sim:content_policy_input]      422 content_policy_violation at submit (no request is created)
 *   [sim:content_policy_input_late] runs, then 422 content_policy_violation with loc body.prompt (input flagged by the model)
 *   [sim:fail]                      runs, then the result is 500 internal_server_error (webhook status ERROR)
 *   [sim:hang]                      IN_PROGRESS forever
 *   [sim:queued_forever]            IN_QUEUE forever (to cancel a queued request)
 *   [sim:rate_limit:N]              the first N submits of this exact prompt are 429 with Retry-After: 1
 *   [sim:server_error:N]            the first N submits of this exact prompt are 503 runner_scheduling_failure
 *   [sim:drop_submit_response]      the first submit of this exact prompt creates the request, then the connection
 *                                   is dropped before the answer (the client cannot know its request id)
 *   [sim:bad_video_url]             the result's video.url is not http(s)
 *   [sim:expired_video]             the video URL answers 404 (already expired)
 *   [sim:html_video]                the video URL serves an HTML page labelled video/mp4
 *   [sim:dup_webhook]               the webhook is delivered twice
 *   [sim:no_webhook]                no webhook is ever sent (a lost callback)
 *   [sim:retried]                   fal retried the request on another runner: `gateway_request_id` differs from
 *                                   `request_id`, and the webhook's X-Fal-Webhook-Request-Id carries the gateway id [U]
 *
 * Every API route and the JWKS refuse a request without a User-Agent (403). The webhook public keys are served at two
 * JWKS URLs, as fal's docs name two hosts (`rest.fal.ai` now, `rest.alpha.fal.ai` before): `jwksUrls.current` and
 * `jwksUrls.alpha`; `jwksAt` says which of them lists the keys (the other answers 404).
 *
 * Runtime knobs: `injectFault` (429 with or without Retry-After, 5xx, malformed or truncated JSON, HTML pages,
 * slow, hanging, cut-off or reset responses, any canned answer; before or after the request is processed; on the
 * output files too, e.g. a video cut off mid-download), `complete`,
 * `rotateKey`, `signWebhook`, `pump`, and the options below.
 */
import { generateKeyPairSync, createHash, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { systemClock } from '../core/ports.js';
import { SIM_ASSETS } from './assets.js';
import {
  FILE_NOT_FOUND,
  HTML_VIDEO,
  isLoopback,
  jobIdOf,
  jsonResponse as json,
  mediaFile,
  type SimResponse,
} from './sim-http.js';
import {
  SIM_MARKERS,
  countSubmission,
  snapshotSubmission,
  submitStats,
  type SimCall,
  type SimFault,
  type SimFaultOptions,
  type SimHandle,
  type SimOptions,
  type SimSubmission,
  type SimSubmitStats,
  type SimWebhookOptions,
} from './sim-common.js';
import { simServer, type SimRequest } from './sim-server.js';

import type { SimMillis } from './sim-http.js';

export type { SimMillis };

export type FalSimRoute = 'submit' | 'status' | 'result' | 'cancel' | 'files' | 'jwks';

export type FalSimFault =
  /** 429; `Retry-After` only when given (seconds or an HTTP date). */
  | { kind: 'rate_limit'; retryAfter?: string }
  /** 5xx with fal's flat `{detail, error_type}` body; `X-Fal-Retryable` only when `retryable` is given, `X-Fal-Needs-Retry`
   * (fal's per-response override, "1" / "0" in its docs) only when `needsRetry` is. */
  | { kind: 'server_error'; status?: number; errorType?: string; retryable?: boolean; needsRetry?: string }
  | SimFault;

export type FalSimFaultOptions = SimFaultOptions<FalSimRoute>;

export interface FalSimOptions extends SimOptions, SimWebhookOptions {
  /** The key clients must send as `Authorization: Key <key>`. */
  key?: string;
  /** fal user id in webhook signatures. */
  userId?: string;
  /** Results are kept this long after completion, then 404 (fal: 1 h, 6 min for large results). */
  resultRetentionMs?: number;
  /** Output files answer 404 this long after completion; default never. */
  fileTtlMs?: number;
  /** What a cancel does to a running request: fal leaves it to the app, which may finish anyway. */
  cancelRunning?: 'cancel' | 'ignore';
  /** fal's types say `duration` is a string; whether a number is refused is [U]. */
  acceptNumericDuration?: boolean;
  /** Which JWKS URL lists the webhook keys: 'current' (rest.fal.ai), 'alpha' (rest.alpha.fal.ai) or 'both' (default). */
  jwksAt?: 'current' | 'alpha' | 'both';
}

export interface FalSimStats extends SimSubmitStats {
  statusCalls: number;
  resultCalls: number;
  cancelCalls: number;
  jwksCalls: number;
}

export type FalSimState = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED';
export type FalSimOutcome = 'ok' | 'content_policy' | 'content_policy_input_late' | 'fail' | 'cancelled';

export interface FalSimRequest extends SimSubmission<FalSimState, FalSimOutcome> {
  /** `owner/app`: the only prefix status, result and cancel are served under. */
  readonly app: string;
  readonly cancelRequested: boolean;
}

export type FalSimCall = SimCall<FalSimRoute>;

export interface FalSimWebhookDelivery {
  requestId: string;
  url: string;
  attempt: number;
  /** HTTP status of the receiver, or 0 on a network error. */
  status: number;
}

export interface FalSimulator extends SimHandle<
  FalSimRoute,
  FalSimFault,
  FalSimCall,
  FalSimRequest,
  FalSimWebhookDelivery
> {
  /** The queue base URL (what `FAL_QUEUE_URL` would be). */
  readonly url: string;
  /** The JWKS that lists the keys by default (`jwksUrls.current`). */
  readonly jwksUrl: string;
  /** fal's two JWKS hosts, both on this server. */
  readonly jwksUrls: { readonly current: string; readonly alpha: string };
  readonly key: string;
  readonly userId: string;
  readonly stats: FalSimStats;
  request(id: string): FalSimRequest | undefined;
  submissionsFor(prompt: string): number;
  /** A new signing key; the JWKS then lists it (and the old one too when `keepOld`). */
  rotateKey(opts?: { keepOld?: boolean }): void;
  /** Headers fal would send with this body, signed with the simulator's current key. */
  signWebhook(
    body: string | Uint8Array,
    opts: { requestId: string; userId?: string; timestampS?: number },
  ): Record<string, string>;
}

export const FAL_SIM_MARKERS = {
  ...SIM_MARKERS,
  contentPolicyInputLate: '[sim:content_policy_input_late]',
  queuedForever: '[sim:queued_forever]',
  dropSubmitResponse: '[sim:drop_submit_response]',
  retried: '[sim:retried]',
} as const;

interface ModelRule {
  image: boolean;
  /** `end_image_url`, optional, where the schema names it. */
  endImage: boolean;
  durations: readonly string[];
  ratios: readonly string[];
  resolutions: readonly string[];
  /** Optional boolean fields. */
  booleans: readonly string[];
  /** Optional string enums besides duration, resolution and aspect_ratio. */
  enums: Readonly<Record<string, readonly string[]>>;
  /** Optional free strings. */
  strings: readonly string[];
  seed: boolean;
  /**
   * Refuse any field the schema does not name (422 `extra_forbidden`). [U] whether fal ignores or refuses an unknown
   * field; refusing it makes a drifting adapter fail a test. The v1 / v1.5 rules stay lenient, as they always were.
   */
  strict: boolean;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
const RATIOS = ['21:9', '16:9', '4:3', '1:1', '3:4', '9:16'];
const RESOLUTIONS = ['480p', '720p', '1080p'];
const legacy = { endImage: false, resolutions: RESOLUTIONS, enums: {}, strings: [], seed: true, strict: false };
const v1 = (image: boolean): ModelRule => ({
  ...legacy,
  image,
  durations: range(2, 12),
  ratios: image ? [...RATIOS, 'auto'] : RATIOS,
  booleans: ['camera_fixed', 'enable_safety_checker'],
});
const v15 = (image: boolean): ModelRule => ({
  ...legacy,
  image,
  durations: range(4, 12),
  ratios: [...RATIOS, 'auto'],
  booleans: ['camera_fixed', 'enable_safety_checker', 'generate_audio'],
});
/**
 * Seedance 2.0 (§7.1; fal-js `types/endpoints.ts` `Seedance2{T2V,I2V}[Fast]Input` at the commit §1 names): no seed,
 * camera_fixed or enable_safety_checker; `duration` "auto" or "4"…"15"; fast stops at 720p, standard adds 1080p and 4k.
 */
const v2 = (image: boolean, fast: boolean): ModelRule => ({
  image,
  endImage: image,
  durations: ['auto', ...range(4, 15)],
  ratios: ['auto', ...RATIOS],
  resolutions: fast ? ['480p', '720p'] : [...RESOLUTIONS, '4k'],
  booleans: ['generate_audio'],
  enums: { bitrate_mode: ['standard', 'high'] },
  strings: ['end_user_id'],
  seed: false,
  strict: true,
});

/** The Seedance endpoints of §1.8 and §7.1. */
export const FAL_SIM_MODELS: Readonly<Record<string, ModelRule>> = {
  'fal-ai/bytedance/seedance/v1/pro/text-to-video': v1(false),
  'fal-ai/bytedance/seedance/v1/pro/image-to-video': v1(true),
  'fal-ai/bytedance/seedance/v1/pro/fast/text-to-video': v1(false),
  'fal-ai/bytedance/seedance/v1/pro/fast/image-to-video': v1(true),
  'fal-ai/bytedance/seedance/v1.5/pro/text-to-video': v15(false),
  'fal-ai/bytedance/seedance/v1.5/pro/image-to-video': v15(true),
  'bytedance/seedance-2.0/text-to-video': v2(false, false),
  'bytedance/seedance-2.0/image-to-video': v2(true, false),
  'bytedance/seedance-2.0/fast/text-to-video': v2(false, true),
  'bytedance/seedance-2.0/fast/image-to-video': v2(true, true),
};

const CONTENT_POLICY_MSG =
  'The content could not be processed because it contained material flagged by a content checker.';
const MAX_REQUEST_BYTES = 1024 * 1024;
const API_ROUTES: readonly FalSimRoute[] = ['submit', 'status', 'result', 'cancel'];

/** Where the simulator's media live (shared with the other simulators). */
export const FAL_SIM_ASSETS = SIM_ASSETS;

/** Signs a webhook body the way fal does (§1.5); exported so tests can sign with a key fal does not hold. */
export function signFalWebhook(
  privateKey: KeyObject,
  body: string | Uint8Array,
  opts: { requestId: string; userId: string; timestampS: number },
): Record<string, string> {
  const hash = createHash('sha256').update(body).digest('hex');
  const message = `${opts.requestId}\n${opts.userId}\n${opts.timestampS}\n${hash}`;
  return {
    'x-fal-webhook-request-id': opts.requestId,
    'x-fal-webhook-user-id': opts.userId,
    'x-fal-webhook-timestamp': String(opts.timestampS),
    'x-fal-webhook-signature': sign(null, Buffer.from(message, 'utf8'), privateKey).toString('hex'),
  };
}

interface Entry {
  id: string;
  /** The id of the last runner attempt: the request id unless fal retried it (§1.5). */
  gatewayId: string;
  model: string;
  app: string;
  input: Record<string, unknown>;
  prompt: string;
  jobId: string | undefined;
  webhookUrl: string | undefined;
  submittedAt: number;
  queueEndsAt: number;
  runEndsAt: number;
  outcome: FalSimOutcome;
  cancelRequested: boolean;
  seed: number;
  resolution: string;
  webhookQueued: boolean;
  timer: NodeJS.Timeout | undefined;
}

const detailError = (loc: (string | number)[], msg: string, type: string, input?: unknown) => ({
  loc,
  msg,
  type,
  url: `https://docs.fal.ai/errors/#${type}`,
  ...(input !== undefined ? { input } : {}),
});

const policyViolation = (loc: string[], input?: unknown, headers: Record<string, string> = {}) =>
  json(
    422,
    { detail: [detailError(loc, CONTENT_POLICY_MSG, 'content_policy_violation', input)] },
    { ...headers, 'x-fal-retryable': 'false' },
  );

/** [U] fal's body for a 429: the queue normally holds requests instead (§1.7). */
const rateLimited = (retryAfter: string | undefined) =>
  json(
    429,
    { detail: 'Too many requests', error_type: 'rate_limited' },
    retryAfter !== undefined ? { 'retry-after': retryAfter } : {},
  );

/** fal's flat request-error body (§1.7). */
const serverError = (status: number, errorType: string, retryable?: boolean, needsRetry?: string) =>
  json(
    status,
    { detail: errorType.replace(/_/g, ' '), error_type: errorType },
    {
      'x-fal-error-type': errorType,
      ...(retryable !== undefined ? { 'x-fal-retryable': String(retryable) } : {}),
      ...(needsRetry !== undefined ? { 'x-fal-needs-retry': needsRetry } : {}),
    },
  );

export async function startFalSimulator(opts: FalSimOptions = {}): Promise<FalSimulator> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const key = opts.key ?? 'sim-fal-key';
  const userId = opts.userId ?? 'sim-user';
  const retentionMs = opts.resultRetentionMs ?? 60 * 60 * 1000;
  const [video480, video720] = await Promise.all([
    readFile(FAL_SIM_ASSETS.video480p),
    readFile(FAL_SIM_ASSETS.video720p),
  ]);

  let keys = [generateKeyPairSync('ed25519')];
  const entries = new Map<string, Entry>();
  const deliveries: FalSimWebhookDelivery[] = [];
  const sim = simServer<FalSimRoute, FalSimFault>({ clock, random, apiRoutes: API_ROUTES });
  const { pick } = sim;
  const stats: FalSimStats = { ...submitStats(), statusCalls: 0, resultCalls: 0, cancelCalls: 0, jwksCalls: 0 };
  let base = '';

  const stateOf = (e: Entry, now = clock.now()): FalSimState =>
    now < e.queueEndsAt ? 'IN_QUEUE' : now < e.runEndsAt ? 'IN_PROGRESS' : 'COMPLETED';

  const urls = (e: Entry) => {
    const responseUrl = `${base}/${e.app}/requests/${e.id}`;
    return { response_url: responseUrl, status_url: `${responseUrl}/status`, cancel_url: `${responseUrl}/cancel` };
  };

  const queuePosition = (e: Entry, now: number): number => {
    let ahead = 0;
    for (const other of entries.values()) {
      if (other === e) break;
      if (stateOf(other, now) === 'IN_QUEUE') ahead++;
    }
    return ahead;
  };

  // ------------------------------------------------------------ results

  function resultOf(e: Entry): SimResponse {
    const reqId = { 'x-fal-request-id': e.id };
    switch (e.outcome) {
      case 'ok': {
        const video = e.resolution === '480p' ? video480 : video720;
        const url = e.prompt.includes(FAL_SIM_MARKERS.badVideoUrl)
          ? `ftp://files.invalid/${e.id}/output.mp4`
          : `${base}/files/${e.id}/output.mp4`;
        const videoFile = { url, content_type: 'video/mp4', file_name: 'output.mp4', file_size: video.length };
        return json(200, { video: videoFile, seed: e.seed }, reqId);
      }
      case 'content_policy':
        return policyViolation(['body'], undefined, reqId);
      case 'content_policy_input_late':
        return policyViolation(['body', 'prompt'], e.prompt, reqId);
      case 'fail':
        return json(500, { detail: [detailError(['body'], 'Internal server error', 'internal_server_error')] }, reqId);
      case 'cancelled': // [U] what fal answers for a request cancelled while queued
        return json(400, { detail: 'Request was cancelled', error_type: 'request_cancelled' }, reqId);
    }
  }

  function completedError(e: Entry): { error: string | null; error_type: string | null } {
    switch (e.outcome) {
      case 'ok':
        return { error: null, error_type: null };
      case 'content_policy':
      case 'content_policy_input_late':
        return { error: 'Invalid status code: 422', error_type: 'content_policy_violation' };
      case 'fail':
        return { error: 'Invalid status code: 500', error_type: 'internal_server_error' };
      case 'cancelled':
        return { error: 'Request was cancelled', error_type: 'request_cancelled' };
    }
  }

  // ------------------------------------------------------------ webhooks

  function scheduleWebhook(e: Entry): void {
    if (e.webhookUrl && !e.webhookQueued)
      sim.wakeAt(
        e,
        () => e.runEndsAt,
        () => sendWebhook(e),
      );
  }

  /** Ends the request's run now (queued or running), with the outcome it has. */
  function endNow(e: Entry, now: number): void {
    e.queueEndsAt = Math.min(e.queueEndsAt, now);
    e.runEndsAt = now;
    scheduleWebhook(e);
  }

  function pump(): void {
    for (const e of entries.values())
      if (e.webhookUrl && !e.webhookQueued && stateOf(e) === 'COMPLETED') sendWebhook(e);
  }

  function sendWebhook(e: Entry): void {
    if (!e.webhookUrl || e.webhookQueued || sim.closed || e.prompt.includes(FAL_SIM_MARKERS.noWebhook)) return;
    e.webhookQueued = true;
    const res = resultOf(e);
    const payload: unknown = JSON.parse(res.body.toString());
    const body = JSON.stringify(
      res.status === 200
        ? { request_id: e.id, gateway_request_id: e.gatewayId, status: 'OK', payload }
        : {
            request_id: e.id,
            gateway_request_id: e.gatewayId,
            status: 'ERROR',
            error: completedError(e).error ?? `Invalid status code: ${res.status}`,
            payload,
          },
    );
    const copies = 1 + (opts.webhookDuplicates ?? 0) + (e.prompt.includes(FAL_SIM_MARKERS.dupWebhook) ? 1 : 0);
    for (let i = 0; i < copies; i++) sim.track(deliver(e.gatewayId, e.webhookUrl, body));
  }

  function deliver(requestId: string, url: string, body: string): Promise<void> {
    const headers = () =>
      signFalWebhook(keys[0]!.privateKey, body, { requestId, userId, timestampS: Math.floor(clock.now() / 1000) });
    return sim.postCountedWebhook(url, body, headers, {
      opts,
      stats,
      record: (attempt, status) => deliveries.push({ requestId, url, attempt, status }),
    });
  }

  // ------------------------------------------------------------ routes

  function validate(rule: ModelRule, input: Record<string, unknown>) {
    const errors: ReturnType<typeof detailError>[] = [];
    const enumMsg = (values: readonly string[]) =>
      `Input should be ${values
        .slice(0, -1)
        .map((v) => `'${v}'`)
        .join(', ')} or '${values.at(-1)}'`;
    if (input.prompt === undefined) errors.push(detailError(['body', 'prompt'], 'Field required', 'missing'));
    else if (typeof input.prompt !== 'string') {
      errors.push(detailError(['body', 'prompt'], 'Input should be a valid string', 'string_type', input.prompt));
    }
    const checkUrl = (field: string, required: boolean) => {
      const url = input[field];
      if (url === undefined) {
        if (required) errors.push(detailError(['body', field], 'Field required', 'missing'));
      } else if (typeof url !== 'string' || !/^(https?:\/\/|data:image\/)/.test(url)) {
        errors.push(detailError(['body', field], 'Input should be a valid URL', 'url_parsing', url));
      }
    };
    if (rule.image) checkUrl('image_url', true);
    if (rule.endImage) checkUrl('end_image_url', false);
    const duration = input.duration;
    if (duration !== undefined) {
      const asString = typeof duration === 'number' && opts.acceptNumericDuration ? String(duration) : duration;
      if (typeof asString !== 'string' || !rule.durations.includes(asString)) {
        errors.push(detailError(['body', 'duration'], enumMsg(rule.durations), 'literal_error', duration));
      }
    }
    const checkEnum = (field: string, values: readonly string[]) => {
      const v = input[field];
      if (v !== undefined && (typeof v !== 'string' || !values.includes(v))) {
        errors.push(detailError(['body', field], enumMsg(values), 'literal_error', v));
      }
    };
    checkEnum('resolution', rule.resolutions);
    checkEnum('aspect_ratio', rule.ratios);
    for (const [field, values] of Object.entries(rule.enums)) checkEnum(field, values);
    for (const field of rule.strings) {
      if (input[field] !== undefined && typeof input[field] !== 'string') {
        errors.push(detailError(['body', field], 'Input should be a valid string', 'string_type', input[field]));
      }
    }
    if (rule.seed && input.seed !== undefined && !Number.isInteger(input.seed)) {
      errors.push(detailError(['body', 'seed'], 'Input should be a valid integer', 'int_type', input.seed));
    }
    for (const field of rule.booleans) {
      if (input[field] !== undefined && typeof input[field] !== 'boolean') {
        errors.push(detailError(['body', field], 'Input should be a valid boolean', 'bool_type', input[field]));
      }
    }
    if (rule.strict) {
      const named = new Set([
        'prompt',
        'duration',
        'resolution',
        'aspect_ratio',
        ...(rule.image ? ['image_url'] : []),
        ...(rule.endImage ? ['end_image_url'] : []),
        ...(rule.seed ? ['seed'] : []),
        ...rule.booleans,
        ...Object.keys(rule.enums),
        ...rule.strings,
      ]);
      for (const field of Object.keys(input)) {
        if (!named.has(field))
          errors.push(detailError(['body', field], 'Extra inputs are not permitted', 'extra_forbidden', input[field]));
      }
    }
    return errors;
  }

  /** Returns the answer, or 'drop' to destroy the connection after the request was created. */
  function submit(
    model: string,
    search: URLSearchParams,
    rawBody: Buffer,
    headers: http.IncomingHttpHeaders,
  ): SimResponse | 'drop' {
    stats.submitCalls++;
    const rule = FAL_SIM_MODELS[model];
    if (!rule) return json(404, { detail: `Application '${model}' not found` }); // [U] exact body
    let input: unknown;
    try {
      input = JSON.parse(rawBody.toString('utf8'));
    } catch {
      return json(422, { detail: [detailError(['body'], 'JSON decode error', 'json_invalid')] });
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return json(422, { detail: [detailError(['body'], 'Input should be a valid dictionary', 'dict_type')] });
    }
    const body = input as Record<string, unknown>;
    const prompt = typeof body.prompt === 'string' ? body.prompt : '';
    const { attempt, refusal } = sim.submitAttempt(prompt);
    if (refusal === 'rate_limit') return rateLimited('1');
    if (refusal === 'server_error') return serverError(503, 'runner_scheduling_failure');
    const errors = validate(rule, body);
    if (errors.length) return json(422, { detail: errors });
    if (prompt.includes(FAL_SIM_MARKERS.contentPolicyInput)) {
      return policyViolation(['body', 'prompt'], prompt);
    }

    const webhookUrl = search.get('fal_webhook') ?? undefined;
    if (webhookUrl !== undefined && !opts.allowExternalWebhooks && !isLoopback(webhookUrl)) {
      return json(422, {
        detail: [detailError(['query', 'fal_webhook'], 'the simulator only calls loopback webhooks', 'value_error')],
      });
    }
    const now = clock.now();
    const queueMs = prompt.includes(FAL_SIM_MARKERS.queuedForever) ? Infinity : pick(opts.queueMs, 50);
    const runMs = prompt.includes(FAL_SIM_MARKERS.hang) ? Infinity : pick(opts.runMs, 250);
    const outcome: FalSimOutcome = prompt.includes(FAL_SIM_MARKERS.contentPolicyInputLate)
      ? 'content_policy_input_late'
      : prompt.includes(FAL_SIM_MARKERS.contentPolicy)
        ? 'content_policy'
        : prompt.includes(FAL_SIM_MARKERS.fail)
          ? 'fail'
          : 'ok';
    const jobId = jobIdOf(headers);
    const seed = typeof body.seed === 'number' && body.seed >= 0 ? body.seed : Math.floor(random() * 2 ** 31);
    const id = randomUUID();
    const e: Entry = {
      id,
      gatewayId: prompt.includes(FAL_SIM_MARKERS.retried) ? randomUUID() : id,
      model,
      app: model.split('/').slice(0, 2).join('/'),
      input: structuredClone(body),
      prompt,
      jobId,
      webhookUrl,
      submittedAt: now,
      queueEndsAt: now + queueMs,
      runEndsAt: now + queueMs + runMs,
      outcome,
      cancelRequested: false,
      seed,
      resolution: typeof body.resolution === 'string' ? body.resolution : '720p',
      webhookQueued: false,
      timer: undefined,
    };
    entries.set(e.id, e);
    countSubmission(stats, prompt, jobId);
    scheduleWebhook(e);
    if (prompt.includes(FAL_SIM_MARKERS.dropSubmitResponse) && attempt === 1) return 'drop';
    return json(
      200,
      {
        status: 'IN_QUEUE',
        request_id: e.id,
        // At submit no runner has tried it yet: the gateway id differs only after a retry (the webhook shows that one).
        ...(webhookUrl !== undefined ? { gateway_request_id: e.id } : {}),
        ...urls(e),
        queue_position: queuePosition(e, now),
      },
      { 'x-fal-request-id': e.id },
    );
  }

  function status(e: Entry): SimResponse {
    const now = clock.now();
    const state = stateOf(e, now);
    const common = { request_id: e.id, ...urls(e) };
    if (state === 'IN_QUEUE') return json(202, { status: state, queue_position: queuePosition(e, now), ...common });
    if (state === 'IN_PROGRESS') return json(202, { status: state, logs: null, ...common });
    const inference = Math.max(0, (e.runEndsAt - e.queueEndsAt) / 1000);
    return json(200, {
      status: state,
      logs: null,
      metrics: { inference_time: inference },
      ...common,
      ...completedError(e),
    });
  }

  function result(e: Entry): SimResponse {
    const now = clock.now();
    if (stateOf(e, now) !== 'COMPLETED') return json(400, { detail: 'Request is still in progress' }); // [U]
    if (now - e.runEndsAt > retentionMs) return json(404, { detail: 'Request not found' });
    return resultOf(e);
  }

  function cancel(e: Entry): SimResponse {
    const now = clock.now();
    const state = stateOf(e, now);
    if (state === 'COMPLETED') return json(400, { status: 'ALREADY_COMPLETED' });
    e.cancelRequested = true;
    if (state === 'IN_QUEUE' || opts.cancelRunning === 'cancel') {
      e.outcome = 'cancelled';
      endNow(e, now);
    }
    return json(202, { status: 'CANCELLATION_REQUESTED' });
  }

  function file(e: Entry | undefined, head: boolean): SimResponse {
    const now = clock.now();
    if (!e || e.outcome !== 'ok' || stateOf(e, now) !== 'COMPLETED') return FILE_NOT_FOUND;
    const expired =
      e.prompt.includes(FAL_SIM_MARKERS.expiredVideo) ||
      (opts.fileTtlMs !== undefined && now - e.runEndsAt > opts.fileTtlMs);
    if (expired) return FILE_NOT_FOUND;
    const bytes = e.prompt.includes(FAL_SIM_MARKERS.htmlVideo)
      ? HTML_VIDEO
      : e.resolution === '480p'
        ? video480
        : video720;
    return mediaFile(bytes, 'video/mp4', head, { 'cache-control': 'public, max-age=3600' });
  }

  function jwks(which: 'current' | 'alpha'): SimResponse {
    const at = opts.jwksAt ?? 'both';
    if (at !== 'both' && at !== which) return json(404, { detail: 'Not Found' }); // [U] a retired host's answer
    const kid = (k: KeyObject) =>
      createHash('sha256')
        .update(k.export({ format: 'der', type: 'spki' }))
        .digest('hex')
        .slice(0, 16);
    return json(200, { keys: keys.map((k) => ({ ...k.publicKey.export({ format: 'jwk' }), kid: kid(k.publicKey) })) });
  }

  // ------------------------------------------------------------ HTTP plumbing

  type Match = { route: FalSimRoute; id?: string; app?: string; model?: string };

  function classify(method: string, parts: string[]): Match | undefined {
    if (parts.length === 2 && parts[0] === '.well-known' && parts[1] === 'jwks.json')
      return { route: 'jwks', id: 'current' };
    if (parts.length === 3 && parts[0] === 'alpha' && parts[1] === '.well-known' && parts[2] === 'jwks.json')
      return { route: 'jwks', id: 'alpha' };
    if (parts.length === 3 && parts[0] === 'files' && parts[2] === 'output.mp4')
      return { route: 'files', id: parts[1]! };
    if (parts.length >= 4 && parts[2] === 'requests') {
      const app = `${parts[0]}/${parts[1]}`;
      const id = parts[3]!;
      if (parts.length === 4) return { route: 'result', id, app };
      if (parts.length === 5 && parts[4] === 'status') return { route: 'status', id, app };
      if (parts.length === 5 && parts[4] === 'cancel') return { route: 'cancel', id, app };
      return undefined;
    }
    if (method === 'POST' && parts.length >= 2) return { route: 'submit', model: parts.join('/') };
    return undefined;
  }

  function answer({
    req,
    method,
    url,
    match: { route, id, app, model },
    body,
  }: SimRequest<Match>): SimResponse | 'drop' {
    if (route === 'files') {
      stats.fileCalls++;
      return file(entries.get(id!), method === 'HEAD');
    }
    if (route === 'jwks') {
      stats.jwksCalls++;
      return jwks(id === 'alpha' ? 'alpha' : 'current');
    }
    // [U] exact body; fal answers 401 for a missing or unknown key
    if (req.headers.authorization !== `Key ${key}`)
      return json(401, { detail: req.headers.authorization ? 'Invalid API key' : 'Missing authorization header' });
    if (route === 'submit') return submit(model!, url.searchParams, body, req.headers);
    if (route === 'status') stats.statusCalls++;
    if (route === 'result') stats.resultCalls++;
    if (route === 'cancel') stats.cancelCalls++;
    const e = entries.get(id!);
    // Only owner/app serves a request: a client that uses the full model path here gets 404, as on fal.
    if (!e || e.app !== app)
      return route === 'cancel' ? json(404, { status: 'NOT_FOUND' }) : json(404, { detail: 'Request not found' });
    return route === 'status' ? status(e) : route === 'result' ? result(e) : cancel(e);
  }

  base = await sim.listen<Match>({
    host: opts.host,
    port: opts.port,
    maxRequestBytes: MAX_REQUEST_BYTES,
    route: classify,
    methods: {
      submit: ['POST'],
      status: ['GET'],
      result: ['GET'],
      cancel: ['PUT'],
      files: ['GET', 'HEAD'],
      jwks: ['GET'],
    },
    tooLarge: () => json(413, { detail: 'Request body too large' }),
    notFound: () => json(404, { detail: 'Not Found' }),
    methodNotAllowed: () => json(405, { detail: 'Method Not Allowed' }),
    crashed: (message) => ({ detail: message }),
    canned: ({ route }) =>
      json(200, { status: 'IN_QUEUE', queue_position: 0, ...(route === 'submit' ? { request_id: randomUUID() } : {}) }),
    fallbackJson: () => JSON.stringify({ status: 'IN_QUEUE', request_id: randomUUID(), queue_position: 0 }),
    spoil: (fault) =>
      fault.kind === 'rate_limit'
        ? rateLimited(fault.retryAfter)
        : serverError(
            fault.status ?? 503,
            fault.errorType ?? 'runner_scheduling_failure',
            fault.retryable,
            fault.needsRetry,
          ),
    answer,
    onRequest: pump,
  });

  const snapshot = (e: Entry): FalSimRequest => ({
    ...snapshotSubmission(e, stateOf(e)),
    app: e.app,
    cancelRequested: e.cancelRequested,
  });

  const { snapshot: request, ...shared } = sim.handle({
    entries,
    snapshot,
    deliveries,
    isFinished: (e) => stateOf(e) === 'COMPLETED',
    finish: endNow,
    pump,
  });
  return {
    ...shared,
    url: base,
    jwksUrl: `${base}/.well-known/jwks.json`,
    jwksUrls: { current: `${base}/.well-known/jwks.json`, alpha: `${base}/alpha/.well-known/jwks.json` },
    key,
    userId,
    stats,
    request,
    submissionsFor: (prompt) => stats.submissionsByPrompt.get(prompt) ?? 0,
    rotateKey(o = {}) {
      const fresh = generateKeyPairSync('ed25519');
      keys = o.keepOld ? [fresh, ...keys] : [fresh];
    },
    signWebhook(body, o) {
      return signFalWebhook(keys[0]!.privateKey, body, {
        requestId: o.requestId,
        userId: o.userId ?? userId,
        timestampS: o.timestampS ?? Math.floor(clock.now() / 1000),
      });
    },
  };
}

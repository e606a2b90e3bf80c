/**
 * A local Volcano Engine Ark video-generation API (provider-apis.md §2, §7.2) for the demo, tests and benchmarks: a
 * real HTTP server on 127.0.0.1 serving `/api/v3/contents/generations/tasks`, Seedance input validation per model
 * (1.0, 1.5 Pro, 2.0, 2.0 Fast: durations, resolutions, `generate_audio`, `draft`, `tools`, the flex tier; any body
 * field the SDK does not name is refused) with Ark's OpenAI-style error bodies, `content.last_frame_url` (a PNG) when
 * `return_last_frame` was true, tasks that go queued → running → succeeded / failed / expired by the clock, video URLs
 * that look like signed TOS links and point at this server's own small real MP4s, and unsigned callbacks on every
 * status change, as Ark sends them. Where Ark's behaviour is not documented ([U] in provider-apis.md) the choice
 * is marked [U] here and is usually an option.
 *
 * Prompt markers (anywhere in the text item):
 *   [sim:content_policy]            runs, then fails with OutputVideoSensitiveContentDetected (the output was flagged)
 *   [sim:content_policy_audio]      runs, then fails with OutputAudioSensitiveContentDetected
 *   [sim:content_policy_input]      400 InputTextSensitiveContentDetected at create (no task is created)
 *   [sim:fail]                      runs, then fails with InternalServiceError
 *   [sim:hang]                      running forever (until the task's execution_expires_after)
 *   [sim:queued_forever]            queued forever (to cancel a queued task)
 *   [sim:expired]                   stays queued, then `expired` when it would have finished
 *   [sim:rate_limit:N]              the first N creates of this exact prompt are 429 with Retry-After: 1
 *   [sim:server_error:N]            the first N creates of this exact prompt are 500 InternalServiceError
 *   [sim:drop_submit_response]      the first create of this exact prompt makes the task, then drops the connection
 *   [sim:bad_video_url]             content.video_url is not http(s)
 *   [sim:expired_video]             the video URL answers 404 (already gone)
 *   [sim:html_video]                the video URL serves an HTML page labelled video/mp4
 *   [sim:dup_webhook]               every callback is delivered twice
 *   [sim:no_webhook]                no callback is ever sent for this task
 *
 * Runtime knobs: `injectFault` (any Ark error code, 429 with or without Retry-After, 5xx, malformed or truncated
 * JSON, HTML pages, slow, hanging or reset responses, any canned answer; before or after the request is processed),
 * `complete`, `pump`, and the options below (queue and run times, callback duplicates / order / retries / none,
 * text-flag precedence, file and record lifetimes).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { systemClock } from '../core/ports.js';
import { SIM_ASSETS } from './assets.js';
import {
  HTML_VIDEO,
  isHttpUrl,
  isLoopback,
  jobIdOf,
  jsonResponse,
  mediaFile,
  tally,
  type SimResponse,
} from './sim-http.js';
import {
  SIM_MARKERS,
  type SimCall,
  type SimFault,
  type SimFaultOptions,
  type SimHandle,
  type SimOptions,
} from './sim-common.js';
import { simServer, type SimRequest } from './sim-server.js';

export type ArkSimRoute = 'create' | 'get' | 'list' | 'delete' | 'files';
/** What a `files` link serves: the video, or the last frame asked for with `return_last_frame`. */
type ArkSimFile = 'output.mp4' | 'last_frame.png';

export type ArkSimFault =
  /** 429 `RateLimitExceeded.EndpointRPMExceeded` (or `code`); `Retry-After` only when given ([U] whether Ark sends it). */
  | { kind: 'rate_limit'; retryAfter?: string; code?: string }
  /** 5xx with `InternalServiceError` (or `code`). */
  | { kind: 'server_error'; status?: number; code?: string; retryAfter?: string }
  /** Any Ark error body `{error:{code,message,param,type}}`. */
  | { kind: 'error'; status: number; code: string; message?: string; param?: string; headers?: Record<string, string> }
  | SimFault;

export type ArkSimFaultOptions = SimFaultOptions<ArkSimRoute>;

export interface ArkSimModelRule {
  /** What the model takes: text only (lite t2v), a first frame (lite i2v), or either. */
  input: 'text' | 'image' | 'both';
  /** Inclusive range of whole seconds. */
  durations: readonly [number, number];
  resolutions: readonly string[];
  /** Takes `generate_audio` (1.5 Pro and later [S]). */
  audio: boolean;
  /** Takes `draft` (1.5 Pro only [S]). */
  draft: boolean;
  /** Takes `tools` (2.0 only [S]). */
  tools: boolean;
  /** Takes `service_tier: "flex"` (not 2.0 [S]). */
  flex: boolean;
}

export interface ArkSimOptions extends SimOptions {
  /** The key clients must send as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Models and endpoint rules; `ep-…` endpoint ids always resolve to Seedance 1.0 pro. */
  models?: Readonly<Record<string, ArkSimModelRule>>;
  /** Accept `data:image/…;base64,` in image_url [S]; default true. */
  acceptInlineImages?: boolean;
  /** Which wins when a `--flag` in the text and a body field disagree [U]; default 'text' (the costly case). */
  textFlagPrecedence?: 'text' | 'body';
  /** Video URLs stop working this long after success (Ark: 24 h). */
  fileTtlMs?: number;
  /** Task records answer 404 this long after creation (Ark: 7 days). */
  taskRetentionMs?: number;
  /** What DELETE does to a running task [U]: refuse (default) or cancel it. */
  deleteRunning?: 'reject' | 'cancel';
  /** false: no callback is ever sent (Ark failing to call back). */
  callbacks?: boolean;
  /** Extra copies of every callback. */
  callbackDuplicates?: number;
  /** 'final_first' holds the queued/running callbacks back until the final one went out (out of order). */
  callbackOrder?: 'in_order' | 'final_first';
  /** Re-deliveries of an unacknowledged final callback (Ark: 3 [S]). */
  callbackRetries?: number;
  callbackRetryDelayMs?: number;
  /** How long a receiver has to acknowledge (Ark: 5 s [S]). */
  callbackTimeoutMs?: number;
  /** Callbacks go to loopback addresses only unless this is set. */
  allowExternalCallbacks?: boolean;
}

export interface ArkSimStats {
  /** Every POST to the tasks endpoint, accepted or not. */
  createCalls: number;
  /** Tasks created. */
  creates: number;
  statusCalls: number;
  listCalls: number;
  deleteCalls: number;
  /** DELETEs that cancelled a task or removed a record. */
  deletes: number;
  fileCalls: number;
  callbackAttempts: number;
  callbacksDelivered: number;
  createsByPrompt: Map<string, number>;
  /** By the `x-clipbot-job-id` header the adapter sends. */
  createsByJobId: Map<string, number>;
}

export type ArkSimStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'expired';
export type ArkSimOutcome = 'succeeded' | 'content_policy' | 'content_policy_audio' | 'fail' | 'expired';

/** The parameters the task runs with, after text flags and defaults. */
export interface ArkSimParams {
  resolution: string;
  ratio: string;
  duration: number;
  seed: number;
  cameraFixed: boolean;
  watermark: boolean;
}

export interface ArkSimTask {
  readonly id: string;
  readonly model: string;
  /** The create body as received. */
  readonly body: Readonly<Record<string, unknown>>;
  /** The text item, flags included. */
  readonly prompt: string;
  readonly image: { url: string; role: string | undefined } | undefined;
  readonly params: ArkSimParams;
  /** `--name value` flags found in the text. */
  readonly textFlags: Readonly<Record<string, string>>;
  readonly jobId: string | undefined;
  readonly callbackUrl: string | undefined;
  readonly createdAt: number;
  readonly status: ArkSimStatus;
  readonly outcome: ArkSimOutcome;
  readonly deleted: boolean;
}

export type ArkSimCall = SimCall<ArkSimRoute>;

export interface ArkSimCallbackDelivery {
  taskId: string;
  /** The task status the callback reported. */
  taskStatus: ArkSimStatus;
  url: string;
  attempt: number;
  /** HTTP status of the receiver, or 0 on a network error or timeout. */
  status: number;
}

export interface ArkSimulator extends SimHandle<
  ArkSimRoute,
  ArkSimFault,
  ArkSimCall,
  ArkSimTask,
  ArkSimCallbackDelivery
> {
  /** The API base URL including `/api/v3` (what `ARK_BASE_URL` would be). */
  readonly url: string;
  readonly apiKey: string;
  readonly stats: ArkSimStats;
  task(id: string): ArkSimTask | undefined;
  createsFor(prompt: string): number;
}

export const ARK_SIM_MARKERS = {
  ...SIM_MARKERS,
  contentPolicyAudio: '[sim:content_policy_audio]',
  queuedForever: '[sim:queued_forever]',
  expired: '[sim:expired]',
  dropSubmitResponse: '[sim:drop_submit_response]',
} as const;

const ALL_RESOLUTIONS = ['480p', '720p', '1080p'] as const;
const seedance1: ArkSimModelRule = {
  input: 'both',
  durations: [2, 12],
  resolutions: ALL_RESOLUTIONS,
  audio: false,
  draft: false,
  tools: false,
  flex: true,
};
// [U] 1.5 Pro's 4–12 s is fal's schema of the same model (§1.8); Ark's own range is not in provider-apis.md.
const seedance15: ArkSimModelRule = {
  input: 'both',
  durations: [4, 12],
  resolutions: ALL_RESOLUTIONS,
  audio: true,
  draft: true,
  tools: false,
  flex: true,
};
const seedance2: ArkSimModelRule = {
  input: 'both',
  durations: [4, 15],
  resolutions: ALL_RESOLUTIONS,
  audio: true,
  draft: false,
  tools: true,
  flex: false,
};

/** Seedance models on Ark (§2.1, §7.2). */
export const ARK_SIM_MODELS: Readonly<Record<string, ArkSimModelRule>> = {
  'doubao-seedance-1-0-pro-250528': seedance1,
  'doubao-seedance-1-0-pro-fast-251015': seedance1,
  'doubao-seedance-1-0-lite-t2v-250428': { ...seedance1, input: 'text' },
  'doubao-seedance-1-0-lite-i2v-250428': { ...seedance1, input: 'image' },
  'doubao-seedance-1-5-pro-251215': seedance15,
  'doubao-seedance-2-0-260128': seedance2,
  // BytePlus spells 2.0 this way (§7.2).
  'dreamina-seedance-2-0-260128': seedance2,
  'doubao-seedance-2-0-fast-260128': { ...seedance2, resolutions: ['480p', '720p'] },
};

/**
 * Every field of the create body the SDK names (§2.2); any other is refused [U: how Ark answers an unknown field].
 * The SDK sends `null` for an unset field, so `null` is accepted for each of them.
 */
const BODY_FIELD_NAMES: ReadonlySet<string> = new Set([
  'model',
  'content',
  'callback_url',
  'return_last_frame',
  'service_tier',
  'execution_expires_after',
  'priority',
  'safety_identifier',
  'generate_audio',
  'draft',
  'camera_fixed',
  'watermark',
  'seed',
  'resolution',
  'ratio',
  'duration',
  'frames',
  'tools',
]);

const RATIOS = ['16:9', '4:3', '1:1', '3:4', '9:16', '21:9', 'adaptive'];
const IMAGE_ROLES = ['first_frame', 'last_frame', 'reference_image'];
/** Long names and the [U] short aliases of the old text flags (§2.2). */
const FLAG_NAMES: Readonly<Record<string, keyof ArkSimParams>> = {
  resolution: 'resolution',
  rs: 'resolution',
  ratio: 'ratio',
  rt: 'ratio',
  duration: 'duration',
  dur: 'duration',
  seed: 'seed',
  camerafixed: 'cameraFixed',
  cf: 'cameraFixed',
  watermark: 'watermark',
  wm: 'watermark',
};
/** 16:9 frame sizes; other ratios are billed by about the same area [S]. */
const FRAME: Readonly<Record<string, readonly [number, number]>> = {
  '480p': [864, 480],
  '720p': [1280, 720],
  '1080p': [1920, 1080],
};
const FPS = 24;
const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_EXPIRES_S = 172_800;
/** Inline images make bodies large: a 10 MB picture is 13.4 MB of base64. */
const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
const API_ROUTES: readonly ArkSimRoute[] = ['create', 'get', 'list', 'delete'];
const FINAL: ReadonlySet<ArkSimStatus> = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

interface Transition {
  status: ArkSimStatus;
  at: number;
}

interface Entry {
  id: string;
  model: string;
  body: Record<string, unknown>;
  prompt: string;
  image: { url: string; role: string | undefined } | undefined;
  params: ArkSimParams;
  textFlags: Record<string, string>;
  jobId: string | undefined;
  callbackUrl: string | undefined;
  rule: ArkSimModelRule;
  returnLastFrame: boolean;
  createdAt: number;
  queueEndsAt: number;
  runEndsAt: number;
  expiresAt: number;
  expiresAfterS: number;
  cancelledAt: number | undefined;
  outcome: ArkSimOutcome;
  deleted: boolean;
  /** How many transitions have had their callback sent (or held back). */
  notified: number;
  held: Transition[];
  timer: NodeJS.Timeout | undefined;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): SimResponse =>
  jsonResponse(status, body, { 'content-type': 'application/json; charset=utf-8', ...headers });

const ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  429: 'TooManyRequests',
  500: 'InternalServerError',
};

const MESSAGES: Readonly<Record<string, string>> = {
  InputTextSensitiveContentDetected: 'The request failed because the input text may contain sensitive information.',
  OutputVideoSensitiveContentDetected: 'The request failed because the output video may contain sensitive information.',
  OutputAudioSensitiveContentDetected: 'The request failed because the output audio may contain sensitive information.',
  InternalServiceError: 'The service encountered an unexpected internal error.',
  AuthenticationError: 'The API key or AK/SK in the request is missing or invalid.',
  'RateLimitExceeded.EndpointRPMExceeded':
    'The request has exceeded the RPM rate limit of the endpoint. Please try again later.',
};

const FILE_NOT_FOUND: SimResponse = {
  status: 404,
  headers: { 'content-type': 'application/json' },
  body: '{"Code":"NoSuchKey","Message":"The specified key does not exist."}',
};

/** `20250629T201507Z`, as TOS presigned URLs carry it. */
function tosDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function parseTosDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
}

export async function startArkSimulator(opts: ArkSimOptions = {}): Promise<ArkSimulator> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const apiKey = opts.apiKey ?? 'sim-ark-key';
  const models = opts.models ?? ARK_SIM_MODELS;
  const fileTtlMs = opts.fileTtlMs ?? DAY_MS;
  const retentionMs = opts.taskRetentionMs ?? 7 * DAY_MS;
  const tosSecret = randomBytes(32);
  const [video480, video720, lastFrame] = await Promise.all([
    readFile(SIM_ASSETS.video480p),
    readFile(SIM_ASSETS.video720p),
    readFile(SIM_ASSETS.image),
  ]);

  const entries = new Map<string, Entry>();
  const deliveries: ArkSimCallbackDelivery[] = [];
  const sim = simServer<ArkSimRoute, ArkSimFault>({ clock, random, apiRoutes: API_ROUTES });
  const { pick, later, cancel: cancelTimer } = sim;
  const stats: ArkSimStats = {
    createCalls: 0,
    creates: 0,
    statusCalls: 0,
    listCalls: 0,
    deleteCalls: 0,
    deletes: 0,
    fileCalls: 0,
    callbackAttempts: 0,
    callbacksDelivered: 0,
    createsByPrompt: new Map(),
    createsByJobId: new Map(),
  };
  let origin = '';

  const requestId = () => `0217${clock.now()}${randomBytes(8).toString('hex')}`;

  const arkError = (
    status: number,
    code: string,
    message?: string,
    param?: string,
    headers: Record<string, string> = {},
  ) => {
    const rid = requestId();
    return json(
      status,
      {
        error: {
          code,
          message: `${message ?? MESSAGES[code] ?? code} Request id: ${rid}`,
          param: param ?? '',
          type: ERROR_TYPES[status] ?? (status >= 500 ? 'InternalServerError' : 'BadRequest'),
        },
      },
      { 'x-request-id': rid, ...headers },
    );
  };

  const invalid = (param: string, value: unknown) =>
    arkError(
      400,
      'InvalidParameter',
      `The parameter \`${param}\` specified in the request is not valid: ${JSON.stringify(value)}.`,
      param,
    );

  const missing = (param: string) =>
    arkError(400, 'MissingParameter', `The request failed because it is missing the \`${param}\` parameter.`, param);

  const rateLimited = (retryAfter: string | undefined, code = 'RateLimitExceeded.EndpointRPMExceeded') =>
    arkError(429, code, undefined, undefined, retryAfter !== undefined ? { 'retry-after': retryAfter } : {});

  function newTaskId(now: number): string {
    const stamp = new Date(now).toISOString().replace(/\D/g, '').slice(0, 14);
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    for (;;) {
      let tail = '';
      for (let i = 0; i < 5; i++) tail += alphabet[Math.floor(random() * alphabet.length) % alphabet.length];
      const id = `cgt-${stamp}-${tail}`;
      if (!entries.has(id)) return id;
    }
  }

  // ------------------------------------------------------------ task lifecycle

  const endOf = (e: Entry) => Math.min(e.runEndsAt, e.expiresAt);

  function finalStatus(e: Entry): ArkSimStatus {
    if (e.outcome === 'expired' || e.expiresAt <= e.runEndsAt) return 'expired';
    return e.outcome === 'succeeded' ? 'succeeded' : 'failed';
  }

  /** Every status the task has or will have, with when it got it. */
  function timeline(e: Entry): Transition[] {
    const t: Transition[] = [{ status: 'queued', at: e.createdAt }];
    if (e.cancelledAt !== undefined) {
      t.push({ status: 'cancelled', at: e.cancelledAt });
      return t;
    }
    const end = endOf(e);
    if (e.queueEndsAt < end) t.push({ status: 'running', at: e.queueEndsAt });
    if (Number.isFinite(end)) t.push({ status: finalStatus(e), at: end });
    return t;
  }

  function current(e: Entry, now = clock.now()): Transition {
    const t = timeline(e);
    let last = t[0]!;
    for (const step of t) if (step.at <= now) last = step;
    return last;
  }

  const signFile = (id: string, name: ArkSimFile, date: string, expires: string | number) =>
    createHmac('sha256', tosSecret).update(`${id}\n${name}\n${date}\n${expires}`).digest('hex');

  function fileUrl(e: Entry, doneAt: number, name: ArkSimFile): string {
    if (e.prompt.includes(ARK_SIM_MARKERS.badVideoUrl)) return `ftp://files.invalid/${e.id}/${name}`;
    const date = tosDate(doneAt);
    const expires = Math.round(fileTtlMs / 1000);
    const signature = signFile(e.id, name, date, expires);
    const query = new URLSearchParams({
      'X-Tos-Algorithm': 'TOS4-HMAC-SHA256',
      'X-Tos-Credential': `AKLTsimulator/${date.slice(0, 8)}/cn-beijing/tos/request`,
      'X-Tos-Date': date,
      'X-Tos-Expires': String(expires),
      'X-Tos-SignedHeaders': 'host',
      'X-Tos-Signature': signature,
    });
    return `${origin}/files/${e.id}/${name}?${query.toString()}`;
  }

  const FAILURE_CODES: Readonly<Record<Exclude<ArkSimOutcome, 'succeeded' | 'expired'>, string>> = {
    content_policy: 'OutputVideoSensitiveContentDetected',
    content_policy_audio: 'OutputAudioSensitiveContentDetected',
    fail: 'InternalServiceError',
  };

  /** The task object of §2.4 as it was at `step`. */
  function taskObject(e: Entry, step: Transition): Record<string, unknown> {
    const p = e.params;
    const body: Record<string, unknown> = {
      id: e.id,
      model: e.model,
      status: step.status,
      error: null,
      created_at: Math.floor(e.createdAt / 1000),
      updated_at: Math.floor(step.at / 1000),
      seed: p.seed,
      resolution: p.resolution,
      ratio: p.ratio,
      duration: p.duration,
      framespersecond: FPS,
      service_tier: typeof e.body.service_tier === 'string' ? e.body.service_tier : 'default',
      execution_expires_after: e.expiresAfterS,
    };
    // [S] audio is on by default where the model makes it.
    if (e.rule.audio) body.generate_audio = typeof e.body.generate_audio === 'boolean' ? e.body.generate_audio : true;
    if (e.rule.draft) body.draft = e.body.draft === true;
    if (step.status === 'succeeded') {
      const [w, h] = FRAME[p.resolution] ?? FRAME['720p']!;
      const tokens = Math.round((w * h * FPS * p.duration) / 1024);
      body.content = {
        video_url: fileUrl(e, step.at, 'output.mp4'),
        ...(e.returnLastFrame ? { last_frame_url: fileUrl(e, step.at, 'last_frame.png') } : {}),
      };
      body.usage = { completion_tokens: tokens, total_tokens: tokens };
    } else if (step.status === 'failed' && e.outcome !== 'succeeded' && e.outcome !== 'expired') {
      const code = FAILURE_CODES[e.outcome];
      body.error = { code, message: `${MESSAGES[code] ?? code} Request id: ${requestId()}` };
    }
    return body;
  }

  // ------------------------------------------------------------ callbacks

  function scheduleCallbacks(e: Entry): void {
    if (!e.callbackUrl || sim.closed) return;
    if (e.timer) {
      cancelTimer(e.timer);
      e.timer = undefined;
    }
    const now = clock.now();
    const next = timeline(e).find((t) => t.at > now);
    if (!next) return;
    e.timer = later(next.at - now + 1, () => {
      e.timer = undefined;
      notify(e);
    });
  }

  /** Sends the callbacks of every transition that happened since the last one sent. */
  function notify(e: Entry): void {
    if (!e.callbackUrl || sim.closed) return;
    const now = clock.now();
    const due = timeline(e).filter((t) => t.at <= now);
    for (let i = e.notified; i < due.length; i++) {
      const step = due[i]!;
      // [U] Ark's list of callback statuses leaves out `cancelled`: we asked for it, so nothing is sent.
      if (step.status === 'cancelled') continue;
      if (FINAL.has(step.status)) {
        const held = e.held.splice(0);
        sim.track(
          sendCallback(e, step).then(async () => {
            for (const h of held) await sendCallback(e, h);
          }),
        );
      } else if (opts.callbackOrder === 'final_first') {
        e.held.push(step);
      } else {
        sim.track(sendCallback(e, step));
      }
    }
    e.notified = Math.max(e.notified, due.length);
    scheduleCallbacks(e);
  }

  function pump(): void {
    for (const e of entries.values())
      if (e.callbackUrl && e.notified < timeline(e).filter((t) => t.at <= clock.now()).length) notify(e);
  }

  async function sendCallback(e: Entry, step: Transition): Promise<void> {
    const url = e.callbackUrl!;
    const body = JSON.stringify(taskObject(e, step));
    const copies = 1 + (opts.callbackDuplicates ?? 0) + (e.prompt.includes(ARK_SIM_MARKERS.dupWebhook) ? 1 : 0);
    // [S] only success and failure callbacks are retried.
    const attempts = FINAL.has(step.status) ? 1 + (opts.callbackRetries ?? 3) : 1;
    await Promise.all(Array.from({ length: copies }, () => deliver(e.id, step.status, url, body, attempts)));
  }

  function deliver(
    taskId: string,
    taskStatus: ArkSimStatus,
    url: string,
    body: string,
    attempts: number,
  ): Promise<void> {
    return sim.postWebhook(url, body, {
      headers: () => ({ 'user-agent': 'ark-callback-simulator' }),
      attempts,
      timeoutMs: opts.callbackTimeoutMs ?? 5000,
      retryDelayMs: opts.callbackRetryDelayMs ?? 100,
      report(attempt, status) {
        stats.callbackAttempts++;
        deliveries.push({ taskId, taskStatus, url, attempt, status });
        if (status >= 200 && status < 300) stats.callbacksDelivered++;
      },
    });
  }

  // ------------------------------------------------------------ create

  type Parsed<T> = { ok: true; value: T } | { ok: false; error: SimResponse };

  function readParam(
    name: keyof ArkSimParams,
    field: string,
    value: unknown,
    rule: ArkSimModelRule,
  ): Parsed<string | number | boolean> {
    const bad = { ok: false as const, error: invalid(field, value) };
    switch (name) {
      case 'resolution':
        return typeof value === 'string' && rule.resolutions.includes(value) ? { ok: true, value } : bad;
      case 'ratio':
        return typeof value === 'string' && RATIOS.includes(value) ? { ok: true, value } : bad;
      case 'duration': {
        const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
        return typeof n === 'number' && Number.isInteger(n) && n >= rule.durations[0] && n <= rule.durations[1]
          ? { ok: true, value: n }
          : bad;
      }
      case 'seed': {
        const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
        return typeof n === 'number' && Number.isInteger(n) && n >= -1 && n <= 2 ** 32 - 1
          ? { ok: true, value: n }
          : bad;
      }
      case 'cameraFixed':
      case 'watermark': {
        const b = value === 'true' ? true : value === 'false' ? false : value;
        return typeof b === 'boolean' ? { ok: true, value: b } : bad;
      }
    }
  }

  const BODY_FIELDS: ReadonlyArray<[keyof ArkSimParams, string]> = [
    ['resolution', 'resolution'],
    ['ratio', 'ratio'],
    ['duration', 'duration'],
    ['seed', 'seed'],
    ['cameraFixed', 'camera_fixed'],
    ['watermark', 'watermark'],
  ];

  function readContent(body: Record<string, unknown>): Parsed<{ prompt: string; image: Entry['image'] }> {
    const content = body.content;
    if (content === undefined || content === null) return { ok: false, error: missing('content') };
    if (!Array.isArray(content) || content.length === 0) return { ok: false, error: invalid('content', content) };
    let prompt: string | undefined;
    let image: Entry['image'];
    for (const [i, raw] of content.entries()) {
      const item = raw as Record<string, unknown> | null;
      if (typeof item !== 'object' || item === null) return { ok: false, error: invalid(`content[${i}]`, raw) };
      if (item.type === 'text') {
        if (typeof item.text !== 'string' || prompt !== undefined)
          return { ok: false, error: invalid(`content[${i}].text`, item.text) };
        prompt = item.text;
      } else if (item.type === 'image_url') {
        const url = (item.image_url as { url?: unknown } | null | undefined)?.url;
        const inline =
          typeof url === 'string' &&
          /^data:image\/(png|jpe?g|webp|bmp|tiff|gif|heic|heif);base64,[A-Za-z0-9+/]+=*$/i.test(url);
        if (typeof url !== 'string' || !(isHttpUrl(url) || (inline && opts.acceptInlineImages !== false))) {
          return {
            ok: false,
            error: invalid(`content[${i}].image_url.url`, typeof url === 'string' ? url.slice(0, 64) : url),
          };
        }
        const role = item.role;
        if (role !== undefined && (typeof role !== 'string' || !IMAGE_ROLES.includes(role))) {
          return { ok: false, error: invalid(`content[${i}].role`, role) };
        }
        if (image !== undefined) return { ok: false, error: invalid(`content[${i}]`, 'more than one image') };
        image = { url, role: role as string | undefined };
      } else {
        return { ok: false, error: invalid(`content[${i}].type`, item.type) };
      }
    }
    return { ok: true, value: { prompt: prompt ?? '', image } };
  }

  function create(rawBody: Buffer, headers: http.IncomingHttpHeaders): SimResponse | 'drop' {
    stats.createCalls++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody.toString('utf8'));
    } catch {
      return arkError(400, 'InvalidParameter', 'The request body is not valid JSON.', 'body');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return invalid('body', parsed);
    const body = parsed as Record<string, unknown>;

    for (const field of Object.keys(body)) {
      if (!BODY_FIELD_NAMES.has(field)) return invalid(field, 'unknown parameter');
    }
    if (body.model === undefined || body.model === null) return missing('model');
    if (typeof body.model !== 'string') return invalid('model', body.model);
    const model = body.model;
    const rule = models[model] ?? (/^ep-[\w-]+$/.test(model) ? seedance1 : undefined);
    if (!rule) {
      return arkError(
        404,
        'InvalidEndpointOrModel.NotFound',
        `The model or endpoint ${model} does not exist or you do not have access to it.`,
      );
    }
    const content = readContent(body);
    if (!content.ok) return content.error;
    const { prompt, image } = content.value;

    const { attempt, refusal } = sim.submitAttempt(prompt);
    if (refusal === 'rate_limit') return rateLimited('1');
    if (refusal === 'server_error') return arkError(500, 'InternalServiceError');

    if (rule.input === 'text' && image) return invalid('content', 'this model does not take images');
    if (rule.input === 'image' && !image) return missing('content.image_url');
    if (!image && prompt.trim() === '') return missing('content.text');

    const fromBody: Partial<ArkSimParams> = {};
    for (const [name, field] of BODY_FIELDS) {
      const value = body[field];
      if (value === undefined || value === null) continue;
      // Body fields are typed: "5" is not a duration and "true" is not a boolean, unlike in the text flags.
      if ((name === 'duration' || name === 'seed') && typeof value !== 'number') return invalid(field, value);
      if ((name === 'cameraFixed' || name === 'watermark') && typeof value !== 'boolean') return invalid(field, value);
      const read = readParam(name, field, value, rule);
      if (!read.ok) return read.error;
      (fromBody as Record<string, unknown>)[name] = read.value;
    }
    const textFlags: Record<string, string> = {};
    const fromText: Partial<ArkSimParams> = {};
    for (const m of prompt.matchAll(/(?:^|\s)--([A-Za-z]+)\s+(\S+)/g)) {
      const name = FLAG_NAMES[m[1]!.toLowerCase()];
      if (!name) continue;
      textFlags[m[1]!.toLowerCase()] = m[2]!;
      const read = readParam(name, m[1]!, m[2]!, rule);
      if (!read.ok) return read.error;
      (fromText as Record<string, unknown>)[name] = read.value;
    }
    for (const [field, allowed] of [
      ['generate_audio', rule.audio],
      ['return_last_frame', true],
      ['draft', rule.draft],
    ] as const) {
      if (body[field] !== undefined && body[field] !== null && (!allowed || typeof body[field] !== 'boolean'))
        return invalid(field, body[field]);
    }
    const given = (field: string) => body[field] !== undefined && body[field] !== null;
    // [U] ranges of the rarely used fields: the simulator checks their types only.
    if (given('frames') && (typeof body.frames !== 'number' || !Number.isInteger(body.frames) || body.frames < 1))
      return invalid('frames', body.frames);
    if (given('priority') && (typeof body.priority !== 'number' || !Number.isInteger(body.priority)))
      return invalid('priority', body.priority);
    if (
      given('safety_identifier') &&
      (typeof body.safety_identifier !== 'string' || body.safety_identifier.length > 64)
    ) {
      return invalid('safety_identifier', body.safety_identifier);
    }
    if (given('tools')) {
      const tools = body.tools;
      const ok =
        rule.tools &&
        Array.isArray(tools) &&
        tools.every((t) => typeof t === 'object' && t !== null && (t as { type?: unknown }).type === 'web_search');
      if (!ok) return invalid('tools', tools);
    }
    const callbackUrl = body.callback_url;
    if (callbackUrl !== undefined && callbackUrl !== null) {
      if (typeof callbackUrl !== 'string' || !isHttpUrl(callbackUrl)) return invalid('callback_url', callbackUrl);
      if (!opts.allowExternalCallbacks && !isLoopback(callbackUrl)) {
        return invalid('callback_url', 'the simulator only calls loopback addresses');
      }
    }
    const expiresAfter = body.execution_expires_after ?? DEFAULT_EXPIRES_S;
    if (
      typeof expiresAfter !== 'number' ||
      !Number.isInteger(expiresAfter) ||
      expiresAfter < 3600 ||
      expiresAfter > 259_200
    ) {
      return invalid('execution_expires_after', expiresAfter);
    }
    if (given('service_tier') && !(body.service_tier === 'default' || (body.service_tier === 'flex' && rule.flex))) {
      return invalid('service_tier', body.service_tier);
    }

    if (prompt.includes(ARK_SIM_MARKERS.contentPolicyInput))
      return arkError(400, 'InputTextSensitiveContentDetected', undefined, 'content');

    const merged = opts.textFlagPrecedence === 'body' ? { ...fromText, ...fromBody } : { ...fromBody, ...fromText };
    const seed = merged.seed === undefined || merged.seed === -1 ? Math.floor(random() * 2 ** 32) : merged.seed;
    const params: ArkSimParams = {
      resolution: merged.resolution ?? '720p', // [U] default differs by model
      ratio: merged.ratio ?? (image ? 'adaptive' : '16:9'),
      duration: merged.duration ?? 5,
      seed,
      cameraFixed: merged.cameraFixed ?? false,
      watermark: merged.watermark ?? false,
    };

    const now = clock.now();
    const queueMs = pick(opts.queueMs, 50);
    const runMs = pick(opts.runMs, 250);
    const has = (marker: string) => prompt.includes(marker);
    const outcome: ArkSimOutcome = has(ARK_SIM_MARKERS.expired)
      ? 'expired'
      : has(ARK_SIM_MARKERS.contentPolicyAudio)
        ? 'content_policy_audio'
        : has(ARK_SIM_MARKERS.contentPolicy)
          ? 'content_policy'
          : has(ARK_SIM_MARKERS.fail)
            ? 'fail'
            : 'succeeded';
    const queueEndsAt = has(ARK_SIM_MARKERS.queuedForever) || outcome === 'expired' ? Infinity : now + queueMs;
    const runEndsAt =
      has(ARK_SIM_MARKERS.hang) || has(ARK_SIM_MARKERS.queuedForever) ? Infinity : now + queueMs + runMs;
    const e: Entry = {
      id: newTaskId(now),
      model,
      body: structuredClone(body),
      prompt,
      image,
      params,
      textFlags,
      jobId: jobIdOf(headers),
      callbackUrl:
        has(ARK_SIM_MARKERS.noWebhook) || opts.callbacks === false || typeof callbackUrl !== 'string'
          ? undefined
          : callbackUrl,
      rule,
      returnLastFrame: body.return_last_frame === true,
      createdAt: now,
      queueEndsAt,
      runEndsAt,
      // [sim:expired] expires when it would otherwise have finished; everything else after execution_expires_after.
      expiresAt: outcome === 'expired' ? now + queueMs + runMs : now + expiresAfter * 1000,
      expiresAfterS: expiresAfter,
      cancelledAt: undefined,
      outcome,
      deleted: false,
      notified: 0,
      held: [],
      timer: undefined,
    };
    entries.set(e.id, e);
    stats.creates++;
    tally(stats.createsByPrompt, prompt);
    tally(stats.createsByJobId, e.jobId);
    notify(e);
    if (has(ARK_SIM_MARKERS.dropSubmitResponse) && attempt === 1) return 'drop';
    return json(200, { id: e.id }, { 'x-request-id': requestId() });
  }

  // ------------------------------------------------------------ get, list, delete, files

  const visible = (e: Entry | undefined, now = clock.now()): e is Entry =>
    !!e && !e.deleted && now - e.createdAt <= retentionMs;

  // [U] Ark's code and wording for an unknown task id.
  const taskNotFound = (id: string) => arkError(404, 'ResourceNotFound', `The specified task ${id} is not found.`);

  function get(id: string): SimResponse {
    const e = entries.get(id);
    if (!visible(e)) return taskNotFound(id);
    return json(200, taskObject(e, current(e)), { 'x-request-id': requestId() });
  }

  function list(search: URLSearchParams): SimResponse {
    const pageNum = Number(search.get('page_num') ?? '1');
    const pageSize = Number(search.get('page_size') ?? '10');
    if (!Number.isInteger(pageNum) || pageNum < 1 || pageNum > 500) return invalid('page_num', search.get('page_num'));
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500)
      return invalid('page_size', search.get('page_size'));
    const status = search.get('filter.status');
    const model = search.get('filter.model');
    const ids = search.getAll('filter.task_ids');
    const now = clock.now();
    const items = [...entries.values()]
      .filter((e) => visible(e, now))
      .map((e) => taskObject(e, current(e, now)))
      .filter(
        (t) =>
          (status === null || t.status === status) &&
          (model === null || t.model === model) &&
          (!ids.length || ids.includes(t.id as string)),
      )
      .reverse();
    return json(
      200,
      { total: items.length, items: items.slice((pageNum - 1) * pageSize, pageNum * pageSize) },
      { 'x-request-id': requestId() },
    );
  }

  /** Queued → cancelled; finished → record deleted [S]; running → refused [U]. Answers with an empty body [U]. */
  function remove(id: string): SimResponse {
    const e = entries.get(id);
    if (!visible(e)) return taskNotFound(id);
    const now = clock.now();
    const state = current(e, now).status;
    const done: SimResponse = { status: 200, headers: { 'x-request-id': requestId() }, body: '' };
    if (state === 'queued' || (state === 'running' && opts.deleteRunning === 'cancel')) {
      e.cancelledAt = now;
      stats.deletes++;
      notify(e);
      return done;
    }
    if (state === 'running') {
      return arkError(409, 'InvalidAction.TaskRunning', `The task ${id} is running and cannot be cancelled.`); // [U]
    }
    e.deleted = true;
    stats.deletes++;
    return done;
  }

  function file(id: string, name: ArkSimFile, search: URLSearchParams, head: boolean): SimResponse {
    const e = entries.get(id);
    const now = clock.now();
    if (!e || current(e, now).status !== 'succeeded') return FILE_NOT_FOUND;
    if (name === 'last_frame.png' && !e.returnLastFrame) return FILE_NOT_FOUND;
    if (e.prompt.includes(ARK_SIM_MARKERS.expiredVideo)) return FILE_NOT_FOUND;
    const date = search.get('X-Tos-Date') ?? '';
    const expires = search.get('X-Tos-Expires') ?? '';
    const expected = signFile(id, name, date, expires);
    // [U] TOS error bodies; a presigned URL that was tampered with or has run out is 403 either way.
    if (search.get('X-Tos-Signature') !== expected) {
      return json(403, {
        Code: 'SignatureDoesNotMatch',
        Message: 'The request signature we calculated does not match the signature you provided.',
      });
    }
    if (now > parseTosDate(date) + Number(expires) * 1000)
      return json(403, { Code: 'AccessDenied', Message: 'Request has expired' });
    const tos = { 'x-tos-request-id': requestId() };
    if (name === 'last_frame.png') return mediaFile(lastFrame, 'image/png', head, tos);
    const bytes = e.prompt.includes(ARK_SIM_MARKERS.htmlVideo)
      ? HTML_VIDEO
      : e.params.resolution === '480p'
        ? video480
        : video720;
    return mediaFile(bytes, 'video/mp4', head, tos);
  }

  // ------------------------------------------------------------ HTTP plumbing

  type Match = { route: ArkSimRoute; id?: string; file?: ArkSimFile };

  function classify(method: string, parts: string[]): Match | undefined {
    if (parts.length === 3 && parts[0] === 'files' && (parts[2] === 'output.mp4' || parts[2] === 'last_frame.png')) {
      return { route: 'files', id: parts[1]!, file: parts[2] };
    }
    const api = ['api', 'v3', 'contents', 'generations', 'tasks'];
    if (parts.length < 5 || !api.every((p, i) => parts[i] === p)) return undefined;
    if (parts.length === 5) return { route: method === 'POST' ? 'create' : 'list' };
    if (parts.length === 6) return { route: method === 'DELETE' ? 'delete' : 'get', id: parts[5]! };
    return undefined;
  }

  function answer({
    req,
    method,
    url,
    match: { route, id, file: fileName },
    body,
  }: SimRequest<Match>): SimResponse | 'drop' {
    if (route === 'files') {
      stats.fileCalls++;
      return file(id!, fileName!, url.searchParams, method === 'HEAD');
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`) return arkError(401, 'AuthenticationError');
    if (route === 'create') return create(body, req.headers);
    if (route === 'list') {
      stats.listCalls++;
      return list(url.searchParams);
    }
    if (route === 'get') {
      stats.statusCalls++;
      return get(id!);
    }
    stats.deleteCalls++;
    return remove(id!);
  }

  origin = await sim.listen<Match>({
    host: opts.host,
    port: opts.port,
    maxRequestBytes: MAX_REQUEST_BYTES,
    route: classify,
    methods: { create: ['POST'], list: ['GET'], get: ['GET'], delete: ['DELETE'], files: ['GET', 'HEAD'] },
    tooLarge: () => arkError(413, 'RequestEntityTooLarge', 'The request body is too large.'),
    notFound: (path) => arkError(404, 'NotFound', `The requested path ${path} does not exist.`),
    methodNotAllowed: (method) => arkError(405, 'MethodNotAllowed', `${method} is not allowed here.`),
    crashed: (message) => ({
      error: { code: 'InternalServiceError', message, param: '', type: 'InternalServerError' },
    }),
    canned: ({ route, id }) =>
      json(200, route === 'create' ? { id: newTaskId(clock.now()) } : { id, status: 'queued' }),
    fallbackJson: () => JSON.stringify({ id: newTaskId(clock.now()), status: 'queued' }),
    spoil(fault) {
      switch (fault.kind) {
        case 'rate_limit':
          return rateLimited(fault.retryAfter, fault.code);
        case 'server_error':
          return arkError(
            fault.status ?? 500,
            fault.code ?? 'InternalServiceError',
            undefined,
            undefined,
            fault.retryAfter ? { 'retry-after': fault.retryAfter } : {},
          );
        case 'error':
          return arkError(fault.status, fault.code, fault.message, fault.param, fault.headers);
      }
    },
    answer,
    onRequest: pump,
  });

  const snapshot = (e: Entry): ArkSimTask => ({
    id: e.id,
    model: e.model,
    body: structuredClone(e.body),
    prompt: e.prompt,
    image: e.image,
    params: { ...e.params },
    textFlags: { ...e.textFlags },
    jobId: e.jobId,
    callbackUrl: e.callbackUrl,
    createdAt: e.createdAt,
    status: current(e).status,
    outcome: e.outcome,
    deleted: e.deleted,
  });

  const { snapshot: task, ...shared } = sim.handle({
    entries,
    snapshot,
    deliveries,
    isFinished: (e) => FINAL.has(current(e).status),
    finish(e, now) {
      e.queueEndsAt = Math.min(e.queueEndsAt, now);
      e.runEndsAt = now;
      if (e.outcome === 'expired') e.expiresAt = now;
      notify(e);
    },
    pump,
  });
  return {
    ...shared,
    url: `${origin}/api/v3`,
    apiKey,
    stats,
    task,
    createsFor: (prompt) => stats.createsByPrompt.get(prompt) ?? 0,
  };
}

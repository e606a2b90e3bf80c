/**
 * A local kie.ai (provider-apis.md §3 and §7.3 Veo 3.1, §4 Suno music-video MP4) for the demo, tests and benchmarks: a
 * real HTTP server on 127.0.0.1 with Bearer auth, kie's `{code, msg, data}` envelope (errors inside HTTP 200 by
 * default, or as the HTTP status: `errorStyle`), task state by the clock, Veo's 1080p upgrade (not ready for
 * `hdReadyMs` after success), Veo's 4K upgrade (POST get-4k-video starts a 4K task with its own id, ready
 * `uhdReadyMs` later; asking again answers 422 "4k is processing…" until then; record-info knows the 4K task too),
 * Veo's English-only rule, callbacks in each API's own shape (optionally HMAC-signed as kie signs them), and
 * result URLs on this server serving small real MP4s. Where kie's behaviour is not documented ([U] in
 * provider-apis.md) the choice is marked [U] here.
 *
 * Markers. Veo reads them in the prompt. Suno MP4 has no prompt: there the "prompt" is the `author` and the source
 * Suno `taskId` joined by a space, and a marker may sit in either (e.g. author "DJ [sim:fail]").
 *   [sim:content_policy]            Veo: generates, then fails with successFlag 3, code 400 "…flagged…" (the video)
 *   [sim:content_policy_input]      Veo: refused at generate with code 400 "Your prompt was flagged…" (no task)
 *   [sim:content_policy_input_late] Veo: the task fails with successFlag 2, code 400 "Your prompt was flagged…"
 *   [sim:fail]                      generates, then fails: Veo successFlag 3 code 501; Suno GENERATE_MP4_FAILED
 *   [sim:create_failed]             Suno: CREATE_TASK_FAILED (the source track is unusable)
 *   [sim:callback_exception]        Suno: CALLBACK_EXCEPTION, with the video made
 *   [sim:hang]                      generating forever
 *   [sim:rate_limit:N]              the first N generates of this exact prompt answer 429 with Retry-After: 1
 *   [sim:server_error:N]            the first N generates of this exact prompt answer 500
 *   [sim:maintenance]               every generate answers 455 (service unavailable)
 *   [sim:no_credits]                every generate answers 402 (insufficient credits)
 *   [sim:bad_video_url]             the result URL is not http(s)
 *   [sim:expired_video]             the video URL answers 404 (already expired)
 *   [sim:html_video]                the video URL serves an HTML page labelled video/mp4
 *   [sim:dup_webhook]               the callback is delivered twice
 *   [sim:no_webhook]                no callback is ever sent
 *   [sim:unknown_flag]              record-info reports a successFlag kie never documented (Veo 4, Suno "QUEUING")
 *   [sim:uhd_unavailable]           Veo: the 4K task fails with kie's "The 4K version of this video is unavailable…"
 * Veo extend (POST /api/v1/veo/extend, §7.3 [S]) makes a task continuing a finished one, tracked by record-info, whose
 * record also names the joined clip (`fullResultUrls` [U]); a task whose 1080p or 4K copy was handed out is refused.
 * A Veo prompt with letters of a non-Latin script fails like kie's "Only English prompts are supported at this time"
 * (successFlag 2, code 400), unless `englishOnly` is false.
 *
 * The generate endpoints follow kie's published request schemas and refuse (422) a field the schema does not name,
 * e.g. Veo's older `aspectRatio` spelling, which the real server may silently ignore. Veo's `generationType` rules
 * (§7.3): REFERENCE_2_VIDEO on `veo3_fast` only and at 16:9 or 9:16; two `imageUrls` only as first and last frame
 * (FIRST_AND_LAST_FRAMES_2_VIDEO); TEXT_2_VIDEO takes no image, the other types need one [U: texts]. Suno MP4 requires `callBackUrl`
 * (kie lists it as required) and answers a second request for the same song (taskId + audioId) with 409 "Mp4 record
 * already exists", naming the existing MP4 task in `data.taskId` [S: one public client reads it there]. A callback
 * URL off loopback is accepted, as kie would, but never called: the simulator sends nothing off this machine.
 *
 * Runtime knobs: `injectFault` (429 with or without Retry-After, 5xx, any kie code in either error style, malformed or
 * truncated JSON, HTML pages, slow, hanging or reset responses, any canned answer; before or after the request is
 * processed), `complete`, `signWebhook`, `pump`, and the options below (callback duplicates, delays for out-of-order
 * delivery, early callbacks, forged or missing signatures, no callbacks at all).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { systemClock } from '../core/ports.js';
import { SIM_ASSETS } from './assets.js';
import {
  FILE_NOT_FOUND,
  HTML_VIDEO,
  isHttpUrl,
  isLoopback,
  jobIdOf,
  jsonResponse as json,
  mediaFile,
  type SimResponse as BaseSimResponse,
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

export type KieSimRoute =
  | 'veo_generate'
  | 'veo_record_info'
  | 'veo_1080p'
  | 'veo_4k'
  | 'veo_extend'
  | 'mp4_generate'
  | 'mp4_record_info'
  | 'credit'
  | 'files';

/** 'envelope': every answer is HTTP 200 and the error is the envelope `code` (kie's own client example expects that).
 * 'http': the HTTP status is the code too. 'http500': every error is HTTP 500 and only the envelope says which (kie's
 * documented answers show an HTTP 500 whose body `code` is 401, 402, 422, 429…). Which kie really does is [U] (§3.1). */
export type KieErrorStyle = 'envelope' | 'http' | 'http500';

export type KieSimFault =
  /** 429; `Retry-After` only when given (seconds or an HTTP date). */
  | { kind: 'rate_limit'; retryAfter?: string; style?: KieErrorStyle }
  /** A 5xx code (default 500). */
  | { kind: 'server_error'; status?: number; style?: KieErrorStyle }
  /** Any kie code with its message, e.g. 455 maintenance or 402 insufficient credits. */
  | { kind: 'code'; code: number; msg?: string; style?: KieErrorStyle; headers?: Record<string, string> }
  | SimFault;

export type KieSimFaultOptions = SimFaultOptions<KieSimRoute>;

export interface KieSimOptions extends SimOptions, SimWebhookOptions {
  /** The key clients must send as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** When set, callbacks carry `X-Webhook-Timestamp` and `X-Webhook-Signature` made with it (§3.4). */
  hmacKey?: string;
  errorStyle?: KieErrorStyle;
  /** Waiting before generation starts, ms (Veo reports it as successFlag 0 too). */
  queueMs?: SimMillis;
  /** The 1080p copy is ready this long after success (kie: 1–3 min). */
  hdReadyMs?: SimMillis;
  /** The 4K copy is ready this long after get-4k-video is first asked (kie: 5–10 min). */
  uhdReadyMs?: SimMillis;
  /** Output files answer 404 this long after completion; default never. */
  fileTtlMs?: number;
  /** Suno record-info times: kie's example uses strings, a copy of the API epoch ms (§4.2). */
  timeFormat?: 'string' | 'epoch';
  /** Veo refuses prompts that are not English (default true). */
  englishOnly?: boolean;
  /** Accepted Veo `seeds`; null accepts any integer. Default [10000, 99999] [U]. */
  seedRange?: readonly [number, number] | null;
  /** Suno generate refuses a request without `callBackUrl` (default true: kie's docs list it as required). */
  requireSunoCallBackUrl?: boolean;
  /** For this long after a task is created, record-info answers 422 "record is null" (kie's record lags its taskId). */
  recordDelayMs?: number;
  /** Whether the 409 for a repeated Suno MP4 request names the existing task in `data.taskId` (default true) [U]. */
  mp4ConflictNamesTask?: boolean;
  /** Veo fetches each of `imageUrls` at generate (loopback only; anything else cannot be fetched) and fails the task
   * like kie when one does not answer 200 with an image. Default false: the URLs are only checked to be http(s). */
  fetchImages?: boolean;
  /** What `GET /api/v1/chat/credit` answers: the account's remaining credits (default 1000). */
  credits?: number;
  /** An extra delay per delivery (a range draws one per delivery; a function picks per task and copy): deliveries
   * then arrive out of order. */
  webhookDelayMs?: SimMillis | ((delivery: { taskId: string; copy: number }) => number);
  /** Callbacks leave this long before record-info shows the task finished (a notification racing the record). */
  webhookEarlyMs?: number;
  /** 'forged' signs with a key that is not `hmacKey`; 'none' sends no signature headers. Default 'valid'. */
  webhookSigning?: 'valid' | 'forged' | 'none';
  /** False: no callback is ever sent. */
  sendWebhooks?: boolean;
  /** Which id a Suno callback's `task_id` carries: the MP4 task (default) or, as kie's example reads, the source task [U]. */
  sunoCallbackTaskId?: 'mp4' | 'source';
}

export interface KieSimStats extends SimSubmitStats {
  recordInfoCalls: number;
  /** Calls of get-1080p-video. */
  hdCalls: number;
  /** Calls of get-4k-video. */
  uhdCalls: number;
}

export type KieSimApi = 'veo' | 'mp4';
export type KieSimOutcome =
  | 'ok'
  | 'content_policy'
  | 'content_policy_input_late'
  | 'fail'
  | 'not_english'
  | 'image_fetch_failed'
  | 'create_failed'
  | 'callback_exception'
  | 'uhd_unavailable';
export type KieSimState = 'generating' | 'succeeded' | 'failed';

export interface KieSimTask extends SimSubmission<KieSimState, KieSimOutcome> {
  readonly api: KieSimApi;
  /** `veo3`, `veo3_fast` or `suno-mp4`. */
  readonly model: string;
  /** The Veo prompt, or the Suno marker text (author and source task id). */
  readonly prompt: string;
  /** Veo: the ratio used (`aspect_ratio`, 16:9 when not given). */
  readonly aspectRatio: string | undefined;
  /** A Veo 4K task: the task it upgrades. */
  readonly upgradeOf: string | undefined;
  /** A Veo extend task: the task it continues. */
  readonly extendOf: string | undefined;
}

export interface KieSimCall extends SimCall<KieSimRoute> {
  /** The envelope code when the answer was one. */
  code?: number;
}

export interface KieSimWebhookDelivery {
  taskId: string;
  url: string;
  attempt: number;
  /** HTTP status of the receiver, or 0 on a network error. */
  status: number;
}

export interface KieSimulator extends SimHandle<
  KieSimRoute,
  KieSimFault,
  KieSimCall,
  KieSimTask,
  KieSimWebhookDelivery
> {
  /** The base URL (what `KIE_BASE_URL` would be). */
  readonly url: string;
  readonly apiKey: string;
  readonly hmacKey: string | undefined;
  readonly stats: KieSimStats;
  /** Tasks made by the generate endpoints (not 4K tasks: see `request(id)`). */
  requests(): KieSimTask[];
  request(id: string): KieSimTask | undefined;
  submissionsFor(prompt: string): number;
  /** Finish a task now (its outcome still follows its markers); a Veo 1080p copy is then `hdReadyMs` away. */
  complete(id: string): void;
  /** The signature headers kie would send for a callback about `taskId` (with `key`, default the simulator's). */
  signWebhook(taskId: string, opts?: { timestampS?: number; key?: string }): Record<string, string>;
  /** What `GET /api/v1/chat/credit` answers from now on (the account spent or topped up). */
  setCredits(credits: number): void;
}

export const KIE_SIM_MARKERS = {
  ...SIM_MARKERS,
  contentPolicyInputLate: '[sim:content_policy_input_late]',
  createFailed: '[sim:create_failed]',
  callbackException: '[sim:callback_exception]',
  maintenance: '[sim:maintenance]',
  noCredits: '[sim:no_credits]',
  unknownFlag: '[sim:unknown_flag]',
  uhdUnavailable: '[sim:uhd_unavailable]',
} as const;

/** Where the simulator's media live (shared with the other simulators). */
export const KIE_SIM_ASSETS = SIM_ASSETS;

/** kie's wording where the docs give it (§3.4); the rest is [U]. */
export const KIE_SIM_MESSAGES = {
  promptFlagged: 'Your prompt was flagged by Website as violating content policies.',
  videoFlagged: 'The generated video was flagged by Website as violating content policies.', // [U]
  englishOnly: 'Only English prompts are supported at this time',
  imageFetch: 'Failed to fetch the image. Kindly verify any access limits set by you or your service provider.',
  generationFailed: 'Video generation failed, please try again later.', // [U]
  mp4Failed: 'MP4 generation failed.', // [U]
  mp4Exists: 'Mp4 record already exists',
  recordNull: 'record is null', // [U] exact text
  createFailed: 'The source audio could not be found for this taskId and audioId.', // [U]
  hdNotReady: '1080P is processing. It should be ready in 1-2 minutes. Please check back shortly.', // [U]
  uhdNotReady: '4k is processing. It should be ready in 5-10 minutes. Please check back shortly.',
  uhdUnavailable: 'The 4K version of this video is unavailable. Please try a different video.',
  uhdDone: '4K Video generated successfully.',
  unauthorized: 'You do not have access permissions', // [U]
  rateLimited: 'Your call frequency is too high. Please try again later.', // [U]
  serverError: 'Server error, please try again later.', // [U]
  maintenance: 'The service is currently under maintenance, please try again later.', // [U]
  noCredits: 'The current credits are insufficient. Please top up.', // [U]
} as const;

/** Signs a callback the way kie does (§3.4): base64 HMAC-SHA256 of `taskId.timestamp`; the body is not signed. */
export function signKieSimWebhook(key: string, taskId: string, timestampS: number): Record<string, string> {
  const signature = createHmac('sha256', key).update(`${taskId}.${timestampS}`, 'utf8').digest('base64');
  return { 'x-webhook-timestamp': String(timestampS), 'x-webhook-signature': signature };
}

const MAX_REQUEST_BYTES = 1024 * 1024;
const API_ROUTES: readonly KieSimRoute[] = [
  'veo_generate',
  'veo_record_info',
  'veo_1080p',
  'veo_4k',
  'veo_extend',
  'mp4_generate',
  'mp4_record_info',
];
const VEO_MODELS = new Set(['veo3', 'veo3_fast']);
const VEO_RATIOS = new Set(['16:9', '9:16', 'Auto']);
const GENERATION_TYPES = new Set(['TEXT_2_VIDEO', 'FIRST_AND_LAST_FRAMES_2_VIDEO', 'REFERENCE_2_VIDEO']);
/** The fields of kie's published request schemas (§3.2, §4.1); `enableFallback` is deprecated there but still named. */
const VEO_FIELDS = new Set([
  'prompt',
  'imageUrls',
  'model',
  'generationType',
  'aspect_ratio',
  'seeds',
  'watermark',
  'callBackUrl',
  'enableFallback',
  'enableTranslation',
]);
/** extend's request (docs.kie.ai veo3-api/extend-video, the old-model page's example); `model` "fast" or "quality" [U]. */
const EXTEND_FIELDS = new Set(['taskId', 'prompt', 'seeds', 'watermark', 'callBackUrl', 'model']);
const EXTEND_MODELS = new Set(['fast', 'quality']);
/** get-4k-video's request (§7.3). */
const UHD_FIELDS = new Set(['taskId', 'index', 'callBackUrl']);
const MP4_FIELDS = new Set(['taskId', 'audioId', 'callBackUrl', 'author', 'domainName']);
const MARKER_RE = /\[sim:[a-z_]+(?::\d+)?\]/g;

interface Entry {
  id: string;
  api: KieSimApi;
  model: string;
  input: Record<string, unknown>;
  prompt: string;
  jobId: string | undefined;
  webhookUrl: string | undefined;
  submittedAt: number;
  endsAt: number;
  hdMs: number;
  outcome: KieSimOutcome;
  aspectRatio: string | undefined;
  /** A 4K task: the Veo task it upgrades. */
  upgradeOf: string | undefined;
  /** A Veo task: its 4K task, once asked for. */
  uhdTask: string | undefined;
  /** An extend task: the Veo task it continues. */
  extendOf: string | undefined;
  /** A Veo task whose 1080p or 4K copy was handed out: kie will not extend it (§7.3 [S]). */
  upgraded: boolean;
  webhookQueued: boolean;
  timer: NodeJS.Timeout | undefined;
}

interface SimResponse extends BaseSimResponse {
  code?: number;
}

/** Crude on purpose: a letter of any script but Latin makes the prompt "not English". Markers are not prose. */
function looksNonEnglish(prompt: string): boolean {
  for (const ch of prompt.replace(MARKER_RE, '')) if (/\p{L}/u.test(ch) && !/\p{Script=Latin}/u.test(ch)) return true;
  return false;
}

/** "YYYY-MM-DD hh:mm:ss" in UTC, as kie's examples write times [U: time zone]. */
function kieTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export async function startKieSimulator(opts: KieSimOptions = {}): Promise<KieSimulator> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const apiKey = opts.apiKey ?? 'sim-kie-key';
  const errorStyle = opts.errorStyle ?? 'envelope';
  const seedRange = opts.seedRange === undefined ? ([10_000, 99_999] as const) : opts.seedRange;
  const video = await readFile(KIE_SIM_ASSETS.video720p);

  const entries = new Map<string, Entry>();
  const deliveries: KieSimWebhookDelivery[] = [];
  let credits = opts.credits ?? 1000;
  const sim = simServer<KieSimRoute, KieSimFault, KieSimCall>({ clock, random, apiRoutes: API_ROUTES });
  const { pick } = sim;
  const forgeryKey = randomBytes(32).toString('base64');
  const stats: KieSimStats = { ...submitStats(), recordInfoCalls: 0, hdCalls: 0, uhdCalls: 0 };
  let base = '';

  // Not from `random`: a test that fixes `random` for timings must still get distinct task ids.
  const hexId = (bytes: number) => randomBytes(bytes).toString('hex');

  /** The envelope for a code, in the configured style (or the fault's). */
  const envelope = (
    code: number,
    msg: string,
    data: unknown = null,
    headers: Record<string, string> = {},
    style = errorStyle,
  ): SimResponse => {
    const status = code === 200 || style === 'envelope' ? 200 : style === 'http' ? code : 500;
    return { ...json(status, { code, msg, data }, headers), code };
  };
  const ok = (data: unknown) => envelope(200, 'success', data);

  const stateOf = (e: Entry, now = clock.now()): KieSimState =>
    now < e.endsAt ? 'generating' : e.outcome === 'ok' || e.outcome === 'callback_exception' ? 'succeeded' : 'failed';

  const fileUrl = (e: Entry, name: string) =>
    e.prompt.includes(KIE_SIM_MARKERS.badVideoUrl)
      ? `ftp://files.invalid/${e.id}/${name}`
      : `${base}/files/${e.id}/${name}`;

  function failure(e: Entry): { flag: number | string; code: number; msg: string } {
    switch (e.outcome) {
      case 'content_policy':
        return { flag: 3, code: 400, msg: KIE_SIM_MESSAGES.videoFlagged };
      case 'content_policy_input_late':
        return { flag: 2, code: 400, msg: KIE_SIM_MESSAGES.promptFlagged };
      case 'not_english':
        return { flag: 2, code: 400, msg: KIE_SIM_MESSAGES.englishOnly };
      case 'image_fetch_failed':
        return { flag: 2, code: 400, msg: KIE_SIM_MESSAGES.imageFetch };
      case 'create_failed':
        return { flag: 'CREATE_TASK_FAILED', code: 400, msg: KIE_SIM_MESSAGES.createFailed };
      case 'callback_exception':
        return { flag: 'CALLBACK_EXCEPTION', code: 500, msg: 'Callback to callBackUrl failed' }; // [U]
      case 'uhd_unavailable':
        return { flag: 3, code: 500, msg: KIE_SIM_MESSAGES.uhdUnavailable }; // [U] flag
      case 'fail':
      case 'ok':
        return e.api === 'veo'
          ? { flag: 3, code: 501, msg: KIE_SIM_MESSAGES.generationFailed }
          : { flag: 'GENERATE_MP4_FAILED', code: 500, msg: KIE_SIM_MESSAGES.mp4Failed };
    }
  }

  // ------------------------------------------------------------ records

  function veoRecord(e: Entry): SimResponse {
    const now = clock.now();
    const state = stateOf(e, now);
    const done = state !== 'generating';
    const fail = state === 'failed' ? failure(e) : undefined;
    return ok({
      taskId: e.id,
      paramJson: JSON.stringify(e.input),
      completeTime: done ? kieTime(e.endsAt) : null,
      createTime: kieTime(e.submittedAt),
      response:
        state === 'succeeded'
          ? {
              taskId: e.id,
              resultUrls: [fileUrl(e, 'output.mp4')],
              // [U] kie's newer extend form names the joined clip `fullResultUrls`; the old form's record is not documented.
              ...(e.extendOf !== undefined ? { fullResultUrls: [fileUrl(e, 'full.mp4')] } : {}),
              // [U] what a 4K task's record shows besides its video
              ...(e.upgradeOf === undefined ? { originUrls: [fileUrl(e, 'origin.mp4')] } : {}),
              resolution: e.upgradeOf === undefined ? '720p' : '4k',
            }
          : null,
      successFlag: e.prompt.includes(KIE_SIM_MARKERS.unknownFlag)
        ? 4
        : state === 'generating'
          ? 0
          : state === 'succeeded'
            ? 1
            : fail!.flag,
      errorCode: fail?.code ?? null,
      errorMessage: fail?.msg ?? '',
      // 4K tasks have no fallbackFlag (kie's record-info page).
      ...(e.upgradeOf === undefined ? { fallbackFlag: false } : {}),
    });
  }

  function mp4Record(e: Entry): SimResponse {
    const now = clock.now();
    const state = stateOf(e, now);
    const time = (ms: number) => (opts.timeFormat === 'epoch' ? ms : kieTime(ms));
    const fail = state === 'generating' || e.outcome === 'ok' ? undefined : failure(e);
    return ok({
      taskId: e.id,
      musicId: e.input.audioId,
      callbackUrl: typeof e.input.callBackUrl === 'string' ? e.input.callBackUrl : null,
      musicIndex: 0,
      completeTime: state === 'generating' ? null : time(e.endsAt),
      createTime: time(e.submittedAt),
      response: state === 'succeeded' ? { videoUrl: fileUrl(e, 'output.mp4') } : null,
      successFlag: e.prompt.includes(KIE_SIM_MARKERS.unknownFlag)
        ? 'QUEUING'
        : state === 'generating'
          ? 'PENDING'
          : fail
            ? fail.flag
            : 'SUCCESS',
      errorCode: fail?.code ?? null,
      errorMessage: fail?.msg ?? null,
    });
  }

  function hdVideo(e: Entry, search: URLSearchParams): SimResponse {
    if (search.get('index') !== '0') return envelope(422, 'index is invalid'); // [U] one video per task
    const now = clock.now();
    const state = stateOf(e, now);
    if (state !== 'succeeded') return envelope(422, 'The video is not generated successfully'); // [U]
    if (now < e.endsAt + e.hdMs) return envelope(400, KIE_SIM_MESSAGES.hdNotReady);
    e.upgraded = true;
    return ok({ resultUrl: fileUrl(e, 'output-1080p.mp4') });
  }

  /**
   * get-4k-video (§7.3): the first call starts a 4K task (its own id [U]: the docs' examples do not say whether it
   * reuses the source id) and answers with `resultUrls: null`; later calls answer 422 "4k is processing" until it is
   * ready, then the 4K URL. A second upgrade is never charged or started twice.
   */
  function uhdVideo(rawBody: Buffer, headers: http.IncomingHttpHeaders): SimResponse {
    stats.uhdCalls++;
    const body = parseObject(rawBody);
    if (!body) return envelope(422, 'Request body is not a JSON object'); // [U]
    const unknown = unknownField(body, UHD_FIELDS);
    if (unknown) return unknown;
    if (typeof body.taskId !== 'string' || !body.taskId) return envelope(422, 'taskId is required'); // [U]
    if (body.index !== undefined && body.index !== 0) return envelope(422, 'index is invalid'); // [U] one video per task
    const badCallback = checkCallBackUrl(body.callBackUrl);
    if (badCallback) return badCallback;
    const e = entries.get(body.taskId);
    if (!e || e.api !== 'veo' || e.upgradeOf !== undefined) return envelope(404, 'The task does not exist'); // [U]
    if (stateOf(e) !== 'succeeded') return envelope(422, 'The video is not generated successfully'); // [U]
    const existing = e.uhdTask === undefined ? undefined : entries.get(e.uhdTask);
    if (!existing) {
      const outcome: KieSimOutcome = e.prompt.includes(KIE_SIM_MARKERS.uhdUnavailable) ? 'uhd_unavailable' : 'ok';
      const child = create('veo', e.model, body, e.prompt, outcome, headers, e.aspectRatio, e.id);
      e.uhdTask = child.id;
      // [U] a 4K upgrade that turns out unavailable leaves the video extendable.
      if (outcome === 'ok') e.upgraded = true;
      return ok({ taskId: child.id, resultUrls: null, imageUrls: null });
    }
    const pending = { taskId: existing.id, resultUrls: null, imageUrls: null };
    const state = stateOf(existing);
    if (state === 'generating') return envelope(422, KIE_SIM_MESSAGES.uhdNotReady, pending);
    if (state === 'failed') return envelope(500, KIE_SIM_MESSAGES.uhdUnavailable, pending); // [U] code of this answer
    return ok({ taskId: existing.id, resultUrls: [fileUrl(existing, 'output.mp4')], imageUrls: null });
  }

  // ------------------------------------------------------------ callbacks

  /** The callback for a task that is finished, or about to be (an early callback reports the coming outcome). */
  function callbackBody(e: Entry): { taskId: string; body: string } {
    const succeeded = e.outcome === 'ok' || e.outcome === 'callback_exception';
    if (e.upgradeOf !== undefined) {
      // The 4K callback's own shape (§7.3): code 200 or 500, `info.resultUrls` / `info.imageUrls`.
      const data = succeeded
        ? { taskId: e.id, info: { resultUrls: [fileUrl(e, 'output.mp4')], imageUrls: [] } }
        : { taskId: e.id };
      const msg = succeeded ? KIE_SIM_MESSAGES.uhdDone : KIE_SIM_MESSAGES.uhdUnavailable;
      return { taskId: e.id, body: JSON.stringify({ code: succeeded ? 200 : 500, msg, data }) };
    }
    if (e.api === 'veo') {
      if (succeeded) {
        const promptJson = JSON.stringify({
          aspectRatio: e.aspectRatio,
          callBackUrl: e.webhookUrl,
          enableFallback: e.input.enableFallback ?? false,
          enableTranslation: e.input.enableTranslation ?? true,
          model: e.model,
          prompt: e.prompt,
        });
        const info = {
          resultUrls: [fileUrl(e, 'output.mp4')],
          originUrls: [fileUrl(e, 'origin.mp4')],
          resolution: '720p',
        };
        const data = { taskId: e.id, info, fallbackFlag: false, promptJson };
        return { taskId: e.id, body: JSON.stringify({ code: 200, msg: 'Veo3.1 video generated successfully.', data }) };
      }
      const f = failure(e);
      return {
        taskId: e.id,
        body: JSON.stringify({ code: f.code, msg: f.msg, data: { taskId: e.id, info: null, fallbackFlag: false } }),
      };
    }
    const taskId = opts.sunoCallbackTaskId === 'source' && typeof e.input.taskId === 'string' ? e.input.taskId : e.id;
    if (succeeded) {
      return {
        taskId,
        body: JSON.stringify({
          code: 200,
          msg: 'MP4 generated successfully.',
          data: { task_id: taskId, video_url: fileUrl(e, 'output.mp4') },
        }),
      };
    }
    const f = failure(e);
    return { taskId, body: JSON.stringify({ code: f.code, msg: f.msg, data: { task_id: taskId } }) };
  }

  function webhookDue(e: Entry): number {
    return e.endsAt - (opts.webhookEarlyMs ?? 0);
  }

  function scheduleWebhook(e: Entry): void {
    if (e.webhookUrl && !e.webhookQueued)
      sim.wakeAt(
        e,
        () => webhookDue(e),
        () => sendWebhook(e),
      );
  }

  function pump(): void {
    for (const e of entries.values())
      if (e.webhookUrl && !e.webhookQueued && clock.now() >= webhookDue(e)) sendWebhook(e);
  }

  function sendWebhook(e: Entry): void {
    if (!e.webhookUrl || e.webhookQueued || sim.closed) return;
    e.webhookQueued = true;
    if (opts.sendWebhooks === false || e.prompt.includes(KIE_SIM_MARKERS.noWebhook)) return;
    const { taskId, body } = callbackBody(e);
    const copies = 1 + (opts.webhookDuplicates ?? 0) + (e.prompt.includes(KIE_SIM_MARKERS.dupWebhook) ? 1 : 0);
    const delay = opts.webhookDelayMs;
    for (let copy = 0; copy < copies; copy++) {
      sim.track(
        deliver(
          taskId,
          e.webhookUrl,
          body,
          typeof delay === 'function' ? delay({ taskId: e.id, copy }) : pick(delay, 0),
        ),
      );
    }
  }

  function signingHeaders(taskId: string): Record<string, string> {
    const signing = opts.webhookSigning ?? 'valid';
    if (opts.hmacKey === undefined || signing === 'none') return {};
    return signKieSimWebhook(signing === 'forged' ? forgeryKey : opts.hmacKey, taskId, Math.floor(clock.now() / 1000));
  }

  async function deliver(taskId: string, url: string, body: string, delayMs: number): Promise<void> {
    if (delayMs > 0) await sim.pause(delayMs);
    await sim.postCountedWebhook(url, body, () => signingHeaders(taskId), {
      opts,
      stats,
      record: (attempt, status) => deliveries.push({ taskId, url, attempt, status }),
    });
  }

  // ------------------------------------------------------------ generate

  /** Code answers that depend on the prompt alone, in the order kie would meet them (quota before content). */
  function promptGate(prompt: string): SimResponse | undefined {
    const { refusal } = sim.submitAttempt(prompt);
    if (refusal === 'rate_limit') return envelope(429, KIE_SIM_MESSAGES.rateLimited, null, { 'retry-after': '1' });
    if (refusal === 'server_error') return envelope(500, KIE_SIM_MESSAGES.serverError);
    if (prompt.includes(KIE_SIM_MARKERS.maintenance)) return envelope(455, KIE_SIM_MESSAGES.maintenance);
    if (prompt.includes(KIE_SIM_MARKERS.noCredits)) return envelope(402, KIE_SIM_MESSAGES.noCredits);
    return undefined;
  }

  function parseObject(rawBody: Buffer): Record<string, unknown> | undefined {
    try {
      const value: unknown = JSON.parse(rawBody.toString('utf8'));
      return typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }

  function checkCallBackUrl(value: unknown): SimResponse | undefined {
    if (value === undefined) return undefined;
    if (!isHttpUrl(value)) return envelope(422, 'callBackUrl is not a valid URL'); // [U]
    return undefined;
  }

  /** A field the published schema does not name: refused, so that a misspelt field cannot pass unnoticed [U: text]. */
  function unknownField(body: Record<string, unknown>, known: ReadonlySet<string>): SimResponse | undefined {
    const extra = Object.keys(body).find((name) => !known.has(name));
    return extra === undefined ? undefined : envelope(422, `${extra} is not a parameter of this endpoint`);
  }

  async function imagesFetchable(urls: readonly string[]): Promise<boolean> {
    for (const url of urls) {
      if (!isLoopback(url)) return false;
      const { status, contentType } = await sim.send(url, { timeoutMs: 5000 });
      if (status !== 200 || !contentType.startsWith('image/')) return false;
    }
    return true;
  }

  function create(
    api: KieSimApi,
    model: string,
    input: Record<string, unknown>,
    prompt: string,
    outcome: KieSimOutcome,
    headers: http.IncomingHttpHeaders,
    ratio?: string,
    upgradeOf?: string,
  ): Entry {
    const now = clock.now();
    const hangs = prompt.includes(KIE_SIM_MARKERS.hang);
    const jobId = jobIdOf(headers);
    const e: Entry = {
      id: api === 'veo' ? `veo_task_${hexId(8)}` : hexId(16),
      api,
      model,
      input: structuredClone(input),
      prompt,
      jobId,
      // Only loopback callbacks are ever sent: the simulator never reaches off this machine unless told it may.
      webhookUrl:
        typeof input.callBackUrl === 'string' && (opts.allowExternalWebhooks || isLoopback(input.callBackUrl))
          ? input.callBackUrl
          : undefined,
      submittedAt: now,
      endsAt:
        upgradeOf !== undefined
          ? now + pick(opts.uhdReadyMs, 300)
          : hangs
            ? Infinity
            : now + pick(opts.queueMs, 50) + pick(opts.runMs, 250),
      hdMs: pick(opts.hdReadyMs, 200),
      outcome,
      aspectRatio: ratio,
      upgradeOf,
      uhdTask: undefined,
      extendOf: undefined,
      upgraded: false,
      webhookQueued: false,
      timer: undefined,
    };
    entries.set(e.id, e);
    if (upgradeOf === undefined) countSubmission(stats, prompt, jobId);
    scheduleWebhook(e);
    return e;
  }

  /**
   * What every submit does first, in the order kie meets it: count the call, read the body, answer the prompt's
   * quota and account markers, refuse a field the schema does not name.
   */
  function openSubmit(
    rawBody: Buffer,
    fields: ReadonlySet<string>,
    promptOf = (body: Record<string, unknown>) => (typeof body.prompt === 'string' ? body.prompt : ''),
  ): { body: Record<string, unknown>; prompt: string } | SimResponse {
    stats.submitCalls++;
    const body = parseObject(rawBody);
    if (!body) return envelope(422, 'Request body is not a JSON object'); // [U]
    const prompt = promptOf(body);
    return promptGate(prompt) ?? unknownField(body, fields) ?? { body, prompt };
  }

  /** What a Veo prompt's markers (or its language) make of the task; generate and extend read them alike. */
  function veoOutcome(prompt: string): KieSimOutcome {
    if (prompt.includes(KIE_SIM_MARKERS.contentPolicyInputLate)) return 'content_policy_input_late';
    if (prompt.includes(KIE_SIM_MARKERS.contentPolicy)) return 'content_policy';
    if (prompt.includes(KIE_SIM_MARKERS.fail)) return 'fail';
    if (opts.englishOnly !== false && looksNonEnglish(prompt)) return 'not_english';
    return 'ok';
  }

  async function veoGenerate(rawBody: Buffer, headers: http.IncomingHttpHeaders): Promise<SimResponse> {
    const opened = openSubmit(rawBody, VEO_FIELDS);
    if ('status' in opened) return opened;
    const { body, prompt } = opened;
    // [U] exact validation texts; the codes are kie's 422 "validation error".
    if (!prompt.trim()) return envelope(422, 'prompt is required');
    const model = body.model ?? 'veo3_fast';
    if (typeof model !== 'string' || !VEO_MODELS.has(model)) return envelope(422, 'model is invalid');
    const ratio = body.aspect_ratio ?? '16:9';
    if (typeof ratio !== 'string' || !VEO_RATIOS.has(ratio)) return envelope(422, 'Ratio error');
    const images = body.imageUrls;
    if (
      images !== undefined &&
      (!Array.isArray(images) || images.length < 1 || images.length > 2 || !images.every(isHttpUrl))
    ) {
      return envelope(422, 'imageUrls must be 1 or 2 http(s) URLs');
    }
    // [U] texts; the rules are kie's (§7.3): reference mode is Fast-only at 16:9 / 9:16, two images are first + last.
    const type = body.generationType;
    if (type !== undefined && (typeof type !== 'string' || !GENERATION_TYPES.has(type)))
      return envelope(422, 'generationType is invalid');
    if (type === 'REFERENCE_2_VIDEO' && model === 'veo3')
      return envelope(422, 'REFERENCE_2_VIDEO is supported by veo3_fast only');
    if (type === 'REFERENCE_2_VIDEO' && ratio !== '16:9' && ratio !== '9:16')
      return envelope(422, 'REFERENCE_2_VIDEO supports 16:9 and 9:16 only');
    if (type !== undefined && type !== 'TEXT_2_VIDEO' && images === undefined)
      return envelope(422, 'imageUrls is required for this generationType');
    if (type === 'TEXT_2_VIDEO' && images !== undefined) return envelope(422, 'TEXT_2_VIDEO takes no imageUrls');
    if (Array.isArray(images) && images.length === 2 && type !== 'FIRST_AND_LAST_FRAMES_2_VIDEO') {
      return envelope(422, 'two imageUrls are first and last frame: use FIRST_AND_LAST_FRAMES_2_VIDEO');
    }
    const seeds = body.seeds;
    if (
      seeds !== undefined &&
      (!Number.isInteger(seeds) ||
        (seedRange && ((seeds as number) < seedRange[0] || (seeds as number) > seedRange[1])))
    ) {
      return envelope(
        422,
        seedRange ? `seeds must be an integer between ${seedRange[0]} and ${seedRange[1]}` : 'seeds must be an integer',
      );
    }
    for (const flag of ['enableFallback', 'enableTranslation']) {
      if (body[flag] !== undefined && typeof body[flag] !== 'boolean')
        return envelope(422, `${flag} must be a boolean`);
    }
    const badCallback = checkCallBackUrl(body.callBackUrl);
    if (badCallback) return badCallback;
    if (prompt.includes(KIE_SIM_MARKERS.contentPolicyInput)) return envelope(400, KIE_SIM_MESSAGES.promptFlagged);

    let outcome = veoOutcome(prompt);
    if (outcome === 'ok' && opts.fetchImages && Array.isArray(images) && !(await imagesFetchable(images as string[])))
      outcome = 'image_fetch_failed';
    if (sim.closed) return envelope(500, KIE_SIM_MESSAGES.serverError);
    const e = create('veo', model, body, prompt, outcome, headers, ratio);
    return ok({ taskId: e.id });
  }

  /**
   * extend (§7.3 [S]): a new Veo task continuing a finished one with a new prompt, tracked by record-info, whose record
   * also names the joined clip (`fullResultUrls` [U]). A task never made, not finished, or already upgraded to 1080p
   * or 4K is refused [U: codes and texts]. The prompt's markers work as for generate.
   */
  function veoExtend(rawBody: Buffer, headers: http.IncomingHttpHeaders): SimResponse {
    const opened = openSubmit(rawBody, EXTEND_FIELDS);
    if ('status' in opened) return opened;
    const { body, prompt } = opened;
    if (!prompt.trim()) return envelope(422, 'prompt is required');
    if (typeof body.taskId !== 'string' || !body.taskId) return envelope(422, 'taskId is required');
    if (body.model !== undefined && (typeof body.model !== 'string' || !EXTEND_MODELS.has(body.model)))
      return envelope(422, 'model is invalid');
    const seeds = body.seeds;
    if (
      seeds !== undefined &&
      (!Number.isInteger(seeds) ||
        (seedRange && ((seeds as number) < seedRange[0] || (seeds as number) > seedRange[1])))
    ) {
      return envelope(422, 'seeds is invalid');
    }
    const badCallback = checkCallBackUrl(body.callBackUrl);
    if (badCallback) return badCallback;
    const source = entries.get(body.taskId);
    if (!source || source.api !== 'veo' || source.upgradeOf !== undefined)
      return envelope(404, 'The task does not exist');
    if (stateOf(source) !== 'succeeded') return envelope(422, 'The video is not generated successfully');
    if (source.upgraded) return envelope(422, 'Videos upgraded to 1080P or 4K cannot be extended');
    if (prompt.includes(KIE_SIM_MARKERS.contentPolicyInput)) return envelope(400, KIE_SIM_MESSAGES.promptFlagged);
    if (sim.closed) return envelope(500, KIE_SIM_MESSAGES.serverError);
    const e = create('veo', source.model, body, prompt, veoOutcome(prompt), headers, source.aspectRatio);
    e.extendOf = source.id;
    return ok({ taskId: e.id });
  }

  function mp4Generate(rawBody: Buffer, headers: http.IncomingHttpHeaders): SimResponse {
    // The markers of a Suno MP4 request ride in its author (and the source task id).
    const opened = openSubmit(rawBody, MP4_FIELDS, (body) =>
      `${typeof body.author === 'string' ? body.author : ''} ${typeof body.taskId === 'string' ? body.taskId : ''}`.trim(),
    );
    if ('status' in opened) return opened;
    const { body, prompt } = opened;
    const source = typeof body.taskId === 'string' ? body.taskId : '';
    if (!source) return envelope(422, 'taskId is required'); // [U]
    if (typeof body.audioId !== 'string' || !body.audioId) return envelope(422, 'audioId is required'); // [U]
    for (const field of ['author', 'domainName']) {
      if (body[field] !== undefined && typeof body[field] !== 'string')
        return envelope(422, `${field} must be a string`);
    }
    if (opts.requireSunoCallBackUrl !== false && body.callBackUrl === undefined)
      return envelope(422, 'callBackUrl is required');
    const badCallback = checkCallBackUrl(body.callBackUrl);
    if (badCallback) return badCallback;
    // One MP4 per song: kie keeps the first record and refuses to make another (§4.1 codes: 409).
    const existing = [...entries.values()].find(
      (other) => other.api === 'mp4' && other.input.taskId === source && other.input.audioId === body.audioId,
    );
    if (existing)
      return envelope(
        409,
        KIE_SIM_MESSAGES.mp4Exists,
        opts.mp4ConflictNamesTask === false ? null : { taskId: existing.id },
      );

    let outcome: KieSimOutcome = 'ok';
    if (prompt.includes(KIE_SIM_MARKERS.createFailed)) outcome = 'create_failed';
    else if (prompt.includes(KIE_SIM_MARKERS.fail)) outcome = 'fail';
    else if (prompt.includes(KIE_SIM_MARKERS.callbackException)) outcome = 'callback_exception';
    const e = create('mp4', 'suno-mp4', body, prompt, outcome, headers);
    return ok({ taskId: e.id });
  }

  // ------------------------------------------------------------ files

  function file(id: string, name: string, head: boolean): SimResponse {
    const e = entries.get(id);
    const now = clock.now();
    if (!e || stateOf(e, now) !== 'succeeded') return FILE_NOT_FOUND;
    const known =
      e.api === 'veo'
        ? ['output.mp4', 'origin.mp4', 'output-1080p.mp4', ...(e.extendOf !== undefined ? ['full.mp4'] : [])]
        : ['output.mp4'];
    if (!known.includes(name)) return FILE_NOT_FOUND;
    if (name === 'output-1080p.mp4' && now < e.endsAt + e.hdMs) return FILE_NOT_FOUND;
    const expired =
      e.prompt.includes(KIE_SIM_MARKERS.expiredVideo) ||
      (opts.fileTtlMs !== undefined && now - e.endsAt > opts.fileTtlMs);
    if (expired) return FILE_NOT_FOUND;
    // Only one committed clip exists: the "1080p" file has its own URL and the same bytes.
    const bytes = e.prompt.includes(KIE_SIM_MARKERS.htmlVideo) ? HTML_VIDEO : video;
    return mediaFile(bytes, 'video/mp4', head, { 'cache-control': 'public, max-age=3600' });
  }

  // ------------------------------------------------------------ HTTP plumbing

  const ROUTES: Record<string, KieSimRoute> = {
    '/api/v1/veo/generate': 'veo_generate',
    '/api/v1/veo/record-info': 'veo_record_info',
    '/api/v1/veo/get-1080p-video': 'veo_1080p',
    '/api/v1/veo/get-4k-video': 'veo_4k',
    '/api/v1/veo/extend': 'veo_extend',
    '/api/v1/mp4/generate': 'mp4_generate',
    '/api/v1/mp4/record-info': 'mp4_record_info',
    '/api/v1/chat/credit': 'credit',
  };

  type Match = { route: KieSimRoute; id?: string; name?: string };

  function classify(_method: string, parts: string[], path: string): Match | undefined {
    const route = ROUTES[path];
    if (route) return { route };
    if (parts.length === 3 && parts[0] === 'files') return { route: 'files', id: parts[1]!, name: parts[2]! };
    return undefined;
  }

  async function answer({
    req,
    method,
    url,
    match: { route, id, name },
    body,
  }: SimRequest<Match>): Promise<SimResponse> {
    if (route === 'files') {
      stats.fileCalls++;
      return file(id!, name!, method === 'HEAD');
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`) return envelope(401, KIE_SIM_MESSAGES.unauthorized);
    if (route === 'veo_generate') return veoGenerate(body, req.headers);
    if (route === 'mp4_generate') return mp4Generate(body, req.headers);
    if (route === 'veo_4k') return uhdVideo(body, req.headers);
    if (route === 'veo_extend') return veoExtend(body, req.headers);
    // [V-doc] docs.kie.ai "Get Remaining Credits": `{"code":200,"msg":"success","data":100}`, the credits a bare number.
    if (route === 'credit') return ok(credits);
    if (route === 'veo_1080p') stats.hdCalls++;
    else stats.recordInfoCalls++;
    const taskId = url.searchParams.get('taskId');
    if (!taskId) return envelope(422, 'taskId is required'); // [U]
    const e = entries.get(taskId);
    const api: KieSimApi = route === 'mp4_record_info' ? 'mp4' : 'veo';
    // [U] what kie answers for a task it does not know (or one of the other API)
    if (!e || e.api !== api) return envelope(404, 'The task does not exist');
    if (clock.now() < e.submittedAt + (opts.recordDelayMs ?? 0)) return envelope(422, KIE_SIM_MESSAGES.recordNull);
    if (route === 'veo_1080p') return hdVideo(e, url.searchParams);
    return api === 'veo' ? veoRecord(e) : mp4Record(e);
  }

  base = await sim.listen<Match>({
    host: opts.host,
    port: opts.port,
    maxRequestBytes: MAX_REQUEST_BYTES,
    route: classify,
    methods: {
      veo_generate: ['POST'],
      veo_record_info: ['GET'],
      veo_1080p: ['GET'],
      veo_4k: ['POST'],
      veo_extend: ['POST'],
      mp4_generate: ['POST'],
      mp4_record_info: ['GET'],
      credit: ['GET'],
      files: ['GET', 'HEAD'],
    },
    tooLarge: () => json(413, { code: 413, msg: 'Request body too large', data: null }),
    notFound: () => json(404, { code: 404, msg: 'Not Found', data: null }),
    methodNotAllowed: () => json(405, { code: 405, msg: 'Method Not Allowed', data: null }),
    crashed: (msg) => ({ code: 500, msg, data: null }),
    canned: () => ok({ taskId: `veo_task_${hexId(8)}` }),
    fallbackJson: () => JSON.stringify({ code: 200, msg: 'success', data: { taskId: `veo_task_${hexId(8)}` } }),
    spoil(fault) {
      switch (fault.kind) {
        case 'rate_limit':
          return envelope(
            429,
            KIE_SIM_MESSAGES.rateLimited,
            null,
            fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {},
            fault.style,
          );
        case 'server_error':
          return envelope(fault.status ?? 500, KIE_SIM_MESSAGES.serverError, null, {}, fault.style);
        case 'code':
          return envelope(fault.code, fault.msg ?? `code ${fault.code}`, null, fault.headers ?? {}, fault.style);
      }
    },
    answer,
    onRequest: pump,
    // The envelope code goes in the call log beside the HTTP status.
    logAnswer(call, answer: SimResponse) {
      if (answer.code !== undefined) call.code = answer.code;
    },
  });

  const snapshot = (e: Entry): KieSimTask => ({
    ...snapshotSubmission(e, stateOf(e)),
    api: e.api,
    aspectRatio: e.aspectRatio,
    upgradeOf: e.upgradeOf,
    extendOf: e.extendOf,
  });

  const { snapshot: request, ...shared } = sim.handle({
    entries,
    snapshot,
    listed: (e) => e.upgradeOf === undefined,
    deliveries,
    isFinished: (e) => stateOf(e) !== 'generating',
    finish(e, now) {
      e.endsAt = now;
      scheduleWebhook(e);
    },
    pump,
  });
  return {
    ...shared,
    url: base,
    apiKey,
    hmacKey: opts.hmacKey,
    stats,
    request,
    submissionsFor: (prompt) => stats.submissionsByPrompt.get(prompt) ?? 0,
    signWebhook(taskId, o = {}) {
      const key = o.key ?? opts.hmacKey;
      if (key === undefined) throw new Error('the simulator has no hmacKey: pass one');
      return signKieSimWebhook(key, taskId, o.timestampS ?? Math.floor(clock.now() / 1000));
    },
    setCredits(n) {
      credits = n;
    },
  };
}

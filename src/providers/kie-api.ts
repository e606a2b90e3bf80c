import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';
import {
  clipProviderMessage,
  errorFromStatus,
  parseBody,
  parseRetryAfter,
  requestJson,
  type HttpMethod,
  type JsonResponse,
} from './http.js';

/**
 * What the kie.ai Veo and Suno MP4 adapters share (provider-apis.md §3.1): Bearer auth, the `{code, msg, data}`
 * envelope, and one reading of kie's codes whether they arrive as the HTTP status or inside an HTTP 200 envelope.
 */

/** kie's task ids are opaque; they only ever travel in query strings, but a hostile answer must not smuggle junk. */
const TASK_ID_RE = /^[\x21-\x7e]{1,200}$/;
export const kieTaskId = z.string().regex(TASK_ID_RE, 'not a task id');

export function isKieTaskId(value: string): boolean {
  return TASK_ID_RE.test(value);
}

/**
 * A task's `errorCode`: a number (or numeric string) is a kie code; other text is a label such as
 * `public_error_prominent_people_upload` (§3.2), kept because it may say more than the message.
 */
export const errorCodeField = z
  .union([z.number(), z.string().max(200)])
  .nullish()
  .transform((v): number | string | undefined => {
    if (typeof v === 'number') return Number.isInteger(v) && v > 0 ? v : undefined;
    const text = v?.trim();
    if (!text) return undefined;
    return /^\d{1,4}$/.test(text) ? Number(text) : text;
  });

const envelopeSchema = z.looseObject({
  code: z.number().int(),
  msg: z.string().nullish(),
  data: z.unknown().optional(),
});

/** The envelope of a successful answer with its `data` checked. */
export function kieEnvelope<S extends z.ZodType>(data: S) {
  return z.looseObject({ code: z.literal(200), msg: z.string().nullish(), data });
}

/** Where a kie code was met: it decides the content-policy stage and how much of kie's text the member sees. */
export type KieContext = 'submit' | 'read' | 'generation';

export const ENGLISH_ONLY_MESSAGE = 'Only English prompts are supported at this time';
const ENGLISH_ONLY_RE = /only english prompts/i;
/** Veo's safety wording (§3.4); `rejected by Flow` is Google's filter reached with enableFallback off. */
const CONTENT_POLICY_RE =
  /flagged|content polic|unsafe image|rejected by flow|prominent[ _]people|minor[ _]upload|violat(es|ing) .*polic/i;
/** record-info's answer for a task it has no record of (yet: right after submit, the record may lag the task id). */
const RECORD_NULL_RE = /record is null/i;
/** A failed generation whose message names the prompt or an uploaded image was about the input, not the video. */
const INPUT_SUBJECT_RE = /\bprompt\b|upload/i;

/**
 * A kie code and message → ProviderError (§3.1, §3.4, §4.3). Validation and content-policy messages are what the
 * member reads, so they carry kie's text alone; everything else names the call for the logs.
 */
export function kieError(
  code: number,
  msg: string,
  ctx: { where: KieContext; what: string; retryAfterS?: number },
): ProviderError {
  const text = clipProviderMessage(msg.trim().replace(/\s+/g, ' ')) || `code ${code}`;
  const status = code;
  const logged = `${ctx.what}: code ${code}: ${text}`;
  const retry = ctx.retryAfterS !== undefined ? { retryAfterS: ctx.retryAfterS } : {};
  if (ENGLISH_ONLY_RE.test(text))
    return new ProviderError('validation', ENGLISH_ONLY_MESSAGE, { status, retryable: false });
  if (ctx.where === 'read' && RECORD_NULL_RE.test(text))
    return new ProviderError('not_found', `${ctx.what}: kie.ai has no record of this task`, { status });
  const accountProblem = code === 401 || code === 402 || code === 429 || code === 455;
  if (!accountProblem && CONTENT_POLICY_RE.test(text)) {
    const stage = ctx.where === 'generation' && !INPUT_SUBJECT_RE.test(text) ? 'output' : 'input';
    return new ProviderError('content_policy', text, { status, stage, retryable: false });
  }
  switch (code) {
    case 401:
    case 403:
      return new ProviderError('auth', logged, { status });
    case 402:
      return new ProviderError('insufficient_funds', logged, { status });
    case 404:
      return new ProviderError('not_found', logged, { status });
    case 408:
      return new ProviderError('transient', logged, { status, ...retry });
    case 429:
      // The Suno family reuses 429 for "insufficient credits" (§4.3 [S]); the message tells them apart.
      if (/credit|balance/i.test(text)) return new ProviderError('insufficient_funds', logged, { status });
      return new ProviderError('rate_limit', logged, { status, ...retry });
    case 455:
      return new ProviderError('transient', `${ctx.what}: kie.ai is under maintenance (code 455): ${text}`, {
        status,
        ...retry,
      });
    case 505:
      // "Feature disabled": the operator's account, not the member's request, and retrying changes nothing.
      return new ProviderError('unknown', logged, { status, retryable: false });
  }
  if (code === 400 || code === 422 || code === 451 || (code > 400 && code < 500 && ctx.where !== 'read')) {
    return new ProviderError('validation', text, { status, retryable: false });
  }
  if (ctx.where === 'generation') {
    // 500 is "internal error or timeout, try again" (§3.4): a resubmission may work. 501 and the rest are verdicts.
    return code === 500
      ? new ProviderError('transient', logged, { status })
      : new ProviderError('unknown', logged, { status, retryable: false });
  }
  if (code >= 500) return new ProviderError('transient', logged, { status, ...retry });
  return new ProviderError('unknown', logged, { status, retryable: false });
}

/**
 * A `successFlag` the docs do not list: the job fails now, saying so, rather than polling a state we cannot read
 * until the model's timeout. Not retryable: resubmitting would pay for a second video that may already exist.
 */
export function unknownSuccessFlag(what: string, flag: number | string): ProviderError {
  return new ProviderError(
    'unknown',
    `${what}: unknown successFlag ${JSON.stringify(flag)}; kie.ai may have changed its API`,
    {
      retryable: false,
    },
  );
}

/** A task that failed at kie (record-info `errorCode` / `errorMessage`) → the error its failed status carries. */
export function generationError(
  errorCode: number | string | undefined,
  errorMessage: string | null | undefined,
  fallback: { code: number; message: string },
  what: string,
): ProviderError {
  let text = errorMessage?.trim() || fallback.message;
  if (typeof errorCode === 'string' && !text.includes(errorCode)) text = `${text} (${errorCode})`;
  return kieError(typeof errorCode === 'number' ? errorCode : fallback.code, text, { where: 'generation', what });
}

export type KieAnswer =
  | { ok: true; res: JsonResponse }
  /** `enveloped`: the error came as a kie envelope (kie's own word) rather than a bare HTTP status page. */
  | { ok: false; code: number; enveloped: boolean; error: ProviderError; res: JsonResponse };

/** Classifies one exchange. An HTTP 2xx that is not a 200 envelope is left to `kieData`, which calls it malformed. */
export function readAnswer(res: JsonResponse, where: KieContext, what: string, nowMs: number): KieAnswer {
  const httpOk = res.status >= 200 && res.status < 300;
  const env = res.isJson ? envelopeSchema.safeParse(res.body) : undefined;
  if (!env?.success) {
    if (httpOk) return { ok: true, res };
    return {
      ok: false,
      code: res.status,
      enveloped: false,
      error: errorFromStatus(res.status, res.headers, `${what}: HTTP ${res.status}`, nowMs),
      res,
    };
  }
  // kie's documented answers include an HTTP 500 whose body says 401, 402, 422, 429…: the envelope code is kie's own
  // word and wins, or "no credits" (402) would be retried as a server error. Only an envelope that claims success
  // under an HTTP error status is not believed: then the status says what happened.
  const code = env.data.code !== 200 ? env.data.code : httpOk ? 200 : res.status;
  if (code === 200) return { ok: true, res };
  const retryAfterS = parseRetryAfter(res.headers['retry-after'], nowMs);
  return {
    ok: false,
    code,
    enveloped: true,
    error: kieError(code, env.data.msg ?? '', { where, what, ...(retryAfterS !== undefined ? { retryAfterS } : {}) }),
    res,
  };
}

/** The checked `data` of a successful answer; anything else is 'malformed' (retryable). */
export function kieData<S extends z.ZodType>(res: JsonResponse, data: S, what: string): z.output<S> {
  return parseBody(res, kieEnvelope(data), what).data as z.output<S>;
}

export interface KieClient {
  call(
    method: HttpMethod,
    path: string,
    opts: {
      where: KieContext;
      what: string;
      query?: Record<string, string>;
      json?: unknown;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    },
  ): Promise<KieAnswer>;
  /**
   * One read of a task's record (Veo's and Suno MP4's `record-info`, which answer alike): its checked `data`, or
   * `'not yet'` while a "record is null" answer counts as queued. kie hands out the task id before its record exists,
   * so right after submit record-info may not know the task yet; the grace runs from the first such answer, and past
   * it the answer's own error (not_found) stands. A record about another task is malformed.
   */
  readRecord<S extends z.ZodType<{ taskId?: string | undefined }>>(
    path: string,
    taskId: string,
    opts: { record: S; what: string; signal?: AbortSignal | undefined },
  ): Promise<z.output<S> | 'not yet'>;
}

/** How long a task's record may lag its id before "record is null" means kie has no such task. */
export const KIE_RECORD_GRACE_MS = 60_000;
/** Tasks whose record is awaited, at most; more would only mean record-info is broken for every task. */
const MAX_AWAITED_RECORDS = 10_000;

export function createKieClient(opts: {
  apiKey: string;
  baseUrl: string;
  dispatcher: Dispatcher;
  clock: Clock;
  timeoutMs: number;
  recordGraceMs?: number;
}): KieClient {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const graceMs = opts.recordGraceMs ?? KIE_RECORD_GRACE_MS;
  /** Task id → when record-info first said it had no record of it. */
  const awaited = new Map<string, number>();
  /** True while a "record is null" answer about `taskId` is still within its grace. */
  const recordNotYetThere = (taskId: string, answer: KieAnswer & { ok: false }): boolean => {
    const msg = envelopeSchema.safeParse(answer.res.body).data?.msg ?? '';
    if (!answer.enveloped || !RECORD_NULL_RE.test(msg)) return false;
    const now = opts.clock.now();
    let since = awaited.get(taskId);
    if (since === undefined) {
      if (awaited.size >= MAX_AWAITED_RECORDS) awaited.delete(awaited.keys().next().value!);
      since = now;
      awaited.set(taskId, since);
    }
    return now - since < graceMs;
  };
  const client: KieClient = {
    async call(method, path, o) {
      const url = new URL(base + path);
      for (const [name, value] of Object.entries(o.query ?? {})) url.searchParams.set(name, value);
      const res = await requestJson(opts.dispatcher, {
        method,
        url: url.toString(),
        headers: { authorization: `Bearer ${opts.apiKey}`, ...o.headers },
        timeoutMs: opts.timeoutMs,
        ...(o.json !== undefined ? { json: o.json } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      return readAnswer(res, o.where, o.what, opts.clock.now());
    },
    async readRecord(path, taskId, { record, what, signal }) {
      const answer = await client.call('GET', path, {
        where: 'read',
        what,
        query: { taskId },
        ...(signal ? { signal } : {}),
      });
      if (!answer.ok) {
        if (recordNotYetThere(taskId, answer)) return 'not yet';
        throw answer.error;
      }
      awaited.delete(taskId);
      const data = kieData(answer.res, record.nullable(), what);
      if (data === null) throw new ProviderError('not_found', `${what}: no such task`, { retryable: false });
      if (data.taskId !== undefined && data.taskId !== taskId) {
        throw new ProviderError('malformed', `${what}: answer is about another task`, { retryable: true });
      }
      return data;
    },
  };
  return client;
}

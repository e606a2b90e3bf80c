import { Agent, request, type Dispatcher } from 'undici';
import { clip } from '../clip.js';
import { startDeadline } from '../deadline.js';
import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import { CLIPBOT_USER_AGENT } from '../version.js';

/**
 * Shared HTTP plumbing for provider adapters: one JSON request function with a deadline and a body cap,
 * Retry-After parsing, and the mapping of network failures to retryable `ProviderError`s.
 * Every adapter brings its own dispatcher; the global one is never touched.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface JsonRequest {
  method: HttpMethod;
  url: string;
  headers?: Record<string, string>;
  /** Serialised as the JSON request body when present. */
  json?: unknown;
  signal?: AbortSignal;
  /** Whole-request deadline (connect, headers and body). */
  timeoutMs?: number;
  maxBodyBytes?: number;
}

export interface JsonResponse {
  status: number;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  text: string;
  /** The parsed body when `isJson`, else undefined. */
  body: unknown;
  isJson: boolean;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_JSON_BYTES = 1024 * 1024;

export interface HttpAgentOptions {
  connectTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  connections?: number;
}

/** A dispatcher for one adapter. Redirects are never followed: a provider API that redirects is misconfigured. */
export function createHttpAgent(opts: HttpAgentOptions = {}): Agent {
  return new Agent({
    connect: { timeout: opts.connectTimeoutMs ?? 10_000 },
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 4_000,
    connections: opts.connections ?? 16,
  });
}

/**
 * One request with a JSON (or empty) answer. Resolves for every HTTP status; the caller classifies non-2xx.
 * Throws `ProviderError`: 'transient' for network failures and timeouts, 'malformed' for an oversized body.
 * A body that is not JSON is not an error here (`isJson` false): error pages of gateways are classified by status.
 * If the caller's own signal aborts, its reason is rethrown unchanged: that is a decision, not a provider failure.
 */
export async function requestJson(dispatcher: Dispatcher, req: JsonRequest): Promise<JsonResponse> {
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = req.maxBodyBytes ?? DEFAULT_MAX_JSON_BYTES;
  const deadline = startDeadline(timeoutMs, req.signal);
  const what = `${req.method} ${describeUrl(req.url)}`;
  // undici sends no User-Agent of its own, and some providers' edges refuse a request without one.
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': CLIPBOT_USER_AGENT,
    ...req.headers,
  };
  let payload: string | undefined;
  if (req.json !== undefined) {
    payload = JSON.stringify(req.json);
    headers['content-type'] = 'application/json';
  }
  try {
    const res = await request(req.url, {
      dispatcher,
      method: req.method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
      signal: deadline.signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = scrubCredential(
      await readCapped(res.body, res.headers['content-length'], maxBytes, what),
      headers.authorization,
    );
    const parsed = parseJsonText(text);
    return {
      status: res.statusCode,
      headers: flattenHeaders(res.headers),
      text,
      body: parsed.ok ? parsed.value : undefined,
      isJson: parsed.ok,
    };
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason;
    if (err instanceof ProviderError) throw err;
    if (deadline.expired) {
      throw new ProviderError('transient', `${what}: no answer within ${timeoutMs} ms`, {
        retryable: true,
        cause: err,
      });
    }
    throw networkError(err, what);
  } finally {
    deadline.dispose();
  }
}

/**
 * A provider that quotes our credential back ("invalid key: <key>") must not put it into error messages and so
 * into our logs: the credential we sent is cut out of every answer before anything reads it.
 */
function scrubCredential(text: string, authorization: string | undefined): string {
  if (!authorization) return text;
  const credential = authorization.replace(/^\S+\s+/, '');
  // fal keys are "id:secret": the secret half alone is as sensitive as the whole.
  const parts = [credential, ...credential.split(':').filter((part) => part.length >= 8)];
  return parts.reduce((scrubbed, part) => scrubbed.replaceAll(part, '[redacted]'), text);
}

function readCapped(
  body: Dispatcher.ResponseData['body'],
  contentLength: string | string[] | undefined,
  maxBytes: number,
  what: string,
): Promise<string> {
  const declared = typeof contentLength === 'string' ? Number(contentLength) : NaN;
  if (Number.isFinite(declared) && declared > maxBytes) {
    discard(body);
    return Promise.reject(tooLarge(what, maxBytes));
  }
  // Plain listeners, not `for await`: this runs for every status poll, and an async iterator costs several
  // objects per answer that the garbage collector then has to find.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    body.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) {
        discard(body);
        reject(tooLarge(what, maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    body.once('end', () => resolve(Buffer.concat(chunks, total).toString('utf8')));
    body.once('error', reject);
  });
}

/** Destroying an unread undici body emits an abort error; nobody is left to want it. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function tooLarge(what: string, maxBytes: number): ProviderError {
  return new ProviderError('malformed', `${what}: response body larger than ${maxBytes} bytes`, { retryable: true });
}

function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text.trim() === '') return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Host and path only: query strings may carry tokens or callback URLs we do not want in error messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Validates a 2xx body against the adapter's schema. Anything else (not JSON, wrong shape) is 'malformed' and
 * retryable: a proxy hiccup or a half-written answer usually reads fine on the next poll.
 */
export function parseBody<S extends z.ZodType>(res: JsonResponse, schema: S, what: string): z.output<S> {
  if (!res.isJson) {
    throw new ProviderError('malformed', `${what}: response is not JSON (HTTP ${res.status})`, {
      retryable: true,
      status: res.status,
    });
  }
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new ProviderError('malformed', `${what}: unexpected response (${issues})`, {
      retryable: true,
      status: res.status,
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/**
 * Retry-After as seconds (delta-seconds or an HTTP date), or undefined when absent or unreadable.
 * Not clamped above: the caller bounds the wait by its own deadline.
 */
export function parseRetryAfter(header: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value));
  // Only date-looking values: Date.parse accepts odd strings like "1" or "abc 2".
  if (!/[a-z]{3}/i.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** Our own bugs surface as undici argument errors; retrying those would only repeat them. */
const NON_RETRYABLE_UNDICI = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_INVALID_RETURN_VALUE']);

/** Maps an exception from the HTTP stack to a `ProviderError` (network failures are transient and retryable). */
export function networkError(err: unknown, what: string): ProviderError {
  const code = errorCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (code && NON_RETRYABLE_UNDICI.has(code)) {
    return new ProviderError('unknown', `${what}: ${detail}`, { retryable: false, cause: err });
  }
  if (code && (TRANSIENT_CODES.has(code) || code.startsWith('UND_ERR_'))) {
    return new ProviderError('transient', `${what}: ${code} ${detail}`, { retryable: true, cause: err });
  }
  // Anything else thrown by the socket layer (aborts, timeouts, TLS) is still a failed exchange, not a verdict.
  return new ProviderError('transient', `${what}: ${detail}`, { retryable: true, cause: err });
}

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The generic reading of an HTTP error status. Adapters refine it with what their provider's body says
 * (content policy, validation detail, provider retry hints).
 */
export function errorFromStatus(
  status: number,
  headers: Record<string, string>,
  message: string,
  nowMs: number = Date.now(),
): ProviderError {
  if (status === 401 || status === 403) return new ProviderError('auth', message, { status });
  if (status === 402) return new ProviderError('insufficient_funds', message, { status });
  if (status === 404) return new ProviderError('not_found', message, { status });
  if (status === 408) return new ProviderError('transient', message, { status });
  if (status === 429) {
    const retryAfterS = parseRetryAfter(headers['retry-after'], nowMs);
    return new ProviderError('rate_limit', message, { status, ...(retryAfterS !== undefined ? { retryAfterS } : {}) });
  }
  if (status >= 500) {
    const retryAfterS = parseRetryAfter(headers['retry-after'], nowMs);
    return new ProviderError('transient', message, { status, ...(retryAfterS !== undefined ? { retryAfterS } : {}) });
  }
  if (status >= 400) return new ProviderError('validation', message, { status });
  return new ProviderError('unknown', message, { status, retryable: false });
}

/** A URL a provider gave us for a result: http(s) only, bounded (signed storage URLs run long). */
export const httpUrl = z
  .string()
  .max(8192)
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'not an http(s) URL');

/** A provider's own message, short enough for a member to read and a log line to hold. */
export function clipProviderMessage(text: string): string {
  return clip(text, 300);
}

import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ProviderError, WebhookAuthError } from '../core/errors.js';
import type { HttpRoute, Logger, WebhookRequest } from '../core/ports.js';
import { isValidMediaKey } from '../media/local-store.js';
import { bearerMatches } from './metrics-access.js';

export interface HealthReport {
  ok: boolean;
  [detail: string]: unknown;
}

/** Verifies and acts on one provider callback; throws `WebhookAuthError` when it is not provably genuine. */
export type WebhookHandler = (provider: string, request: WebhookRequest) => Promise<{ status: number; body: unknown }>;

export interface HttpServerOptions {
  /** Served read-only under /media/* (DATA_DIR/media, the local media store's dir). */
  mediaDir: string;
  logger: Logger;
  webhooks: WebhookHandler;
  /**
   * Providers that take webhooks; POSTs for any other name answer 404 before the body is read.
   * When omitted, every well-formed name reaches `webhooks`, which then answers unknown ones itself.
   */
  webhookProviders?: readonly string[] | undefined;
  health?: () => HealthReport | Promise<HealthReport>;
  /** Largest webhook body accepted; larger ones answer 413. Default 1 MiB. */
  maxWebhookBytes?: number;
  /** Prometheus exposition for GET /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** When set, GET /metrics answers only `Authorization: Bearer <metricsToken>` (METRICS_TOKEN). */
  metricsToken?: string;
  /** Told of every webhook refused as not genuine (for metrics). */
  onWebhookRejected?: (provider: string) => void;
  /** Extra POST routes mounted by platform adapters (e.g. the Telegram webhook); they check their own secrets. */
  routes?: readonly HttpRoute[];
}

export interface HttpServer {
  /** The hono app, for in-process `app.request()` tests. */
  readonly app: Hono;
  /** Binds and resolves with the actual port (pass 0 for any free one). Host defaults to 127.0.0.1. */
  listen(port: number, host?: string): Promise<number>;
  /** Stops accepting, lets in-flight responses finish for up to `graceMs`, then drops what is left. */
  close(graceMs?: number): Promise<void>;
}

const MEDIA_TYPES: Readonly<Record<string, string>> = {
  '.mp4': 'video/mp4',
  '.m4v': 'video/x-m4v',
  '.mov': 'video/quicktime',
  '.webm': 'video/webm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
};

const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** The bot's own HTTP server (design §1 server/): /healthz, /media/*, /webhooks/:provider. */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { logger } = options;
  const mediaDir = path.resolve(options.mediaDir);
  const maxWebhookBytes = options.maxWebhookBytes ?? 1024 * 1024;
  const knownProviders = options.webhookProviders ? new Set(options.webhookProviders) : undefined;
  const app = new Hono();

  // The error boundary for every route: forged webhooks are 401, anything else is ours and gets a correlation id.
  app.onError((error, c) => {
    if (error instanceof WebhookAuthError) {
      logger.warn({ path: c.req.path, reason: error.message }, 'webhook refused');
      options.onWebhookRejected?.(c.req.param('provider') ?? 'unknown');
      return c.json({ error: 'unauthorized' }, 401);
    }
    if (error instanceof HTTPException) return error.getResponse();
    // A provider dependency of verification (fal's JWKS) is down: the provider delivers again later. The adapter
    // logs each failed fetch itself; one line per refused callback would let forged traffic flood the log.
    if (error instanceof ProviderError && error.retryable) {
      logger.debug({ path: c.req.path, reason: error.message }, 'webhook not verifiable now');
      c.header('Retry-After', String(error.retryAfterS ?? 30));
      return c.json({ error: 'temporarily unavailable' }, 503);
    }
    const correlationId = randomUUID();
    logger.error({ err: error, correlationId, method: c.req.method, path: c.req.path }, 'http request failed');
    c.header('X-Correlation-Id', correlationId);
    return c.json({ error: 'internal error', correlationId }, 500);
  });
  app.notFound((c) => c.json({ error: 'not found' }, 404));

  app.get('/healthz', async (c) => {
    c.header('Cache-Control', 'no-store');
    let report: HealthReport;
    try {
      report = options.health ? await options.health() : { ok: true };
    } catch (error) {
      const correlationId = randomUUID();
      logger.error({ err: error, correlationId }, 'health check failed');
      return c.json({ ok: false, correlationId }, 503);
    }
    return c.json(report, report.ok ? 200 : 503);
  });

  if (options.metrics) {
    const render = options.metrics;
    const token = options.metricsToken;
    app.get('/metrics', async (c) => {
      if (token !== undefined && !bearerMatches(c.req.header('authorization'), token)) {
        c.header('WWW-Authenticate', 'Bearer realm="metrics"');
        return c.json({ error: 'unauthorized' }, 401);
      }
      const { contentType, body } = await render();
      return c.body(body, 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
    });
  }

  // Hono answers HEAD through GET routes (and drops the body).
  app.get('/media/*', (c) => serveMedia(c, mediaDir));

  app.post(
    '/webhooks/:provider',
    async (c, next) => {
      const provider = c.req.param('provider');
      if (!PROVIDER_NAME.test(provider) || (knownProviders && !knownProviders.has(provider))) {
        return c.json({ error: 'unknown provider' }, 404);
      }
      await next();
    },
    async (c) => {
      // The exact bytes: signatures are computed over them, so no parsing or re-encoding here.
      const rawBody = await readBodyWithin(c.req.raw, maxWebhookBytes);
      if (!rawBody) return c.json({ error: 'payload too large' }, 413);
      const result = await options.webhooks(c.req.param('provider'), { headers: c.req.header(), rawBody });
      return toResponse(result);
    },
  );

  for (const route of options.routes ?? []) app.post(route.path, (c) => route.handler(c.req.raw));

  const server: Server = createServer(getRequestListener(app.fetch, { overrideGlobalObjects: false }));

  return {
    app,
    listen(port: number, host = '127.0.0.1'): Promise<number> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    close(graceMs = 5000): Promise<void> {
      if (!server.listening) return Promise.resolve();
      return new Promise((resolve) => {
        // A browser streaming a long video must not hold shutdown hostage.
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}

/**
 * The body, or undefined once it is over `maxBytes` (declared or counted). hono's bodyLimit is not used: on a
 * chunked body it rebuilds the Request with `new Request(c.req.raw, ...)`, which throws under @hono/node-server
 * with overrideGlobalObjects: false (every chunked webhook would be a 500).
 */
async function readBodyWithin(request: Request, maxBytes: number): Promise<Uint8Array | undefined> {
  if (Number(request.headers.get('content-length') ?? 0) > maxBytes) return undefined;
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

function toResponse(result: { status: number; body: unknown }): Response {
  const { status, body } = result;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new Error(`webhook handler returned an invalid status ${String(status)}`);
  }
  if (body === undefined || body === null || status === 204 || status === 205 || status === 304) {
    return new Response(null, { status });
  }
  if (typeof body === 'string')
    return new Response(body, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

/**
 * GET/HEAD /media/<key>: only keys the media store could have written (same charset rule, so no "..",
 * hidden files or the .tmp dir), only regular files inside the media root, never through a symlink. Range support lets
 * browsers and chat clients seek in videos.
 */
async function serveMedia(c: Context, mediaDir: string): Promise<Response> {
  const notFound = () => c.json({ error: 'not found' }, 404);
  // The raw (still percent-encoded) path, so an encoded "/" cannot pass for a separator.
  const rawKey = new URL(c.req.url).pathname.slice('/media/'.length);
  let segments: string[];
  try {
    segments = rawKey.split('/').map((s) => decodeURIComponent(s));
  } catch {
    return c.json({ error: 'bad path' }, 400);
  }
  if (!segments.every((s) => !s.includes('/')) || !isValidMediaKey(segments.join('/'))) return notFound();
  const file = path.join(mediaDir, ...segments);
  const relative = path.relative(mediaDir, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) return notFound();

  let handle;
  try {
    // O_NOFOLLOW guards only the last component: a symlinked directory on the way (results -> /) would still be
    // followed. So the real path, every link resolved, must lie inside the real media root.
    const [root, real] = await Promise.all([realpath(mediaDir), realpath(file)]);
    const inside = path.relative(root, real);
    if (inside === '' || inside.startsWith('..') || path.isAbsolute(inside)) return notFound();
    handle = await open(real, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
  } catch {
    return notFound();
  }
  let handedOff = false;
  try {
    const info = await handle.stat();
    if (!info.isFile()) return notFound();
    const size = info.size;
    const etag = `"${size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const lastModified = info.mtime.toUTCString();
    const headers = new Headers({
      'Content-Type': MEDIA_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'public, max-age=3600',
      ETag: etag,
      'Last-Modified': lastModified,
    });
    if (c.req.header('if-none-match') === etag) return new Response(null, { status: 304, headers });

    const rangeHeader = c.req.header('range');
    const ifRange = c.req.header('if-range');
    // If-Range: a client resuming an older copy gets the whole new file rather than a mismatched slice.
    const range =
      rangeHeader && (!ifRange || ifRange === etag || ifRange === lastModified)
        ? parseRange(rangeHeader, size)
        : undefined;
    if (range === 'unsatisfiable') {
      headers.set('Content-Range', `bytes */${size}`);
      headers.delete('Content-Type');
      return new Response(null, { status: 416, headers });
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    headers.set('Content-Length', String(Math.max(0, end - start + 1)));
    if (range) headers.set('Content-Range', `bytes ${start}-${end}/${size}`);
    const status = range ? 206 : 200;
    if (c.req.method === 'HEAD' || size === 0) return new Response(null, { status, headers });

    const stream = handle.createReadStream({ start, end });
    handedOff = true;
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status, headers });
  } finally {
    if (!handedOff) await handle.close();
  }
}

/**
 * One `bytes=` range (RFC 9110 §14.1.2). Multiple ranges and malformed headers are ignored (the whole file is
 * sent), which the RFC permits; a well-formed range that starts past the end is unsatisfiable (416).
 */
function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

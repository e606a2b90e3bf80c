import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebhookAuthError } from '../../src/core/errors.js';
import type { WebhookRequest } from '../../src/core/ports.js';
import { createLogger } from '../../src/logger.js';
import { createHttpServer, type HttpServer, type HttpServerOptions } from '../../src/server/http-server.js';
import { mp4Bytes, pngBytes } from '../media/fixtures.js';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Plain node:http, so paths reach the server exactly as written (no client-side normalisation). */
function raw(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string | number>; body?: Buffer | Buffer[] },
): Promise<RawResponse> {
  const headers = { ...options.headers };
  // A single buffer goes with its Content-Length; a list of parts goes chunked.
  if (Buffer.isBuffer(options.body) && !headers['transfer-encoding']) headers['content-length'] = options.body.length;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const parts = options.body === undefined ? [] : Array.isArray(options.body) ? options.body : [options.body];
    for (const part of parts) req.write(part);
    req.end();
  });
}

describe('createHttpServer', () => {
  let dir: string;
  let mediaDir: string;
  let server: HttpServer | undefined;
  let port: number;
  let logLines: Record<string, unknown>[];
  let received: { provider: string; request: WebhookRequest }[];
  const video = mp4Bytes(10_000);

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'clipbot-http-'));
    mediaDir = path.join(dir, 'media');
    await mkdir(path.join(mediaDir, 'results'), { recursive: true });
    await mkdir(path.join(mediaDir, 'inputs'), { recursive: true });
    await mkdir(path.join(mediaDir, '.tmp'), { recursive: true });
    await writeFile(path.join(dir, 'clipbot.db'), 'SECRET DATABASE');
    await writeFile(path.join(mediaDir, 'results', 'job-1.mp4'), video);
    await writeFile(path.join(mediaDir, 'inputs', 'job-1-0.png'), pngBytes());
    await writeFile(path.join(mediaDir, 'results', 'empty.mp4'), '');
    await writeFile(path.join(mediaDir, '.tmp', 'partial.mp4'), 'SECRET PARTIAL');
    await symlink(path.join(dir, 'clipbot.db'), path.join(mediaDir, 'results', 'link.mp4'));
    logLines = [];
    received = [];
  });

  afterEach(async () => {
    await server?.close(100);
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (overrides: Partial<HttpServerOptions> = {}): Promise<number> => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    });
    server = createHttpServer({
      mediaDir,
      logger: createLogger('debug', destination),
      webhookProviders: ['fal', 'kie'],
      webhooks: async (provider, request) => {
        received.push({ provider, request });
        return { status: 200, body: { received: true } };
      },
      ...overrides,
    });
    port = await server.listen(0, '127.0.0.1');
    return port;
  };

  describe('when it listens on port 0', () => {
    it('reports the port it actually bound', async () => {
      await start();
      expect(port).toBeGreaterThan(0);
      expect((await raw(port, { path: '/healthz' })).status).toBe(200);
    });

    it('closes even with a keep-alive connection open', async () => {
      await start();
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { connection: 'keep-alive' } });
      await res.text();
      await server!.close(100);
      server = undefined;
      await expect(raw(port, { path: '/healthz' })).rejects.toThrow();
    });
  });

  describe('GET /healthz', () => {
    describe('when no health check is given', () => {
      it('answers 200 {ok:true}', async () => {
        await start();
        const res = await raw(port, { path: '/healthz' });
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body.toString())).toEqual({ ok: true });
        expect(res.headers['cache-control']).toBe('no-store');
      });
    });

    describe('when the health check says ok', () => {
      it('answers 200 with its details', async () => {
        await start({ health: () => ({ ok: true, jobs: 3 }) });
        const res = await raw(port, { path: '/healthz' });
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body.toString())).toEqual({ ok: true, jobs: 3 });
      });
    });

    describe('when the health check says not ok', () => {
      it('answers 503 with its details', async () => {
        await start({ health: async () => ({ ok: false, db: 'unreachable' }) });
        const res = await raw(port, { path: '/healthz' });
        expect(res.status).toBe(503);
        expect(JSON.parse(res.body.toString())).toEqual({ ok: false, db: 'unreachable' });
      });
    });

    describe('when the health check throws', () => {
      it('answers 503 and logs the error with a correlation id', async () => {
        await start({
          health: () => {
            throw new Error('db is locked');
          },
        });
        const res = await raw(port, { path: '/healthz' });
        expect(res.status).toBe(503);
        const body = JSON.parse(res.body.toString()) as { ok: boolean; correlationId: string };
        expect(body.ok).toBe(false);
        expect(logLines.some((l) => l.correlationId === body.correlationId && l.level === 50)).toBe(true);
      });
    });
  });

  describe('GET /media/*', () => {
    describe('when the file exists', () => {
      it('serves it whole with its type, length and range support', async () => {
        await start();
        const res = await raw(port, { path: '/media/results/job-1.mp4' });
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe('video/mp4');
        expect(res.headers['content-length']).toBe('10000');
        expect(res.headers['accept-ranges']).toBe('bytes');
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.body.equals(video)).toBe(true);
      });

      it('serves images with an image type', async () => {
        await start();
        const res = await raw(port, { path: '/media/inputs/job-1-0.png' });
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe('image/png');
        expect(res.body.equals(pngBytes())).toBe(true);
      });

      it('serves an empty file', async () => {
        await start();
        const res = await raw(port, { path: '/media/results/empty.mp4' });
        expect(res.status).toBe(200);
        expect(res.headers['content-length']).toBe('0');
        expect(res.body.length).toBe(0);
      });

      it('answers 304 to a matching If-None-Match', async () => {
        await start();
        const first = await raw(port, { path: '/media/results/job-1.mp4' });
        const etag = String(first.headers.etag);
        const again = await raw(port, { path: '/media/results/job-1.mp4', headers: { 'if-none-match': etag } });
        expect(again.status).toBe(304);
        expect(again.body.length).toBe(0);
      });
    });

    describe('when a range is asked for', () => {
      it.each([
        ['bytes=0-99', 0, 99],
        ['bytes=9990-', 9990, 9999],
        ['bytes=-10', 9990, 9999],
        ['bytes=5000-99999', 5000, 9999],
        ['bytes=-20000', 0, 9999],
        ['bytes=9999-9999', 9999, 9999],
      ])('answers %s with 206 and exactly those bytes', async (range, first, last) => {
        await start();
        const res = await raw(port, { path: '/media/results/job-1.mp4', headers: { range } });
        expect(res.status).toBe(206);
        expect(res.headers['content-range']).toBe(`bytes ${first}-${last}/10000`);
        expect(res.headers['content-length']).toBe(String(last - first + 1));
        expect(res.headers['content-type']).toBe('video/mp4');
        expect(res.body.equals(video.subarray(first, last + 1))).toBe(true);
      });

      it.each([['bytes=10000-'], ['bytes=20000-30000'], ['bytes=-0']])(
        'answers the unsatisfiable %s with 416',
        async (range) => {
          await start();
          const res = await raw(port, { path: '/media/results/job-1.mp4', headers: { range } });
          expect(res.status).toBe(416);
          expect(res.headers['content-range']).toBe('bytes */10000');
        },
      );

      it.each([['bytes=0-1,5-6'], ['items=0-10'], ['bytes=50-10'], ['garbage']])(
        'ignores %s and sends the whole file',
        async (range) => {
          await start();
          const res = await raw(port, { path: '/media/results/job-1.mp4', headers: { range } });
          expect(res.status).toBe(200);
          expect(res.body.length).toBe(10_000);
        },
      );

      it('sends the whole file when If-Range names another version', async () => {
        await start();
        const res = await raw(port, {
          path: '/media/results/job-1.mp4',
          headers: { range: 'bytes=0-9', 'if-range': '"stale"' },
        });
        expect(res.status).toBe(200);
        expect(res.body.length).toBe(10_000);
      });

      it('honours If-Range when it names this version', async () => {
        await start();
        const { headers } = await raw(port, { method: 'HEAD', path: '/media/results/job-1.mp4' });
        const res = await raw(port, {
          path: '/media/results/job-1.mp4',
          headers: { range: 'bytes=0-9', 'if-range': String(headers.etag) },
        });
        expect(res.status).toBe(206);
        expect(res.body.length).toBe(10);
      });
    });

    describe('when the method is HEAD', () => {
      it('sends the headers without a body', async () => {
        await start();
        const res = await raw(port, { method: 'HEAD', path: '/media/results/job-1.mp4' });
        expect(res.status).toBe(200);
        expect(res.headers['content-length']).toBe('10000');
        expect(res.headers['content-type']).toBe('video/mp4');
        expect(res.headers['accept-ranges']).toBe('bytes');
        expect(res.body.length).toBe(0);
      });

      it('answers a range with 206 headers and no body', async () => {
        await start();
        const res = await raw(port, {
          method: 'HEAD',
          path: '/media/results/job-1.mp4',
          headers: { range: 'bytes=0-99' },
        });
        expect(res.status).toBe(206);
        expect(res.headers['content-range']).toBe('bytes 0-99/10000');
        expect(res.headers['content-length']).toBe('100');
        expect(res.body.length).toBe(0);
      });
    });

    describe('when the path tries to leave the media directory or reach what is not media', () => {
      it.each([
        ['/media/../clipbot.db'],
        ['/media/results/../../clipbot.db'],
        ['/media/%2e%2e/clipbot.db'],
        ['/media/%2E%2E/clipbot.db'],
        ['/media/..%2fclipbot.db'],
        ['/media/%2e%2e%2fclipbot.db'],
        ['/media/results/..%2f..%2fclipbot.db'],
        ['/media/..%5cclipbot.db'],
        ['/media/..\\clipbot.db'],
        ['/media//etc/passwd'],
        ['/media/%2fetc%2fpasswd'],
        ['/media/.tmp/partial.mp4'],
        ['/media/%2etmp/partial.mp4'],
        ['/media/results/link.mp4'],
        ['/media/results'],
        ['/media/'],
        ['/media/results/job-1.mp4%00.png'],
        ['/media/%zz'],
        ['/media/results/missing.mp4'],
      ])('refuses %s', async (requestPath) => {
        await start();
        const res = await raw(port, { path: requestPath });
        expect([400, 404]).toContain(res.status);
        expect(res.body.toString()).not.toContain('SECRET');
      });

      it('refuses an absolute path to the database built at run time', async () => {
        await start();
        const res = await raw(port, { path: `/media/${encodeURIComponent(path.join(dir, 'clipbot.db'))}` });
        expect(res.status).toBe(404);
        expect(res.body.toString()).not.toContain('SECRET');
      });
    });
  });

  describe('POST /webhooks/:provider', () => {
    describe('when a known provider posts', () => {
      it('hands the exact body bytes and the headers to the handler', async () => {
        await start();
        const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        const res = await raw(port, {
          method: 'POST',
          path: '/webhooks/fal',
          headers: { 'content-type': 'application/json', 'x-fal-webhook-signature': 'abc123' },
          body,
        });
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body.toString())).toEqual({ received: true });
        expect(received).toHaveLength(1);
        expect(received[0]!.provider).toBe('fal');
        expect(Buffer.from(received[0]!.request.rawBody).equals(body)).toBe(true);
        expect(received[0]!.request.headers['x-fal-webhook-signature']).toBe('abc123');
      });

      it('keeps whitespace and key order of a JSON body as sent', async () => {
        await start();
        const body = Buffer.from('{ "b":1,\n  "a" : "é" }\r\n', 'utf8');
        await raw(port, {
          method: 'POST',
          path: '/webhooks/kie',
          headers: { 'content-type': 'application/json' },
          body,
        });
        expect(Buffer.from(received[0]!.request.rawBody).equals(body)).toBe(true);
      });

      it('accepts a chunked body', async () => {
        await start();
        const parts = [Buffer.from('{"part":'), Buffer.from('1}')];
        const res = await raw(port, { method: 'POST', path: '/webhooks/kie', body: parts });
        expect(res.status).toBe(200);
        expect(Buffer.from(received[0]!.request.rawBody).toString()).toBe('{"part":1}');
      });

      it('sends back the status and body the handler chose', async () => {
        await start({ webhooks: async () => ({ status: 202, body: 'queued' }) });
        const res = await raw(port, { method: 'POST', path: '/webhooks/fal', body: Buffer.from('{}') });
        expect(res.status).toBe(202);
        expect(res.body.toString()).toBe('queued');
      });
    });

    describe('when the handler refuses the signature', () => {
      it('answers 401', async () => {
        await start({
          webhooks: async () => {
            throw new WebhookAuthError('bad signature');
          },
        });
        const res = await raw(port, { method: 'POST', path: '/webhooks/fal', body: Buffer.from('{}') });
        expect(res.status).toBe(401);
        expect(JSON.parse(res.body.toString())).toEqual({ error: 'unauthorized' });
        expect(logLines.some((l) => l.msg === 'webhook refused' && l.reason === 'bad signature')).toBe(true);
      });
    });

    describe('when the handler fails', () => {
      it('answers 500 with a correlation id that is in the log, and no internals', async () => {
        await start({
          webhooks: async () => {
            throw new Error('database exploded at /var/lib/secret');
          },
        });
        const res = await raw(port, { method: 'POST', path: '/webhooks/fal', body: Buffer.from('{}') });
        expect(res.status).toBe(500);
        const body = JSON.parse(res.body.toString()) as { error: string; correlationId: string };
        expect(body.correlationId).toMatch(/^[0-9a-f-]{36}$/);
        expect(res.body.toString()).not.toContain('exploded');
        expect(res.headers['x-correlation-id']).toBe(body.correlationId);
        const logged = logLines.find((l) => l.correlationId === body.correlationId);
        expect(logged?.level).toBe(50);
        expect(JSON.stringify(logged)).toContain('database exploded');
      });
    });

    describe('when the body is over the limit', () => {
      it('answers 413 for a declared length over 1 MiB without calling the handler', async () => {
        await start();
        const res = await raw(port, {
          method: 'POST',
          path: '/webhooks/fal',
          body: Buffer.alloc(1024 * 1024 + 1, 0x61),
        });
        expect(res.status).toBe(413);
        expect(received).toEqual([]);
      });

      it('answers 413 for a chunked body past 1 MiB by default', async () => {
        await start();
        const parts = Array.from({ length: 17 }, () => Buffer.alloc(64 * 1024, 0x63));
        const res = await raw(port, { method: 'POST', path: '/webhooks/fal', body: parts });
        expect(res.status).toBe(413);
        expect(received).toEqual([]);
      });

      it('accepts exactly 1 MiB', async () => {
        await start();
        const res = await raw(port, { method: 'POST', path: '/webhooks/fal', body: Buffer.alloc(1024 * 1024, 0x61) });
        expect(res.status).toBe(200);
        expect(received[0]!.request.rawBody.length).toBe(1024 * 1024);
      });

      it('answers 413 for a chunked body that grows past the limit', async () => {
        await start({ maxWebhookBytes: 1000 });
        const parts = Array.from({ length: 5 }, () => Buffer.alloc(300, 0x62));
        const res = await raw(port, { method: 'POST', path: '/webhooks/fal', body: parts });
        expect(res.status).toBe(413);
        expect(received).toEqual([]);
      });
    });

    describe('when the provider is unknown', () => {
      it.each([['/webhooks/acme'], ['/webhooks/FAL'], ['/webhooks/..'], ['/webhooks/fal%2f..']])(
        'answers 404 for %s without calling the handler',
        async (p) => {
          await start();
          const res = await raw(port, { method: 'POST', path: p, body: Buffer.from('{}') });
          expect(res.status).toBe(404);
          expect(received).toEqual([]);
        },
      );
    });

    describe('when no provider list is given', () => {
      it('lets the handler decide about any well-formed name', async () => {
        await start({
          webhookProviders: undefined,
          webhooks: async (provider) => ({ status: provider === 'acme' ? 404 : 200, body: null }),
        });
        expect((await raw(port, { method: 'POST', path: '/webhooks/acme', body: Buffer.from('{}') })).status).toBe(404);
        expect((await raw(port, { method: 'POST', path: '/webhooks/fal', body: Buffer.from('{}') })).status).toBe(200);
      });
    });

    describe('when the method is not POST', () => {
      it('answers 404', async () => {
        await start();
        expect((await raw(port, { path: '/webhooks/fal' })).status).toBe(404);
        expect(received).toEqual([]);
      });
    });
  });
});

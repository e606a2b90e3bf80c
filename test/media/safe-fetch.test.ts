import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaError } from '../../src/core/errors.js';
import { createSafeFetcher, type SafeFetcher, type SafeFetcherOptions } from '../../src/media/safe-fetch.js';
import {
  SAMPLE_MP4,
  fakeDns,
  mp4Bytes,
  pngBytes,
  recordConnections,
  startServer,
  webmBytes,
  type TestServer,
} from './fixtures.js';

describe('createSafeFetcher', () => {
  let dir: string;
  let dest: string;
  let fetcher: SafeFetcher | undefined;
  let servers: TestServer[];
  let connections: ReturnType<typeof recordConnections>;
  let dns: ReturnType<typeof fakeDns>;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'clipbot-fetch-'));
    dest = path.join(dir, 'download.tmp');
    servers = [];
    connections = recordConnections();
    dns = fakeDns({
      'media.test': ['127.0.0.1'],
      'evil.test': ['10.0.0.1'],
      'mixed.test': ['127.0.0.1', '10.0.0.1'],
      'other-loopback.test': ['127.0.0.2'],
    });
  });

  afterEach(async () => {
    connections.stop();
    await fetcher?.close();
    fetcher = undefined;
    await Promise.all(servers.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  const serve = async (handler: (req: { url: string }, res: ServerResponse) => void): Promise<TestServer> => {
    const server = await startServer((req, res) => handler({ url: req.url ?? '/' }, res));
    servers.push(server);
    return server;
  };

  const makeFetcher = (overrides: Partial<SafeFetcherOptions> = {}): SafeFetcher => {
    fetcher = createSafeFetcher({ allowCidrs: ['127.0.0.1/32'], deadlineMs: 5000, lookup: dns.lookup, ...overrides });
    return fetcher;
  };

  const failure = async (promise: Promise<unknown>): Promise<MediaError> => {
    const error: unknown = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MediaError);
    return error as MediaError;
  };

  const onlyLoopbackWasContacted = () => {
    for (const address of connections.connected) expect(address).toBe('127.0.0.1');
  };

  describe('when the server sends a real MP4', () => {
    it('streams it to the destination and reports the sniffed type, not the server header', async () => {
      const video = mp4Bytes(256 * 1024);
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': video.length });
        res.end(video);
      });
      const result = await makeFetcher().fetchToFile(`${server.origin}/result.bin?token=abc`, dest, {
        trust: 'operator',
        kind: 'video',
        maxBytes: 1024 * 1024,
      });
      expect(result).toEqual({ bytes: video.length, contentType: 'video/mp4', ext: 'mp4' });
      expect((await readFile(dest)).equals(video)).toBe(true);
    });

    it('reaches a host name through the lookup and connects to the address it returned', async () => {
      const video = mp4Bytes();
      const server = await serve((_req, res) => res.end(video));
      const result = await makeFetcher().fetchToFile(`http://media.test:${server.port}/v.mp4`, dest, {
        trust: 'operator',
        kind: 'video',
        maxBytes: 1024 * 1024,
      });
      expect(result.ext).toBe('mp4');
      expect(dns.asked).toEqual(['media.test']);
      expect(connections.connected).toEqual(['127.0.0.1']);
    });

    it('accepts a chunked body with no Content-Length', async () => {
      const video = mp4Bytes(100_000);
      const server = await serve((_req, res) => {
        res.write(video.subarray(0, 50_000));
        res.end(video.subarray(50_000));
      });
      const result = await makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
        trust: 'operator',
        kind: 'video',
        maxBytes: 100_000,
      });
      expect(result.bytes).toBe(100_000);
    });
  });

  describe('when the server sends WebM', () => {
    it('accepts it as video', async () => {
      const server = await serve((_req, res) => res.end(webmBytes()));
      const result = await makeFetcher().fetchToFile(`${server.origin}/v.webm`, dest, {
        trust: 'operator',
        kind: 'video',
        maxBytes: 1024,
      });
      expect(result).toMatchObject({ contentType: 'video/webm', ext: 'webm' });
    });
  });

  describe('when an image is expected', () => {
    it('accepts a PNG', async () => {
      const server = await serve((_req, res) => res.end(pngBytes()));
      const result = await makeFetcher().fetchToFile(`${server.origin}/i.png`, dest, {
        trust: 'operator',
        kind: 'image',
        maxBytes: 1024,
      });
      expect(result).toEqual({ bytes: pngBytes().length, contentType: 'image/png', ext: 'png' });
    });

    it('refuses a video and removes the file', async () => {
      const server = await serve((_req, res) => res.end(mp4Bytes()));
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/i.png`, dest, {
          trust: 'operator',
          kind: 'image',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('bad_type');
      expect(existsSync(dest)).toBe(false);
    });
  });

  describe('when a host name resolves to a private address', () => {
    it('refuses before connecting', async () => {
      const error = await failure(
        makeFetcher().fetchToFile('http://evil.test/v.mp4', dest, { trust: 'operator', kind: 'video', maxBytes: 1024 }),
      );
      expect(error.kind).toBe('blocked_address');
      expect(error.message).toContain('10.0.0.1');
      expect(connections.connected).toEqual([]);
      expect(existsSync(dest)).toBe(false);
    });

    it('refuses when any one of its addresses is private', async () => {
      const server = await serve((_req, res) => res.end(mp4Bytes()));
      const error = await failure(
        makeFetcher().fetchToFile(`http://mixed.test:${server.port}/v.mp4`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('blocked_address');
      expect(server.requests).toEqual([]);
      expect(connections.connected).toEqual([]);
    });
  });

  describe('when the server redirects', () => {
    const redirectingServer = (hops: number, finalTarget?: (origin: string) => string) =>
      serve((req, res) => {
        const n = Number(new URL(req.url, 'http://x').searchParams.get('n') ?? '0');
        if (n < hops) {
          res.writeHead(302, { location: `/v?n=${n + 1}` });
          res.end();
        } else if (finalTarget) {
          res.writeHead(307, { location: finalTarget('') });
          res.end();
        } else {
          res.end(mp4Bytes());
        }
      });

    it('follows up to five redirects', async () => {
      const server = await redirectingServer(5);
      const result = await makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
        trust: 'operator',
        kind: 'video',
        maxBytes: 1024 * 1024,
      });
      expect(result.ext).toBe('mp4');
      expect(server.requests).toHaveLength(6);
    });

    it('refuses a sixth', async () => {
      const server = await redirectingServer(6);
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('http_status');
      expect(error.message).toMatch(/redirects/);
      expect(server.requests).toHaveLength(6);
      expect(existsSync(dest)).toBe(false);
    });

    it.each([
      ['a private address', 'http://10.0.0.1/v.mp4'],
      ['the cloud metadata service', 'http://169.254.169.254/latest/meta-data/iam/'],
      ['an IPv4-mapped private address', 'http://[::ffff:a00:1]/'],
      ['a decimal loopback spelling outside the allowed /32', 'http://2130706434/'],
      ['another loopback address than the allowed 127.0.0.1/32', 'http://127.0.0.2/v.mp4'],
    ])('refuses a redirect to %s before connecting', async (_name, location) => {
      const server = await redirectingServer(1, () => location);
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('blocked_address');
      expect(server.requests).toHaveLength(2);
      onlyLoopbackWasContacted();
      expect(connections.attempted.every((host) => host === '127.0.0.1')).toBe(true);
      expect(existsSync(dest)).toBe(false);
    });

    it('refuses a redirect to a host name that resolves to a private address', async () => {
      const server = await redirectingServer(0, () => 'http://evil.test/v.mp4');
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('blocked_address');
      expect(dns.asked).toEqual(['evil.test']);
      onlyLoopbackWasContacted();
    });

    it('refuses a redirect to a host name that resolves to a loopback address outside the allowed range', async () => {
      const server = await redirectingServer(0, () => `http://other-loopback.test:${server.port}/v.mp4`);
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('blocked_address');
      expect(server.requests).toHaveLength(1);
      onlyLoopbackWasContacted();
    });

    it('refuses a redirect to another scheme', async () => {
      const server = await redirectingServer(0, () => 'file:///etc/passwd');
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('bad_url');
    });
  });

  describe('when the file is too big', () => {
    it('refuses a Content-Length over the limit before reading the body', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-length': 10 * 1024 * 1024 });
        // Headers only; the body never comes, so only a refusal on the header can end this quickly.
        res.flushHeaders();
      });
      const started = Date.now();
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('too_large');
      expect(Date.now() - started).toBeLessThan(2000);
      expect(existsSync(dest)).toBe(false);
    });

    it('aborts a body without Content-Length once it passes the limit, and removes the partial file', async () => {
      const chunk = Buffer.concat([mp4Bytes(16 * 1024)]);
      const server = await serve((_req, res) => {
        // Endless chunked stream: the fetcher must stop counting it, not the server.
        const pump = () => {
          while (res.write(chunk)) {
            if (res.destroyed) return;
          }
          res.once('drain', pump);
        };
        res.on('close', () => res.removeAllListeners('drain'));
        pump();
      });
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 256 * 1024,
        }),
      );
      expect(error.kind).toBe('too_large');
      expect(existsSync(dest)).toBe(false);
    });
  });

  describe('when the server trickles bytes forever', () => {
    it('gives up at the overall deadline and removes the partial file', async () => {
      const video = mp4Bytes(64);
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'video/mp4' });
        res.write(video);
        // One byte every 20 ms: never idle long enough for an idle timeout, so only an overall deadline stops it.
        const timer = setInterval(() => res.write(Buffer.alloc(1)), 20);
        res.on('close', () => clearInterval(timer));
      });
      const started = Date.now();
      const error = await failure(
        makeFetcher({ deadlineMs: 400 }).fetchToFile(`${server.origin}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(390);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(existsSync(dest)).toBe(false);
    });
  });

  describe('when the connection is cut mid-body', () => {
    it('fails with a network error and removes the partial file, however early the cut comes', async () => {
      const video = mp4Bytes(32 * 1024);
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': video.length });
        // Half the promised bytes, then a closed connection: at times before the fetcher has even opened its file,
        // which once left the body's error unheard (an uncaught exception: the process would exit).
        res.write(video.subarray(0, video.length / 2), () => res.socket?.destroy());
      });
      const fetch = makeFetcher();
      for (let i = 0; i < 100; i++) {
        const error = await failure(
          fetch.fetchToFile(`${server.origin}/v`, dest, { trust: 'operator', kind: 'video', maxBytes: 1024 * 1024 }),
        );
        expect(error.kind).toBe('network');
        expect(existsSync(dest)).toBe(false);
      }
    });
  });

  describe('when the caller aborts', () => {
    it('stops and removes the partial file', async () => {
      const server = await serve((_req, res) => {
        res.write(mp4Bytes(64));
        const timer = setInterval(() => res.write(Buffer.alloc(1)), 20);
        res.on('close', () => clearInterval(timer));
      });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('job cancelled')), 100);
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
          signal: controller.signal,
        }),
      );
      expect(error.kind).toBe('timeout');
      expect(error.message).toMatch(/cancelled/);
      expect(existsSync(dest)).toBe(false);
    });
  });

  describe('when the server lies about the type', () => {
    it('refuses HTML served as video/mp4 and removes the file', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'video/mp4' });
        res.end('<!doctype html><html><body>Access denied</body></html>');
      });
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v.mp4`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('bad_type');
      expect(existsSync(dest)).toBe(false);
    });

    it('refuses an MP4 cut short behind a matching Content-Length, as a download to try again', async () => {
      const sample = await readFile(SAMPLE_MP4);
      const half = sample.subarray(0, sample.length / 2);
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': half.length });
        res.end(half);
      });
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v.mp4`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 10 * 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('network');
      expect(error.message).toMatch(/incomplete video \(the file ends \d+ bytes short of its last box\)/);
      expect(existsSync(dest)).toBe(false);
    });

    it('refuses an empty body', async () => {
      const server = await serve((_req, res) => res.end());
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v.mp4`, dest, { trust: 'operator', kind: 'video', maxBytes: 1024 }),
      );
      expect(error.kind).toBe('bad_type');
      expect(existsSync(dest)).toBe(false);
    });
  });

  describe('when the server answers an error status', () => {
    it('fails with http_status and keeps the path and query out of the message', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(404);
        res.end('no such file');
      });
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/file/bot123:SECRET/v.mp4?token=SECRET`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024,
        }),
      );
      expect(error.kind).toBe('http_status');
      expect(error.message).toContain('404');
      expect(error.message).not.toContain('SECRET');
      expect(existsSync(dest)).toBe(false);
    });

    it('fails with http_status on a 5xx too', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(503);
        res.end();
      });
      const error = await failure(
        makeFetcher().fetchToFile(`${server.origin}/v`, dest, { trust: 'operator', kind: 'video', maxBytes: 1024 }),
      );
      expect(error.kind).toBe('http_status');
    });
  });

  describe('when nothing listens', () => {
    it('fails with a network error', async () => {
      const server = await serve((_req, res) => res.end());
      const port = server.port;
      await server.close();
      servers = [];
      const error = await failure(
        makeFetcher().fetchToFile(`http://127.0.0.1:${port}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024,
        }),
      );
      expect(error.kind).toBe('network');
      expect(existsSync(dest)).toBe(false);
    });
  });

  describe('when no lookup is injected', () => {
    it('checks what the system resolver returns for localhost (from the hosts file)', async () => {
      const server = await serve((_req, res) => res.end(mp4Bytes()));
      fetcher = createSafeFetcher({ allowCidrs: [], deadlineMs: 5000 });
      const error = await failure(
        fetcher.fetchToFile(`http://localhost:${server.port}/v`, dest, {
          trust: 'operator',
          kind: 'video',
          maxBytes: 1024 * 1024,
        }),
      );
      expect(error.kind).toBe('blocked_address');
      expect(server.requests).toEqual([]);
      expect(connections.connected).toEqual([]);
    });
  });

  describe('when a name does not resolve', () => {
    it('fails with a network error', async () => {
      const error = await failure(
        makeFetcher().fetchToFile('http://nowhere.test/v', dest, { trust: 'operator', kind: 'video', maxBytes: 1024 }),
      );
      expect(error.kind).toBe('network');
      expect(error.message).toContain('nowhere.test');
    });
  });
});

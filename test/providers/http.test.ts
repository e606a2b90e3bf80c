import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createHttpAgent, parseRetryAfter, requestJson } from '../../src/providers/http.js';
import { expectProviderError } from './conformance.js';

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function agent() {
  const a = createHttpAgent();
  onTestFinished(() => a.close());
  return a;
}

describe('parseRetryAfter', () => {
  describe('when the header holds seconds', () => {
    it('returns them', () => {
      expect(parseRetryAfter('120')).toBe(120);
      expect(parseRetryAfter(' 0 ')).toBe(0);
      expect(parseRetryAfter('1.5')).toBe(2);
    });
  });

  describe('when the header holds an HTTP date', () => {
    it('returns the seconds until then, never negative', () => {
      const now = Date.parse('2026-01-01T00:00:00Z');
      expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:30 GMT', now)).toBe(90);
      expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    });
  });

  describe('when the header is absent or garbage', () => {
    it('returns undefined', () => {
      expect(parseRetryAfter(undefined)).toBeUndefined();
      expect(parseRetryAfter('')).toBeUndefined();
      expect(parseRetryAfter('-5')).toBeUndefined();
      expect(parseRetryAfter('soon')).toBeUndefined();
      expect(parseRetryAfter('12abc')).toBeUndefined();
    });
  });
});

describe('requestJson', () => {
  describe('when the answer is JSON', () => {
    it('returns status, lower-case headers and the parsed body', async () => {
      const url = await serve((_req, res) =>
        res.writeHead(202, { 'X-Thing': 'yes', 'content-type': 'application/json' }).end('{"a":1}'),
      );
      const res = await requestJson(agent(), { method: 'GET', url });
      expect(res).toMatchObject({ status: 202, isJson: true, body: { a: 1 } });
      expect(res.headers['x-thing']).toBe('yes');
    });

    it('sends a JSON body with its content type', async () => {
      let seen = '';
      const url = await serve((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          seen = `${req.headers['content-type']} ${body}`;
          res.end('{}');
        });
      });
      await requestJson(agent(), { method: 'POST', url, json: { x: 'y' } });
      expect(seen).toBe('application/json {"x":"y"}');
    });
  });

  describe('when the answer is not JSON', () => {
    it('returns it as text for the caller to classify by status', async () => {
      const url = await serve((_req, res) =>
        res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>bad gateway</h1>'),
      );
      const res = await requestJson(agent(), { method: 'GET', url });
      expect(res).toMatchObject({ status: 502, isJson: false, body: undefined, text: '<h1>bad gateway</h1>' });
    });
  });

  describe('when the body is larger than the cap', () => {
    it('throws a retryable malformed error, declared or streamed', async () => {
      const declared = await serve((_req, res) =>
        res.writeHead(200, { 'content-length': '2048' }).end('x'.repeat(2048)),
      );
      const streamed = await serve((_req, res) => {
        res.writeHead(200);
        res.write('x'.repeat(1500));
        res.end('y'.repeat(1500));
      });
      const a = agent();
      await expectProviderError(requestJson(a, { method: 'GET', url: declared, maxBodyBytes: 1024 }), {
        kind: 'malformed',
        retryable: true,
      });
      await expectProviderError(requestJson(a, { method: 'GET', url: streamed, maxBodyBytes: 1024 }), {
        kind: 'malformed',
        retryable: true,
      });
    });
  });

  describe('when the network fails', () => {
    it('maps a refused connection to a retryable transient error', async () => {
      const server = http.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const error = await expectProviderError(
        requestJson(agent(), { method: 'GET', url: `http://127.0.0.1:${port}/`, timeoutMs: 2000 }),
        {
          kind: 'transient',
          retryable: true,
        },
      );
      expect(error.message).toContain('ECONNREFUSED');
    });

    it('maps a missing answer to a retryable transient error at the deadline', async () => {
      const url = await serve(() => undefined);
      const started = Date.now();
      await expectProviderError(requestJson(agent(), { method: 'GET', url, timeoutMs: 100 }), {
        kind: 'transient',
        retryable: true,
      });
      expect(Date.now() - started).toBeLessThan(1500);
    });

    it('rethrows the caller’s own abort unchanged', async () => {
      const url = await serve(() => undefined);
      const controller = new AbortController();
      const reason = new Error('shutting down');
      setTimeout(() => controller.abort(reason), 20);
      await expect(requestJson(agent(), { method: 'GET', url, signal: controller.signal })).rejects.toBe(reason);
    });
  });
});

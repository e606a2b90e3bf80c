import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../core/errors.js';
import { createOpenAiModeration, moderationEndpoint } from './openai-moderation.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (req: Received, res: ServerResponse) => void;

/** A stand-in for an OpenAI-compatible moderation endpoint, on a free loopback port. */
async function startFakeModeration(): Promise<{
  base: string;
  received: Received[];
  handle(h: Handler): void;
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  let handler: Handler = (_req, res) => res.writeHead(404).end();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      received.push(r);
      handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    received,
    handle: (h) => {
      handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const FLAGGED = {
  id: 'modr-1',
  model: 'omni-moderation-latest',
  results: [
    {
      flagged: true,
      categories: { sexual: true, 'sexual/minors': false, violence: true, harassment: false },
      category_scores: { sexual: 0.97, 'sexual/minors': 0.01, violence: 0.81, harassment: 0.02 },
    },
  ],
};
const CLEAN = { results: [{ flagged: false, categories: { sexual: false, violence: false } }] };

async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('moderationEndpoint', () => {
  describe('when MODERATION_URL is a base URL', () => {
    it.each([
      ['https://api.openai.com', 'https://api.openai.com/v1/moderations'],
      ['https://api.openai.com/', 'https://api.openai.com/v1/moderations'],
      ['https://api.openai.com/v1', 'https://api.openai.com/v1/moderations'],
      ['https://api.openai.com/v1/', 'https://api.openai.com/v1/moderations'],
      ['http://127.0.0.1:8000/openai', 'http://127.0.0.1:8000/openai/v1/moderations'],
    ])('appends the path to %s', (url, expected) => {
      expect(moderationEndpoint(url)).toBe(expected);
    });
  });

  describe('when MODERATION_URL is the full endpoint', () => {
    it.each([
      ['https://api.openai.com/v1/moderations', 'https://api.openai.com/v1/moderations'],
      ['https://gw.example/mod/moderations/', 'https://gw.example/mod/moderations'],
      ['https://gw.example/v1/moderations?api-version=2024', 'https://gw.example/v1/moderations?api-version=2024'],
    ])('uses %s as is', (url, expected) => {
      expect(moderationEndpoint(url)).toBe(expected);
    });
  });
});

describe('createOpenAiModeration', () => {
  let fake: Awaited<ReturnType<typeof startFakeModeration>>;

  beforeEach(async () => {
    fake = await startFakeModeration();
  });
  afterEach(() => fake.close());

  describe('when the service flags the prompt', () => {
    it('returns flagged with the categories that are true, in order', async () => {
      fake.handle((_req, res) => json(res, 200, FLAGGED));
      const moderation = createOpenAiModeration({ url: fake.base, timeoutMs: 2000 });
      expect(await moderation.moderate('something bad')).toEqual({ flagged: true, categories: ['sexual', 'violence'] });
    });
  });

  describe('when the service does not flag the prompt', () => {
    it('returns not flagged with no categories', async () => {
      fake.handle((_req, res) => json(res, 200, CLEAN));
      const moderation = createOpenAiModeration({ url: fake.base, timeoutMs: 2000 });
      expect(await moderation.moderate('a fox in snow')).toEqual({ flagged: false, categories: [] });
    });
  });

  describe('when it calls the service', () => {
    it('POSTs {input} as JSON to /v1/moderations with the API key as a bearer token', async () => {
      fake.handle((_req, res) => json(res, 200, CLEAN));
      await createOpenAiModeration({ url: fake.base, apiKey: 'sk-test', timeoutMs: 2000 }).moderate('a “fox” 🦊');
      const [req] = fake.received;
      expect(req).toMatchObject({ method: 'POST', url: '/v1/moderations' });
      expect(req!.headers['content-type']).toBe('application/json');
      expect(req!.headers.authorization).toBe('Bearer sk-test');
      expect(req!.headers['user-agent']).toMatch(/^clipbot\/\d+\.\d+\.\d+/);
      expect(JSON.parse(req!.body)).toEqual({ input: 'a “fox” 🦊' });
    });

    it('sends no authorization header without an API key', async () => {
      fake.handle((_req, res) => json(res, 200, CLEAN));
      await createOpenAiModeration({ url: `${fake.base}/v1/moderations`, timeoutMs: 2000 }).moderate('a fox');
      expect(fake.received[0]!.url).toBe('/v1/moderations');
      expect(fake.received[0]!.headers.authorization).toBeUndefined();
    });

    it('accepts null for categories a compatible server does not score', async () => {
      fake.handle((_req, res) =>
        json(res, 200, { results: [{ flagged: true, categories: { hate: true, 'self-harm': null } }] }),
      );
      const result = await createOpenAiModeration({ url: fake.base, timeoutMs: 2000 }).moderate('x');
      expect(result).toEqual({ flagged: true, categories: ['hate'] });
    });
  });

  describe('when the service is slower than the timeout', () => {
    it('gives up with a timeout error', async () => {
      fake.handle(() => undefined);
      const moderation = createOpenAiModeration({ url: fake.base, timeoutMs: 150 });
      const error = await providerError(moderation.moderate('a fox'));
      expect(error.kind).toBe('timeout');
    });

    it('counts the time spent reading a stalled body too', async () => {
      fake.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"results": [');
      });
      const error = await providerError(createOpenAiModeration({ url: fake.base, timeoutMs: 150 }).moderate('a fox'));
      expect(error.kind).toBe('timeout');
    });
  });

  describe('when the service answers with an error status', () => {
    it.each([
      [500, 'transient', true],
      [503, 'transient', true],
      [429, 'rate_limit', true],
      [401, 'auth', false],
      [404, 'not_found', false],
    ] as const)('maps HTTP %i to a %s error (retryable: %s)', async (status, kind, retryable) => {
      fake.handle((_req, res) => json(res, status, { error: { message: 'nope' } }));
      const error = await providerError(createOpenAiModeration({ url: fake.base, timeoutMs: 2000 }).moderate('a fox'));
      expect(error).toMatchObject({ kind, status, retryable });
    });

    it('never puts the API key in the error', async () => {
      fake.handle((_req, res) => json(res, 401, { error: { message: 'Incorrect API key provided: sk-secret' } }));
      const error = await providerError(
        createOpenAiModeration({ url: fake.base, apiKey: 'sk-secret', timeoutMs: 2000 }).moderate('x'),
      );
      expect(error.message).not.toContain('sk-secret');
    });
  });

  describe('when the answer is not what the API documents', () => {
    it.each([
      ['malformed JSON', '{"results": [ {"flagged": tru'],
      ['an empty results list', JSON.stringify({ results: [] })],
      ['a missing flagged field', JSON.stringify({ results: [{ categories: {} }] })],
      ['an HTML error page', '<html>Bad gateway</html>'],
    ])('throws a malformed error for %s', async (_name, body) => {
      fake.handle((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
      const error = await providerError(createOpenAiModeration({ url: fake.base, timeoutMs: 2000 }).moderate('a fox'));
      expect(error.kind).toBe('malformed');
    });
  });

  describe('when nothing listens at the URL', () => {
    it('throws a retryable transient error', async () => {
      await fake.close();
      const error = await providerError(createOpenAiModeration({ url: fake.base, timeoutMs: 2000 }).moderate('a fox'));
      expect(error).toMatchObject({ kind: 'transient', retryable: true });
    });
  });

  describe('when the caller aborts', () => {
    it('rejects with the caller’s reason, not a timeout', async () => {
      fake.handle(() => undefined);
      const controller = new AbortController();
      const pending = createOpenAiModeration({ url: fake.base, timeoutMs: 5000 }).moderate('a fox', controller.signal);
      const reason = new Error('job cancelled');
      setImmediate(() => controller.abort(reason));
      await expect(pending).rejects.toBe(reason);
    });
  });
});

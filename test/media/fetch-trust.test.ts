import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaError } from '../../src/core/errors.js';
import { createSafeFetcher, type SafeFetcher } from '../../src/media/safe-fetch.js';
import { pngBytes, recordConnections, startServer, type TestServer } from './fixtures.js';

/**
 * One fetcher, two policies (issue 11, finding 3): the operator's FETCH_ALLOW_CIDRS opens loopback for `operator`
 * URLs only. A connection the operator's fetch left in the pool must not carry a member's request to the same host.
 */

let dir: string;
let server: TestServer;
let fetcher: SafeFetcher;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipbot-trust-'));
  server = await startServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(pngBytes()));
  fetcher = createSafeFetcher({ allowCidrs: ['127.0.0.0/8'], deadlineMs: 5000 });
});
afterEach(async () => {
  await fetcher.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a safe fetcher with an operator allow-list', () => {
  it('fetches an allowed loopback URL for the operator, then refuses the same URL for a member without connecting', async () => {
    const url = `${server.origin}/x.png`;
    await expect(
      fetcher.fetchToFile(url, path.join(dir, 'a'), { kind: 'image', maxBytes: 1024, trust: 'operator' }),
    ).resolves.toMatchObject({ ext: 'png' });
    const connections = recordConnections();
    try {
      const error: unknown = await fetcher
        .fetchToFile(url, path.join(dir, 'b'), { kind: 'image', maxBytes: 1024, trust: 'member' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaError);
      expect(error).toMatchObject({ kind: 'blocked_address', message: 'that address is not allowed' });
      expect((error as MediaError).detail).toContain('127.0.0.1');
      expect(connections.connected).toEqual([]);
    } finally {
      connections.stop();
    }
    expect(server.requests).toEqual(['/x.png']);
  });
});

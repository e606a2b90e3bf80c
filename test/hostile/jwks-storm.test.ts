import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createFalProvider } from '../../src/providers/fal.js';
import { createHttpServer, type HttpServer } from '../../src/server/http-server.js';
import { signFalWebhook, startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { startServer, type TestServer } from '../media/fixtures.js';
import { createTestClock } from '../providers/conformance.js';

/**
 * Forged fal callbacks while fal's JWKS cannot be loaded (issue 11, finding 10): the keys are fetched at most once
 * per interval whatever the traffic, each refused callback is a 503 (fal delivers again later), and the log gets
 * one line per real fetch, not one per callback.
 */

const attacker = generateKeyPairSync('ed25519').privateKey;
let sim: FalSimulator | undefined;
let server: HttpServer | undefined;
let jwksHost: TestServer | undefined;
afterEach(async () => {
  await server?.close(0);
  await jwksHost?.close();
  await sim?.close();
  sim = server = jwksHost = undefined;
});

async function world() {
  sim = await startFalSimulator();
  // fal's JWKS host: down (503) until the test brings it back, then it serves the simulator's keys.
  const jwks = { up: false };
  const realJwks = await (await fetch(sim.jwksUrl)).text();
  jwksHost = await startServer((_req, res) => {
    if (jwks.up) res.writeHead(200, { 'content-type': 'application/json' }).end(realJwks);
    else res.writeHead(503, { 'content-type': 'application/json' }).end('{"detail":"unavailable"}');
  });
  const host = jwksHost;
  const clock = createTestClock();
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger('debug', {
    write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }),
  });
  const fal = createFalProvider({
    key: sim.key,
    queueUrl: sim.url,
    jwksUrls: [`${host.origin}/.well-known/jwks.json`],
    clock,
    logger,
  });
  server = createHttpServer({
    mediaDir: '/nonexistent',
    logger,
    webhooks: async (_p, request) => ({ status: 200, body: await fal.verifyWebhook(request) }),
  });
  const s = sim;
  const forge = async (n: number) => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      const requestId = `forged-${i}`;
      const body = JSON.stringify({ request_id: requestId, status: 'OK', payload: null });
      const headers = signFalWebhook(attacker, body, {
        requestId,
        userId: s.userId,
        timestampS: Math.floor(clock.now() / 1000),
      });
      statuses.push(
        (await server!.app.request('http://localhost/webhooks/fal', { method: 'POST', body, headers })).status,
      );
    }
    return statuses;
  };
  return { sim: s, clock, lines, forge, fal, jwks, jwksCalls: () => host.requests.length };
}

describe('forged fal callbacks while the JWKS cannot be loaded', () => {
  it('fetch the JWKS once, answer each with 503, and log one warning, not one error per callback', async () => {
    const w = await world();
    const statuses = await w.forge(50);
    expect(statuses).toEqual(Array(50).fill(503));
    expect(w.jwksCalls()).toBe(1);
    expect(w.lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(w.lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['fal JWKS fetch failed']);
  });

  it('try the JWKS again once per interval (30 s), not per callback', async () => {
    const w = await world();
    await w.forge(10);
    w.clock.advance(29_000);
    await w.forge(10);
    expect(w.jwksCalls()).toBe(1);
    w.clock.advance(1_000);
    await w.forge(10);
    expect(w.jwksCalls()).toBe(2);
    w.clock.advance(60_000);
    await w.forge(20);
    expect(w.jwksCalls()).toBe(3);
  });

  it('accept genuine callbacks again once the JWKS is back', async () => {
    const w = await world();
    await w.forge(3);
    w.jwks.up = true;
    w.clock.advance(30_000);
    const body = JSON.stringify({ request_id: 'real-1', status: 'OK', payload: null });
    const headers = w.sim.signWebhook(body, { requestId: 'real-1', timestampS: Math.floor(w.clock.now() / 1000) });
    await expect(w.fal.verifyWebhook({ headers, rawBody: Buffer.from(body) })).resolves.toHaveProperty(
      'taskId',
      'real-1',
    );
  });
});

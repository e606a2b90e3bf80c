import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { createLogger } from '../../src/logger.js';
import { publicNetwork, viaPublicName } from '../helpers/public-network.js';
import { pngBytes, startServer, type TestServer } from '../media/fixtures.js';
import { startWorld, videoRequest, worldState, type World } from './world.js';

/**
 * Member-supplied image URLs (issue 11, finding 3). The operator exempts loopback and a LAN range from the SSRF
 * block (FETCH_ALLOW_CIDRS) for their simulators and provider; a member must not inherit that: their URLs reach
 * public addresses only. A refusal tells them "that address is not allowed" and nothing about where a name
 * resolves; the details go to the log. Nothing is charged, no job is made, no file kept, the address never contacted.
 */

let w: World;
let images: TestServer;
let redirector: TestServer;
const lines: string[] = [];

// Internal names as an office DNS would answer them; anything else resolves as in the tests' public network.
const INTERNAL: Record<string, string[]> = {
  'sim.corp.internal': ['127.0.0.1'],
  'nas.corp.internal': ['10.20.30.40'],
  'dual.corp.internal': ['93.184.215.14', '10.20.30.41'],
};
const fetchNetwork = {
  lookup: async (hostname: string) =>
    INTERNAL[hostname]?.map((address) => ({ address, family: 4 })) ?? publicNetwork.lookup(hostname),
  dialAddress: publicNetwork.dialAddress,
};

beforeAll(async () => {
  images = await startServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(pngBytes()));
  redirector = await startServer((req, res) =>
    res.writeHead(302, { location: `${images.origin}${req.url ?? '/'}` }).end(),
  );
  w = await startWorld({
    env: { FETCH_ALLOW_CIDRS: '127.0.0.0/8,10.0.0.0/8,::1/128' },
    logger: createLogger('info', { write: (line: string) => void lines.push(line) }),
    fetchNetwork,
  });
  // Mallory exists (with her starting credits) before the cases, so each can show that nothing moved.
  await w.bot.engine
    .submitVideo(videoRequest('seedance-1-pro', 'a fox', 'mallory', { imageUrl: 'http://10.0.0.1/x.png' }))
    .catch(() => undefined);
}, 30_000);
afterAll(async () => {
  await w.close();
  await images.close();
  await redirector.close();
});

const mediaFiles = () =>
  readdirSync(`${w.dir}/media`, { recursive: true })
    .map(String)
    .filter((f) => /\.\w+$/.test(f) && !f.startsWith('.tmp'));

describe('a member image URL that leads to an address the operator exempted', () => {
  const cases: [string, () => string, string][] = [
    ['loopback, by address', () => `${images.origin}/a.png`, '127.0.0.1'],
    ['loopback, as IPv6', () => `http://[::1]:${images.port}/a.png`, '::1'],
    ['loopback, IPv4-mapped IPv6', () => `http://[::ffff:127.0.0.1]:${images.port}/a.png`, '::ffff:7f00:1'],
    ['an internal name resolving to loopback', () => `http://sim.corp.internal:${images.port}/a.png`, '127.0.0.1'],
    ['an internal name resolving to the LAN', () => `http://nas.corp.internal:${images.port}/a.png`, '10.20.30.40'],
    [
      'a name with one public and one LAN address',
      () => `http://dual.corp.internal:${images.port}/a.png`,
      '10.20.30.41',
    ],
    ['a public name that redirects to loopback', () => viaPublicName(`${redirector.origin}/a.png`), '127.0.0.1'],
  ];

  it.each(cases)('%s: refused plainly, nothing charged, kept or contacted', async (_case, url, address) => {
    const before = worldState(w.db);
    const imageRequests = images.requests.length;
    const linesBefore = lines.length;
    const error: unknown = await w.bot.engine
      .submitVideo(videoRequest('seedance-1-pro', 'a fox wakes up', 'mallory', { imageUrl: url() }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe('The image could not be used: that address is not allowed');
    expect(worldState(w.db)).toEqual(before);
    expect(mediaFiles()).toEqual([]);
    expect(images.requests.length).toBe(imageRequests);
    // The owner can see what was refused and why.
    const logged = lines.slice(linesBefore).map((l) => JSON.parse(l) as { msg: string; reason?: string });
    expect(logged.find((l) => l.msg === 'member image address refused')?.reason).toContain(address);
  });
});

describe('the operator’s exemptions still apply to provider results', () => {
  it('a video from the loopback simulator is fetched and stored, and a public image works', async () => {
    const { job } = await w.bot.engine.submitVideo(
      videoRequest('seedance-1-pro', 'a fox wakes up', 'ann', { imageUrl: viaPublicName(`${images.origin}/ok.png`) }),
    );
    expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
    expect(mediaFiles().sort()).toEqual([`inputs/${job.id}.png`, `results/${job.id}.mp4`]);
  });
});

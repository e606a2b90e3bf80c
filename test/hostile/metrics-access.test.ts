import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { tempDir } from '../helpers/db.js';
import { freePort } from './world.js';

/**
 * /metrics from the outside (issue 11, finding 9): once the HTTP server is exposed for webhooks (PUBLIC_URL), the
 * owner's numbers are readable only with METRICS_TOKEN, or on the separate loopback METRICS_PORT listener.
 */

let bot: RunningBot | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  await bot?.stop();
  dir?.cleanup();
  bot = dir = undefined;
});

const TOKEN = 'metrics-token-for-tests-0123456789';

async function start(env: Record<string, string>): Promise<RunningBot> {
  dir = tempDir('clipbot-metrics-');
  const port = await freePort();
  const config = loadConfig({
    DATA_DIR: dir.dir,
    HTTP_PORT: String(port),
    LOG_LEVEL: 'silent',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    ...env,
  });
  bot = await startClipbot(config, { logger: silentLogger });
  return bot;
}

const scrape = (url: string, headers: Record<string, string> = {}) => fetch(`${url}/metrics`, { headers });

describe('/metrics on a server exposed for webhooks', () => {
  describe('when no METRICS_TOKEN is set', () => {
    it('is not served at all', async () => {
      const b = await start({});
      const res = await scrape(b.baseUrl);
      expect(res.status).toBe(404);
      expect(await res.text()).not.toContain('clipbot_');
    });
  });

  describe('when METRICS_TOKEN is set', () => {
    it.each([
      ['no Authorization header', {}],
      ['a wrong token', { authorization: 'Bearer metrics-token-for-tests-0123456788' }],
      ['the token as Basic credentials', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }],
      ['the token without the Bearer scheme', { authorization: TOKEN }],
      ['a prefix of the token', { authorization: 'Bearer metrics-token' }],
    ])('refuses %s with 401 and no numbers', async (_case, headers) => {
      const b = await start({ METRICS_TOKEN: TOKEN });
      const res = await scrape(b.baseUrl, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.text()).not.toContain('clipbot_');
    });

    it('serves the exposition to the bearer of the token', async () => {
      const b = await start({ METRICS_TOKEN: TOKEN });
      const res = await scrape(b.baseUrl, { authorization: `Bearer ${TOKEN}` });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('clipbot_queue_depth 0');
    });
  });

  describe('when METRICS_PORT is set', () => {
    it('serves /metrics on a loopback listener of its own, and not on the public server', async () => {
      const b = await start({ METRICS_PORT: '0' });
      expect(b.metricsPort).toBeGreaterThan(0);
      const local = await scrape(`http://127.0.0.1:${b.metricsPort}`);
      expect(local.status).toBe(200);
      expect(await local.text()).toContain('clipbot_queue_depth 0');
      expect((await fetch(`http://127.0.0.1:${b.metricsPort}/healthz`)).status).toBe(404);
      expect((await scrape(b.baseUrl)).status).toBe(404);
    });
  });
});

describe('/metrics on a private server (loopback, no PUBLIC_URL)', () => {
  it('is served without a token, as before', async () => {
    dir = tempDir('clipbot-metrics-');
    bot = await startClipbot(loadConfig({ DATA_DIR: dir.dir, HTTP_PORT: '0', LOG_LEVEL: 'silent' }), {
      logger: silentLogger,
    });
    const res = await scrape(bot.baseUrl);
    expect(res.status).toBe(200);
  });
});

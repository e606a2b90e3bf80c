import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, redactedConfig, SECRET_KEYS } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { signKieWebhook } from '../../src/providers/kie.js';
import { FakeTelegram } from '../fakes/telegram-api.js';
import { S3RVER_ACCESS_KEY_ID, startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { startWorld, until, videoRequest, type World } from './world.js';

/**
 * The log canary: the whole bot booted at LOG_LEVEL=trace with a recognisable fake value in every secret
 * variable, driven through provider errors with causes, grammY network errors on URLs that carry the bot token, a
 * moderation service that echoes the key back in its error body, forged webhooks and failed jobs. No secret may
 * appear in any log line, in clear, base64 or URL-encoded.
 */

const SECRETS = {
  FAL_KEY: 'fal-key-id:CANARYfalSecret0001',
  ARK_API_KEY: 'CANARY-ark-api-key-0002',
  KIE_API_KEY: 'CANARYkieApiKey0003',
  KIE_WEBHOOK_HMAC_KEY: 'CANARY-kie-hmac-0004',
  TELEGRAM_TOKEN: '7012345678:AAH_CANARYtelegramToken0005xyz',
  MODERATION_API_KEY: 'sk-CANARYmoderation0006',
  S3_SECRET_ACCESS_KEY: 'CANARY/s3+Secret=Key0007',
  TELEGRAM_WEBHOOK_SECRET: 'CANARY-telegram-webhook-0008',
  DISCORD_TOKEN: 'MTEyMzQ1Njc4OTAxMjM0NTY3OA.CANARY.discordToken0009',
  METRICS_TOKEN: 'CANARY-metrics-token-0010',
} as const satisfies Record<(typeof SECRET_KEYS)[number], string>;

/** Every way a secret could show up in a line: as is, base64 (std and url), URL-encoded, and the token's secret half. */
function forms(secret: string): string[] {
  const b64 = Buffer.from(secret).toString('base64');
  const out = new Set([
    secret,
    b64,
    b64.replace(/=+$/, ''),
    Buffer.from(secret).toString('base64url'),
    encodeURIComponent(secret),
    encodeURI(secret),
  ]);
  if (secret.includes(':')) out.add(secret.split(':').slice(1).join(':'));
  return [...out];
}

function expectNoSecretIn(lines: readonly string[], secrets: readonly string[]): void {
  for (const secret of secrets) {
    for (const form of forms(secret)) {
      const leaked = lines.filter((line) => line.includes(form));
      expect(leaked, `a log line carries ${JSON.stringify(form)}`).toEqual([]);
    }
  }
}

/** An OpenAI-style moderation server that answers errors by echoing the caller's Authorization header back. */
async function startEchoingModeration(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      if (body.includes('echo-500')) {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: `upstream rejected ${auth}` }));
      } else if (body.includes('echo-401')) {
        res
          .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': auth })
          .end(JSON.stringify({ error: `bad key ${auth}` }));
      } else if (body.includes('echo-malformed')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(`{"results": "${auth}"`);
      } else {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ results: [{ flagged: false, categories: {} }] }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('the log canary', () => {
  const lines: string[] = [];
  let w: World;
  let telegram: FakeTelegram;
  let s3: TestS3Server;
  let moderation: Awaited<ReturnType<typeof startEchoingModeration>>;

  beforeAll(async () => {
    [telegram, s3, moderation] = await Promise.all([
      FakeTelegram.start({ token: SECRETS.TELEGRAM_TOKEN }),
      startS3Server({ buckets: ['clips'] }),
      startEchoingModeration(),
    ]);
    w = await startWorld({
      webhooks: true,
      logger: createLogger('trace', { write: (line: string) => void lines.push(line) }),
      keys: {
        fal: SECRETS.FAL_KEY,
        ark: SECRETS.ARK_API_KEY,
        kie: SECRETS.KIE_API_KEY,
        kieHmac: SECRETS.KIE_WEBHOOK_HMAC_KEY,
      },
      env: {
        LOG_LEVEL: 'trace',
        TELEGRAM_TOKEN: SECRETS.TELEGRAM_TOKEN,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        MODERATION_URL: moderation.url,
        MODERATION_API_KEY: SECRETS.MODERATION_API_KEY,
        STORAGE: 's3',
        S3_ENDPOINT: s3.endpoint,
        S3_BUCKET: 'clips',
        S3_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID,
        S3_SECRET_ACCESS_KEY: SECRETS.S3_SECRET_ACCESS_KEY,
        S3_PUBLIC_URL: `${s3.endpoint}/clips`,
        S3_FORCE_PATH_STYLE: 'true',
        METRICS_TOKEN: SECRETS.METRICS_TOKEN,
      },
    });
  }, 30_000);

  afterAll(async () => {
    await w?.close();
    await Promise.all([telegram?.close(), s3?.close(), moderation?.close()]);
  });

  it('boots with every secret set and logs its configuration, redacted', () => {
    expect(lines.some((l) => l.includes('"msg":"configuration"'))).toBe(true);
    expect(lines.some((l) => l.includes('[redacted]'))).toBe(true);
  });

  it('logs provider errors with causes (401 and 500 from each simulator) without a secret', async () => {
    const engine = w.bot.engine;
    w.fal.injectFault({ kind: 'respond', status: 401, body: { detail: 'Invalid key' } }, { routes: 'submit' });
    const falAuth = await engine.submitVideo(videoRequest('seedance-1-pro', 'a fox, fal refuses the key', 'u1'));
    w.ark.injectFault(
      { kind: 'error', status: 401, code: 'AuthenticationError', message: 'The API key is invalid' },
      { routes: 'create' },
    );
    const arkAuth = await engine.submitVideo(videoRequest('seedance-1-pro-ark', 'a fox, ark refuses the key', 'u2'));
    w.kie.injectFault({ kind: 'code', code: 401 }, { routes: 'veo_generate' });
    const kieAuth = await engine.submitVideo(videoRequest('veo3-fast', 'a fox, kie refuses the key', 'u3'));
    for (const { job } of [falAuth, arkAuth, kieAuth]) expect((await engine.waitForJob(job.id)).status).toBe('failed');

    w.fal.injectFault({ kind: 'server_error', status: 500 }, { routes: 'submit' });
    w.ark.injectFault({ kind: 'server_error', status: 500 }, { routes: 'create' });
    w.kie.injectFault({ kind: 'server_error', status: 500 }, { routes: 'veo_generate' });
    w.fal.injectFault({ kind: 'reset' }, { routes: 'status' });
    const transient = await Promise.all([
      engine.submitVideo(videoRequest('seedance-1-pro', 'a fox, fal hiccups', 'u4')),
      engine.submitVideo(videoRequest('seedance-1-pro-ark', 'a fox, ark hiccups', 'u5')),
      engine.submitVideo(videoRequest('veo3-fast', 'a fox, kie hiccups', 'u6')),
    ]);
    // These recover; their results go to S3, signed with the canary secret.
    for (const { job } of transient) expect((await engine.waitForJob(job.id)).status).toBe('succeeded');

    const failed = await engine.submitVideo(videoRequest('seedance-1-pro', '[sim:fail] a fox that fails', 'u7'));
    expect((await engine.waitForJob(failed.job.id)).status).toBe('failed');

    expect(lines.some((l) => l.includes('"level":50') || l.includes('"level":40'))).toBe(true);
    // The provider's reason is its own field (a second "msg" key would be dropped by every JSON log reader).
    const rejected = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'provider rejected job');
    expect(rejected.length).toBeGreaterThanOrEqual(4);
    for (const line of rejected) expect(line.reason).toEqual(expect.any(String));
    expectNoSecretIn(lines, Object.values(SECRETS));
  }, 60_000);

  it('keeps the key out of the log when a provider quotes it back in an error body', async () => {
    const engine = w.bot.engine;
    w.fal.injectFault(
      { kind: 'respond', status: 401, body: { detail: `Invalid key ${SECRETS.FAL_KEY}` } },
      { routes: 'submit' },
    );
    w.ark.injectFault(
      {
        kind: 'error',
        status: 401,
        code: 'AuthenticationError',
        message: `The API key ${SECRETS.ARK_API_KEY} is invalid`,
      },
      { routes: 'create' },
    );
    w.kie.injectFault(
      { kind: 'code', code: 401, msg: `key ${SECRETS.KIE_API_KEY} rejected` },
      { routes: 'veo_generate' },
    );
    const jobs = await Promise.all([
      engine.submitVideo(videoRequest('seedance-1-pro', 'a fox, fal quotes the key', 'q1')),
      engine.submitVideo(videoRequest('seedance-1-pro-ark', 'a fox, ark quotes the key', 'q2')),
      engine.submitVideo(videoRequest('veo3-fast', 'a fox, kie quotes the key', 'q3')),
    ]);
    const finals = await Promise.all(jobs.map(({ job }) => engine.waitForJob(job.id)));
    expect(finals.map((j) => j.status)).toEqual(['failed', 'failed', 'failed']);
    // The quote did reach the log, with the key cut out of it.
    expect(
      lines.filter((l) => l.includes('[redacted]') && l.includes('provider rejected job')).length,
    ).toBeGreaterThanOrEqual(1);
    expectNoSecretIn(lines, Object.values(SECRETS));
  }, 60_000);

  it('logs moderation failures whose bodies echo the key without the key', async () => {
    for (const marker of ['echo-500', 'echo-401', 'echo-malformed']) {
      await expect(
        w.bot.engine.submitVideo(videoRequest('seedance-1-pro', `a fox ${marker}`, `mod-${marker}`)),
      ).rejects.toThrow();
    }
    expectNoSecretIn(lines, Object.values(SECRETS));
  });

  it('logs refused webhooks without a secret', async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${w.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const kieBody = JSON.stringify({ code: 200, data: { taskId: 'canarytask1' } });
    const responses = await Promise.all([
      post('/webhooks/fal', '{}', {
        authorization: `Key ${SECRETS.FAL_KEY}`,
        'x-fal-webhook-request-id': 'r',
        'x-fal-webhook-user-id': 'u',
        'x-fal-webhook-timestamp': '1',
        'x-fal-webhook-signature': '0'.repeat(128),
      }),
      post('/webhooks/kie', kieBody, {
        'x-webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'x-webhook-signature': signKieWebhook('wrong', 'canarytask1', 1),
      }),
      post('/webhooks/kie', kieBody, {
        'x-webhook-timestamp': '1',
        'x-webhook-signature': signKieWebhook(SECRETS.KIE_WEBHOOK_HMAC_KEY, 'canarytask1', 1),
      }),
      post('/webhooks/ark', `{"id": "${SECRETS.ARK_API_KEY.replace(/-/g, '_')}!"}`),
      post('/telegram/webhook', '{}', { 'x-telegram-bot-api-secret-token': 'wrong' }),
    ]);
    expect(responses.slice(0, 4).map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expectNoSecretIn(lines, Object.values(SECRETS));
  });

  it('logs Telegram failures (errors and dropped connections on token URLs) without the token', async () => {
    const alice = telegram.user();
    const chat = telegram.privateChat(alice);
    const replyFailures = () => lines.filter((l) => l.includes('could not send the error reply')).length;
    // A reply refused by the API (GrammyError), then one whose connection drops (grammY's HttpError on /bot<token>/...).
    telegram.failNext('sendMessage', { error_code: 400, description: 'Bad Request: chat not found' });
    telegram.sendText(alice, chat, '/video');
    await until('the refused reply to be logged', () => replyFailures() >= 1, 15_000);
    telegram.dropResponseNext('sendMessage');
    telegram.sendText(alice, chat, '/history 0');
    await until('the dropped reply to be logged', () => replyFailures() >= 2, 15_000);
    // A "photo" that is an HTML page: its download URL carries the token.
    telegram.sendPhoto(alice, chat, { bytes: Buffer.from('<html><body>not an image</body></html>'), caption: 'a fox' });
    await telegram.waitForCall('sendMessage', (call) => /image/i.test(JSON.stringify(call.params)));
    // A job made through Telegram that fails at the provider.
    telegram.sendText(alice, chat, '/video [sim:fail] a fox that fails on telegram');
    await telegram.waitForCall(
      'sendMessage',
      (call) => /fail|wrong|error/i.test(JSON.stringify(call.params)) && !/image/i.test(JSON.stringify(call.params)),
    );
    expectNoSecretIn(lines, Object.values(SECRETS));
  }, 30_000);

  it('redacts every secret from the config dump and from a config logged by mistake', () => {
    const captured: string[] = [];
    const logger = createLogger('trace', { write: (line: string) => void captured.push(line) });
    const config = loadConfig({ ...SECRETS, PUBLIC_URL: 'http://127.0.0.1:1', LOG_LEVEL: 'trace' });
    logger.info({ config: redactedConfig(config) }, 'configuration');
    logger.info({ ...config }, 'a whole config spread into a line');
    logger.info(config, 'a whole config as the object');
    logger.error(
      { err: Object.assign(new Error('boom'), { headers: { authorization: `Bearer ${SECRETS.MODERATION_API_KEY}` } }) },
      'error with headers',
    );
    expect(captured).toHaveLength(4);
    expectNoSecretIn(captured, Object.values(SECRETS));
  });

  it('never let a canary secret reach the log, after everything above', () => {
    expect(lines.length).toBeGreaterThan(20);
    expectNoSecretIn(lines, Object.values(SECRETS));
  });
});

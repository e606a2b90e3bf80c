import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { SIM_ASSETS } from '../../src/sim/assets.js';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { FakeTelegram } from '../fakes/telegram-api.js';
import { tempDir } from '../helpers/db.js';
import { FAST_MODELS } from '../helpers/engine-harness.js';
import { S3RVER_ACCESS_KEY_ID, startS3Server, type TestS3Server } from '../helpers/s3-server.js';

let bot: RunningBot | undefined;
let sim: FalSimulator | undefined;
let s3: TestS3Server | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
let telegram: FakeTelegram | undefined;
afterEach(async () => {
  await bot?.stop();
  await sim?.close();
  await s3?.close();
  await telegram?.close();
  dir?.cleanup();
  bot = sim = s3 = dir = telegram = undefined;
});

/** The fal simulator, s3rver and a data directory, and a config with STORAGE=s3 pointing at them. */
async function s3Config(env: Record<string, string> = {}): Promise<Config> {
  s3 = await startS3Server({ buckets: ['clips'] });
  sim = await startFalSimulator({ queueMs: 20, runMs: 50 });
  dir = tempDir();
  return loadConfig({
    DATA_DIR: dir.dir,
    HTTP_PORT: '0',
    LOG_LEVEL: 'silent',
    FAL_KEY: sim.key,
    FAL_QUEUE_URL: sim.url,
    FAL_JWKS_URL: sim.jwksUrl,
    FETCH_ALLOW_CIDRS: '127.0.0.0/8',
    STORAGE: 's3',
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: 'clips',
    S3_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY: 'test-secret',
    S3_PUBLIC_URL: `${s3.endpoint}/clips`,
    S3_FORCE_PATH_STYLE: 'true',
    ...env,
  });
}

describe('results stored in S3', () => {
  describe('when STORAGE=s3 points at an S3-compatible service', () => {
    it('uploads the result there and links members to the bucket’s public URL', async () => {
      bot = await startClipbot(await s3Config(), { logger: silentLogger, models: FAST_MODELS });
      const { job } = await bot.engine.submitVideo({
        identity: { platform: 'console', platformUserId: 'ann' },
        dest: { platform: 'console', chatId: 'c', userId: 'ann' },
        intakeKey: 'k1',
        prompt: 'a fox',
        options: { resolution: '480p' },
      });
      const done = await bot.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(done.mediaUrl).toBe(`${s3!.endpoint}/clips/results/${job.id}.mp4`);
      expect(s3!.requests.some((r) => r.startsWith(`PUT /clips/results/${job.id}.mp4`))).toBe(true);
      const bytes = Buffer.from(await (await fetch(done.mediaUrl!)).arrayBuffer());
      expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    });

    it('uploads the video into a Telegram chat, read back from the bucket', async () => {
      telegram = await FakeTelegram.start();
      const config = await s3Config({ TELEGRAM_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot });
      bot = await startClipbot(config, { logger: silentLogger, models: FAST_MODELS });
      const alice = telegram.user();
      const chat = telegram.privateChat(alice);
      telegram.sendText(alice, chat, '/video a red fox running through snow --resolution 480p');

      const upload = await telegram.waitForCall('sendVideo');
      expect(upload.status).toBe(200);
      expect(s3!.requests.some((r) => r.startsWith('GET /clips/results/'))).toBe(true);
      expect(upload.files['video']!.bytes.equals(readFileSync(SIM_ASSETS.video480p))).toBe(true);
      expect(telegram.videosIn(chat)).toHaveLength(1);
    });
  });
});

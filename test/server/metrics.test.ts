import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { tempDir } from '../helpers/db.js';
import { FAST_MODELS } from '../helpers/engine-harness.js';

let bot: RunningBot | undefined;
let sim: FalSimulator | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  await bot?.stop();
  await sim?.close();
  dir?.cleanup();
  bot = sim = dir = undefined;
});

describe('/metrics', () => {
  describe('after one video succeeded and one forged webhook was refused', () => {
    it('reports jobs by state, credits, the job duration and the refusal', async () => {
      sim = await startFalSimulator({ queueMs: 20, runMs: 50 });
      dir = tempDir();
      const config = loadConfig({
        DATA_DIR: dir.dir,
        HTTP_PORT: '0',
        LOG_LEVEL: 'silent',
        FAL_KEY: sim.key,
        FAL_QUEUE_URL: sim.url,
        FAL_JWKS_URL: sim.jwksUrl,
        FETCH_ALLOW_CIDRS: '127.0.0.0/8',
        STATUS_EDIT_INTERVAL_MS: '0',
      });
      bot = await startClipbot(config, { logger: silentLogger, models: FAST_MODELS });
      const { job } = await bot.engine.submitVideo({
        identity: { platform: 'console', platformUserId: 'ann' },
        dest: { platform: 'console', chatId: 'c', userId: 'ann' },
        intakeKey: 'k1',
        prompt: 'a fox',
        options: { resolution: '480p' },
      });
      expect((await bot.engine.waitForJob(job.id)).status).toBe('succeeded');
      const forged = await fetch(`${bot.baseUrl}/webhooks/fal`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
      expect(forged.status).toBe(401);

      const response = await fetch(`${bot.baseUrl}/metrics`);
      expect(response.headers.get('content-type')).toMatch(/text\/plain/);
      const text = await response.text();
      expect(text).toContain('clipbot_jobs{status="succeeded",provider="fal",model="seedance-1-pro"} 1');
      expect(text).toContain('clipbot_queue_depth 0');
      expect(text).toContain('clipbot_credits{state="captured"} 40');
      expect(text).toContain('clipbot_credits{state="held"} 0');
      expect(text).toMatch(
        /clipbot_job_duration_seconds_count\{provider="fal",model="seedance-1-pro",status="succeeded"\} 1/,
      );
      expect(text).toContain('clipbot_webhook_verification_failures_total{provider="fal"} 1');
    });
  });
});

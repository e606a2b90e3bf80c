import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { MODELS } from '../../src/core/catalog.js';
import type { VideoRequest } from '../../src/core/engine/intake.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { startArkSimulator, type ArkSimulator } from '../../src/sim/ark.js';
import { FAL_SIM_ASSETS, startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { startKieSimulator, type KieSimulator } from '../../src/sim/kie.js';
import { tempDir } from '../helpers/db.js';
import { FAST_MODELS } from '../helpers/engine-harness.js';
import { publicNetwork, viaPublicName } from '../helpers/public-network.js';
import { botTestStore, type BotStore } from '../helpers/test-store.js';

/**
 * Every model of every provider through the whole bot (composition root, engine, adapters, simulators over
 * real HTTP, webhooks to our own server), and the failure classes each provider can produce. The bot keeps its state
 * in SQLite, or in PostgreSQL under CLIPBOT_TEST_STORE=postgres (test-store.ts).
 */

interface World {
  bot: RunningBot;
  fal: FalSimulator;
  ark: ArkSimulator;
  kie: KieSimulator;
  dir: ReturnType<typeof tempDir>;
  store: BotStore;
}
let world: World | undefined;
afterEach(async () => {
  if (!world) return;
  await world.bot.stop();
  await world.store.release();
  await Promise.all([world.fal.close(), world.ark.close(), world.kie.close()]);
  world.dir.cleanup();
  world = undefined;
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function start(webhooks: boolean, env: Record<string, string> = {}): Promise<World> {
  const timing = { queueMs: 20, runMs: 60 };
  const [fal, ark, kie] = await Promise.all([
    startFalSimulator(timing),
    startArkSimulator(timing),
    startKieSimulator({ ...timing, hdReadyMs: 100, uhdReadyMs: 150, hmacKey: 'kie-hmac' }),
  ]);
  const dir = tempDir();
  const store = await botTestStore(dir.dir);
  const port = await freePort();
  const config = loadConfig({
    DATA_DIR: dir.dir,
    ...store.env,
    HTTP_PORT: String(port),
    LOG_LEVEL: 'silent',
    FETCH_ALLOW_CIDRS: '127.0.0.0/8',
    STATUS_EDIT_INTERVAL_MS: '0',
    STARTING_CREDITS: '5000',
    RATE_LIMIT_JOBS: '100',
    USER_MAX_PENDING_JOBS: '50',
    ...(webhooks ? { PUBLIC_URL: `http://127.0.0.1:${port}` } : {}),
    FAL_KEY: fal.key,
    FAL_QUEUE_URL: fal.url,
    FAL_JWKS_URL: fal.jwksUrl,
    ARK_API_KEY: ark.apiKey,
    ARK_BASE_URL: ark.url,
    KIE_API_KEY: kie.apiKey,
    KIE_BASE_URL: kie.url,
    KIE_WEBHOOK_HMAC_KEY: 'kie-hmac',
    ...env,
  });
  const bot = await startClipbot(config, { logger: silentLogger, models: FAST_MODELS, fetchNetwork: publicNetwork });
  world = { bot, fal, ark, kie, dir, store };
  return world;
}

let seq = 0;
function request(modelId: string, prompt: string, extra: Partial<VideoRequest> = {}): VideoRequest {
  return {
    identity: { platform: 'console', platformUserId: 'ann' },
    dest: { platform: 'console', chatId: 'c', userId: 'ann' },
    intakeKey: `k${++seq}`,
    prompt,
    modelId,
    options: {},
    ...extra,
  };
}

async function ledgerKinds(w: World, jobId: string): Promise<string[]> {
  return (await w.store.rows.ledger())
    .filter((e) => e.jobId === jobId)
    .map((e) => e.kind)
    .sort();
}

/** Every video model of the catalog: a model added there is driven end to end here without listing it again. */
const VIDEO_MODELS = MODELS.filter((m) => m.kind === 'video').map((m) => m.id);
const FAL_VIDEO_MODELS = MODELS.filter((m) => m.kind === 'video' && m.provider === 'fal');

/** A member's image link: served on loopback, named as a public host (members may not link to loopback). */
async function serveImage(): Promise<string> {
  const png = await readFile(FAL_SIM_ASSETS.image);
  const server = http.createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return viaPublicName(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/fox.png`);
}

describe('every model of every provider', () => {
  describe.each([
    ['polling', false],
    ['webhooks', true],
  ])('with %s', (_mode, webhooks) => {
    it.each(VIDEO_MODELS)('makes a video with %s, stored and captured', async (modelId) => {
      const w = await start(webhooks);
      const { job } = await w.bot.engine.submitVideo(request(modelId, 'a red fox running through snow'));
      const done = await w.bot.engine.waitForJob(job.id);
      expect(done.status).toBe('succeeded');
      expect(done.mediaKey).toBe(`results/${job.id}.mp4`);
      expect(await ledgerKinds(w, job.id)).toEqual(['capture', 'hold']);
    });

    it.each(FAL_VIDEO_MODELS.map((m) => [m.id, m.providerModels.imageToVideo]))(
      'animates an image with %s through %s',
      async (modelId, endpoint) => {
        const w = await start(webhooks);
        const imageUrl = await serveImage();
        const { job } = await w.bot.engine.submitVideo(
          request(modelId, 'the fox wakes up and runs away', { imageUrl }),
        );
        expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
        expect(w.fal.requests().map((r) => r.model)).toEqual([endpoint]);
        expect(w.fal.requests()[0]!.input).toMatchObject({ image_url: expect.any(String), aspect_ratio: 'auto' });
      },
    );

    it('makes a music video from a Suno song', async () => {
      const w = await start(webhooks);
      const { job } = await w.bot.engine.submitVideo(
        request('suno-music-video', 'Music video', { musicVideo: { taskId: 'suno1', audioId: 'a-1', author: 'DJ' } }),
      );
      expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
      expect(w.kie.requests()[0]).toBeDefined();
      // Without PUBLIC_URL kie still gets the callBackUrl it requires (the documented placeholder), never called.
      expect(w.kie.requests()[0]!.input.callBackUrl).toMatch(
        webhooks ? /^http:\/\/127\.0\.0\.1:/ : /^https:\/\/api\.example\.com\//,
      );
    });

    it('makes the same song into a video a second time (a Retry) from kie’s existing MP4', async () => {
      const w = await start(webhooks);
      const song = { musicVideo: { taskId: 'suno2', audioId: 'a-2', author: 'DJ' } };
      const first = await w.bot.engine.submitVideo(request('suno-music-video', 'Music video', song));
      expect((await w.bot.engine.waitForJob(first.job.id)).status).toBe('succeeded');
      const again = await w.bot.engine.submitVideo(request('suno-music-video', 'Music video', song));
      const done = await w.bot.engine.waitForJob(again.job.id);
      expect(done.status).toBe('succeeded');
      expect(done.mediaKey).toBe(`results/${again.job.id}.mp4`);
      expect(w.kie.calls.filter((c) => c.route === 'mp4_generate').map((c) => c.code)).toEqual([200, 409]);
      expect(w.kie.requests()).toHaveLength(1);
    });
  });

  it('refuses a prompt that is clearly not English for Veo, before anything is held or sent', async () => {
    const w = await start(false);
    await expect(
      w.bot.engine.submitVideo(request('veo3.1-fast', 'un zorro rojo corriendo por la nieve al atardecer')),
    ).rejects.toThrow(/English prompts only/);
    expect(w.kie.stats.submitCalls).toBe(0);
    const { job } = await w.bot.engine.submitVideo(
      request('seedance-1-pro', 'un zorro rojo corriendo por la nieve al atardecer'),
    );
    expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
  });

  it('delivers Veo at 1080p through the upgrade endpoint', async () => {
    const w = await start(false);
    const { job } = await w.bot.engine.submitVideo(
      request('veo3.1-fast', 'a fox', { options: { resolution: '1080p' } }),
    );
    expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
    expect(w.kie.stats.hdCalls).toBeGreaterThan(0);
  });

  it.each(['veo3.1-fast', 'veo3.1'])('delivers %s at 4K through get-4k-video, priced as 4K', async (modelId) => {
    const w = await start(false);
    const { job } = await w.bot.engine.submitVideo(request(modelId, 'a fox', { options: { resolution: '4k' } }));
    expect(job.price).toBe(modelId === 'veo3.1-fast' ? 480 : 720);
    const done = await w.bot.engine.waitForJob(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.resultUrl).toMatch(/\/output\.mp4$/);
    const uhdTask = w.kie.request(done.resultUrl!.split('/').at(-2)!);
    expect(uhdTask).toMatchObject({ upgradeOf: done.providerTaskId });
    expect(w.kie.stats).toMatchObject({ submissions: 1, hdCalls: 0 });
  });

  it('makes a video for a member who still types a former id (veo3-fast), as veo3.1-fast', async () => {
    const w = await start(false);
    const { job } = await w.bot.engine.submitVideo(request('veo3-fast', 'a fox'));
    expect(job.model).toBe('veo3.1-fast');
    expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
    expect(w.kie.requests()[0]).toMatchObject({ model: 'veo3_fast', input: { generationType: 'TEXT_2_VIDEO' } });
  });
});

describe('the owner’s Ark settings', () => {
  it('sends each Ark model’s own override, and the flex tier only where it is offered', async () => {
    const w = await start(false, {
      ARK_MODEL_ID: 'doubao-seedance-1-0-pro-fast-251015',
      ARK_SEEDANCE_2_MODEL_ID: 'dreamina-seedance-2-0-260128',
      ARK_SERVICE_TIER: 'flex',
    });
    const sent: Record<string, { model: string; tier: unknown }> = {};
    for (const modelId of ['seedance-1-pro-ark', 'seedance-1.5-pro-ark', 'seedance-2-ark', 'seedance-2-fast-ark']) {
      const { job } = await w.bot.engine.submitVideo(request(modelId, `a fox for ${modelId}`));
      expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
      const task = w.ark.requests().find((t) => t.prompt === `a fox for ${modelId}`)!;
      sent[modelId] = { model: task.model, tier: task.body.service_tier };
    }
    expect(sent).toEqual({
      'seedance-1-pro-ark': { model: 'doubao-seedance-1-0-pro-fast-251015', tier: 'flex' },
      'seedance-1.5-pro-ark': { model: 'doubao-seedance-1-5-pro-251215', tier: 'flex' },
      'seedance-2-ark': { model: 'dreamina-seedance-2-0-260128', tier: undefined },
      'seedance-2-fast-ark': { model: 'doubao-seedance-2-0-fast-260128', tier: undefined },
    });
  });
});

describe('each provider’s failures', () => {
  describe.each([['seedance-1-pro'], ['seedance-1-pro-ark'], ['veo3.1-fast']])('with %s', (modelId) => {
    it.each([
      ['[sim:content_policy] a fox', /safety filter rejected/],
      ['[sim:content_policy_input] a fox', /safety filter rejected the prompt/],
      ['[sim:fail] a fox', /./],
      ['[sim:expired_video] a fox', /could no longer be downloaded/],
      ['[sim:html_video] a fox', /not a video/],
    ])('fails %s, says why, and refunds exactly once', async (prompt, reason) => {
      const w = await start(false);
      const { job } = await w.bot.engine.submitVideo(request(modelId, prompt));
      const done = await w.bot.engine.waitForJob(job.id);
      expect(done.status).toBe('failed');
      expect(done.errorMessage).toMatch(reason);
      expect(await ledgerKinds(w, job.id)).toEqual(['hold', 'release']);
    });

    it('waits out a 429 at submit and submits once', async () => {
      const w = await start(false);
      const { job } = await w.bot.engine.submitVideo(request(modelId, '[sim:rate_limit:1] a fox'));
      expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
    });

    it('finishes once when the callback arrives twice', async () => {
      const w = await start(true);
      const { job } = await w.bot.engine.submitVideo(request(modelId, '[sim:dup_webhook] a fox'));
      expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
      expect(await ledgerKinds(w, job.id)).toEqual(['capture', 'hold']);
    });

    it('still finishes, by polling, when the callback never comes', async () => {
      const w = await start(true);
      const { job } = await w.bot.engine.submitVideo(request(modelId, '[sim:no_webhook] a fox'));
      expect((await w.bot.engine.waitForJob(job.id)).status).toBe('succeeded');
    }, 90_000);
  });
});

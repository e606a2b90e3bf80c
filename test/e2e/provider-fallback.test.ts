import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { VideoRequest } from '../../src/core/engine/intake.js';
import { createLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { startArkSimulator, type ArkSimulator } from '../../src/sim/ark.js';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { startKieSimulator, type KieSimulator } from '../../src/sim/kie.js';
import { tempDir } from '../helpers/db.js';
import { FAST_MODELS, FAST_RETRY } from '../helpers/engine-harness.js';
import { botTestStore, type BotStore } from '../helpers/test-store.js';

/**
 * Provider fallback and the kie.ai low-credits alert through the whole bot: the composition root reads
 * PROVIDER_FALLBACK / KIE_LOW_CREDITS, the real adapters talk to the simulators over HTTP, and the owner alerts are
 * read from the bot's own log (no OWNER_ALERT_CHAT: the log is where every alert goes).
 */

interface LogLine {
  msg: string;
  alert?: string;
  [field: string]: unknown;
}

interface World {
  bot: RunningBot;
  fal: FalSimulator;
  ark: ArkSimulator;
  kie: KieSimulator;
  logs: LogLine[];
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

/** The system clock, moved forward when a test says so. */
const clock = (() => {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) };
})();

async function start(env: Record<string, string>): Promise<World> {
  const timing = { queueMs: 20, runMs: 60 };
  const [fal, ark, kie] = await Promise.all([
    startFalSimulator(timing),
    startArkSimulator(timing),
    startKieSimulator({ ...timing, credits: 50_000 }),
  ]);
  const dir = tempDir();
  const store = await botTestStore(dir.dir);
  const logs: LogLine[] = [];
  const config = loadConfig({
    DATA_DIR: dir.dir,
    ...store.env,
    HTTP_PORT: String(await freePort()),
    LOG_LEVEL: 'info',
    FETCH_ALLOW_CIDRS: '127.0.0.0/8',
    STATUS_EDIT_INTERVAL_MS: '0',
    STARTING_CREDITS: '5000',
    RATE_LIMIT_JOBS: '100',
    FAL_KEY: fal.key,
    FAL_QUEUE_URL: fal.url,
    FAL_JWKS_URL: fal.jwksUrl,
    ARK_API_KEY: ark.apiKey,
    ARK_BASE_URL: ark.url,
    KIE_API_KEY: kie.apiKey,
    KIE_BASE_URL: kie.url,
    ...env,
  });
  const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const bot = await startClipbot(config, { logger, clock, models: FAST_MODELS, retry: FAST_RETRY });
  world = { bot, fal, ark, kie, logs, dir, store };
  return world;
}

let seq = 0;
function request(modelId: string, prompt: string): VideoRequest {
  return {
    identity: { platform: 'console', platformUserId: 'ann' },
    dest: { platform: 'console', chatId: 'c', userId: 'ann' },
    intakeKey: `k${++seq}`,
    prompt,
    modelId,
    options: modelId.startsWith('veo') ? {} : { resolution: '480p', duration: 5 },
  };
}

async function video(w: World, modelId: string, prompt: string) {
  const { job } = await w.bot.engine.submitVideo(request(modelId, prompt));
  return w.bot.engine.waitForJob(job.id);
}

const alerts = (w: World, kind: string) => w.logs.filter((l) => l.alert === kind);

describe('PROVIDER_FALLBACK=on through the whole bot', () => {
  it('sends Seedance jobs to Ark once fal fails PROVIDER_FALLBACK_ERRORS submits, alerts once, and takes fal back after a probe', async () => {
    const w = await start({ PROVIDER_FALLBACK: 'on', PROVIDER_FALLBACK_ERRORS: '2', PROVIDER_PROBE_S: '5' });
    expect((await video(w, 'seedance-2', 'a fox before')).provider).toBe('fal');
    w.fal.injectFault({ kind: 'server_error', status: 503 }, { times: 10_000 });

    const moved = await video(w, 'seedance-2', 'a fox during');
    expect(moved).toMatchObject({ status: 'succeeded', provider: 'ark', model: 'seedance-2-ark', attempts: 2 });
    expect((await video(w, 'seedance-2', 'a fox later')).provider).toBe('ark');
    expect(w.fal.submissionsFor('a fox later')).toBe(0);
    expect(alerts(w, 'provider_skipped')).toHaveLength(1);
    expect(alerts(w, 'provider_skipped')[0]).toMatchObject({ provider: 'fal', reason: 'transient' });

    w.fal.clearFaults();
    await w.bot.providerHealth!.probeDue();
    expect(alerts(w, 'provider_back')).toHaveLength(1);
    expect((await video(w, 'seedance-2', 'a fox after')).provider).toBe('fal');
  });

  it('is off by default: fal’s jobs fail on fal, none goes to Ark', async () => {
    const w = await start({});
    expect(w.bot.providerHealth).toBeUndefined();
    w.fal.injectFault({ kind: 'server_error', status: 503 }, { times: 10_000 });
    expect(await video(w, 'seedance-1-pro', 'a fox during')).toMatchObject({ status: 'failed', provider: 'fal' });
    expect(w.ark.stats.createCalls).toBe(0);
  });
});

describe('KIE_LOW_CREDITS', () => {
  it('alerts the owners once when kie’s credits fall below it, not at every check, and again after a top-up and a new drop', async () => {
    const w = await start({ KIE_LOW_CREDITS: '1000' });
    await w.bot.kieBalance!.check();
    expect(alerts(w, 'provider_balance_low')).toHaveLength(0);

    // A kie job's end checks too (in the background), once the last check is 5 minutes old.
    w.kie.setCredits(400);
    clock.advance(5 * 60_000);
    expect((await video(w, 'veo3.1-fast', 'a fox on veo')).status).toBe('succeeded');
    await vi.waitFor(() => expect(alerts(w, 'provider_balance_low')).toHaveLength(1));
    await w.bot.kieBalance!.check();
    await w.bot.kieBalance!.check();
    expect(alerts(w, 'provider_balance_low')).toEqual([
      expect.objectContaining({ provider: 'kie', balance: 400, threshold: 1000 }),
    ]);
    expect(w.kie.calls.filter((c) => c.route === 'credit')).toHaveLength(4);

    w.kie.setCredits(5000);
    await w.bot.kieBalance!.check();
    w.kie.setCredits(10);
    await w.bot.kieBalance!.check();
    expect(alerts(w, 'provider_balance_low').map((a) => a.balance)).toEqual([400, 10]);
  });
});

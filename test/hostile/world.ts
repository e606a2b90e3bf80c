import net from 'node:net';
import { eq } from 'drizzle-orm';
import { openDb, type Db } from '../../db/client.js';
import { jobs, ledgerEntries, webhookDeliveries, type Job } from '../../db/schema.js';
import { loadConfig } from '../../src/config.js';
import type { VideoRequest } from '../../src/core/engine/intake.js';
import type { Logger } from '../../src/core/ports.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot, type StartOptions } from '../../src/main.js';
import { startArkSimulator, type ArkSimulator } from '../../src/sim/ark.js';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { startKieSimulator, type KieSimulator } from '../../src/sim/kie.js';
import { tempDir } from '../helpers/db.js';
import { FAST_MODELS } from '../helpers/engine-harness.js';

/** The whole bot (composition root, HTTP server, engine) against all three simulators, for the hostile suites. */
export interface World {
  bot: RunningBot;
  fal: FalSimulator;
  ark: ArkSimulator;
  kie: KieSimulator;
  dir: string;
  /** A second connection to the bot's database (WAL), for assertions. */
  db: Db;
  url: string;
  kieHmacKey: string;
  close(): Promise<void>;
}

export const KIE_HMAC_KEY = 'kie-hmac-key-for-tests';

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startWorld(
  options: {
    webhooks?: boolean;
    logger?: Logger;
    env?: Record<string, string>;
    keys?: { fal?: string; ark?: string; kie?: string; kieHmac?: string };
    /** Name resolution and dialling for the media fetcher (see test/helpers/public-network.ts). */
    fetchNetwork?: StartOptions['fetchNetwork'];
  } = {},
): Promise<World> {
  const timing = { queueMs: 20, runMs: 60 };
  const kieHmacKey = options.keys?.kieHmac ?? KIE_HMAC_KEY;
  const [fal, ark, kie] = await Promise.all([
    startFalSimulator({ ...timing, ...(options.keys?.fal ? { key: options.keys.fal } : {}) }),
    startArkSimulator({ ...timing, ...(options.keys?.ark ? { apiKey: options.keys.ark } : {}) }),
    startKieSimulator({
      ...timing,
      hdReadyMs: 100,
      hmacKey: kieHmacKey,
      ...(options.keys?.kie ? { apiKey: options.keys.kie } : {}),
    }),
  ]);
  const dir = tempDir('clipbot-hostile-');
  const port = await freePort();
  const config = loadConfig({
    DATA_DIR: dir.dir,
    HTTP_PORT: String(port),
    LOG_LEVEL: 'silent',
    FETCH_ALLOW_CIDRS: '127.0.0.0/8',
    STATUS_EDIT_INTERVAL_MS: '0',
    STARTING_CREDITS: '5000',
    RATE_LIMIT_JOBS: '100',
    USER_MAX_PENDING_JOBS: '50',
    USER_MAX_RUNNING_JOBS: '8',
    ...(options.webhooks ? { PUBLIC_URL: `http://127.0.0.1:${port}` } : {}),
    FAL_KEY: fal.key,
    FAL_QUEUE_URL: fal.url,
    FAL_JWKS_URL: fal.jwksUrl,
    ARK_API_KEY: ark.apiKey,
    ARK_BASE_URL: ark.url,
    KIE_API_KEY: kie.apiKey,
    KIE_BASE_URL: kie.url,
    KIE_WEBHOOK_HMAC_KEY: kieHmacKey,
    ...options.env,
  });
  const bot = await startClipbot(config, {
    logger: options.logger ?? silentLogger,
    models: FAST_MODELS,
    ...(options.fetchNetwork ? { fetchNetwork: options.fetchNetwork } : {}),
  });
  const db = openDb(`${dir.dir}/clipbot.db`);
  return {
    bot,
    fal,
    ark,
    kie,
    dir: dir.dir,
    db,
    url: `http://127.0.0.1:${bot.port}`,
    kieHmacKey,
    async close() {
      await bot.stop();
      db.$client.close();
      await Promise.all([fal.close(), ark.close(), kie.close()]);
      dir.cleanup();
    },
  };
}

let seq = 0;
export function videoRequest(
  modelId: string,
  prompt: string,
  user = 'ann',
  extra: Partial<VideoRequest> = {},
): VideoRequest {
  return {
    identity: { platform: 'console', platformUserId: user },
    dest: { platform: 'console', chatId: 'c', userId: user },
    intakeKey: `hostile:${++seq}:${Math.random().toString(36).slice(2)}`,
    prompt,
    modelId,
    options: {},
    ...extra,
  };
}

export function jobRow(db: Db, id: string): Job {
  return db.select().from(jobs).where(eq(jobs.id, id)).get()!;
}

export function ledgerKinds(db: Db, jobId: string): string[] {
  return db
    .select()
    .from(ledgerEntries)
    .where(eq(ledgerEntries.jobId, jobId))
    .all()
    .map((e) => e.kind)
    .sort();
}

/** Everything a hostile request could move: job states, ledger rows, recorded webhook deliveries. */
export function worldState(db: Db) {
  return {
    jobs: db
      .select({ id: jobs.id, status: jobs.status, error: jobs.errorMessage })
      .from(jobs)
      .all()
      .sort((a, b) => a.id.localeCompare(b.id)),
    ledger: db.select().from(ledgerEntries).all().length,
    deliveries: db.select().from(webhookDeliveries).all().length,
  };
}

/** Waits (bounded) for a condition the bot reaches asynchronously. */
export async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

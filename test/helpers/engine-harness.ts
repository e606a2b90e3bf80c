import path from 'node:path';
import type { Job } from '../../db/schema.js';
import { listBlockedTerms } from '../../src/core/admin.js';
import { MODELS, type ModelSpec } from '../../src/core/catalog.js';
import { balanceOf } from '../../src/core/credits/ledger.js';
import { Engine, type EngineSettings } from '../../src/core/engine/engine.js';
import type { RetryPolicy } from '../../src/core/engine/retry.js';
import type { VideoRequest } from '../../src/core/engine/intake.js';
import { createPrefilter } from '../../src/core/moderation/prefilter.js';
import type {
  ChatPlatform,
  Clock,
  EngineObserver,
  JobDestination,
  Logger,
  MediaStore,
  MessageRef,
  ResultDelivery,
  StatusView,
  VideoProvider,
} from '../../src/core/ports.js';
import { findUser } from '../../src/core/users.js';
import { silentLogger } from '../../src/logger.js';
import { readLastFramePng } from '../../src/media/last-frame.js';
import { createLocalMediaStore, type LocalMediaStore } from '../../src/media/local-store.js';
import { createSafeFetcher, type SafeFetcherOptions } from '../../src/media/safe-fetch.js';
import { createArkProvider, type ArkProvider } from '../../src/providers/ark.js';
import { createFalProvider, type FalProvider } from '../../src/providers/fal.js';
import { createKieProvider, type KieProvider } from '../../src/providers/kie.js';
import { createHttpServer, type HttpServer } from '../../src/server/http-server.js';
import { startArkSimulator, type ArkSimOptions, type ArkSimulator } from '../../src/sim/ark.js';
import { startFalSimulator, type FalSimOptions, type FalSimulator } from '../../src/sim/fal.js';
import { startKieSimulator, type KieSimOptions, type KieSimulator } from '../../src/sim/kie.js';
import type { Store } from '../../src/core/store.js';
import type { ProviderHealth } from '../../src/core/health/provider-health.js';
import { createTestClock } from '../providers/conformance.js';
import { tempDir } from './db.js';
import { openTestStore, type StoreRows, type TestStore } from './test-store.js';

/**
 * A chat platform that records what the engine asked of it: the real port, with memory instead of a chat.
 * It is a fake of the outside world (a chat service), not of our own code.
 */
export class RecordingPlatform implements ChatPlatform {
  readonly id = 'console' as const;
  readonly posts: { dest: JobDestination; view: StatusView; ref: MessageRef }[] = [];
  readonly edits: { ref: MessageRef; view: StatusView }[] = [];
  readonly deliveries: { dest: JobDestination; delivery: ResultDelivery }[] = [];
  readonly notices: { dest: JobDestination; text: string }[] = [];
  private seq = 0;

  async postStatus(dest: JobDestination, view: StatusView): Promise<MessageRef> {
    const ref = { platform: this.id, chatId: dest.chatId, messageId: `m${++this.seq}` };
    this.posts.push({ dest, view, ref });
    return ref;
  }
  async editStatus(ref: MessageRef, view: StatusView): Promise<boolean> {
    this.edits.push({ ref, view });
    return true;
  }
  async deliver(dest: JobDestination, delivery: ResultDelivery): Promise<{ ref: string }> {
    this.deliveries.push({ dest, delivery });
    return { ref: `d${++this.seq}` };
  }
  async notify(dest: JobDestination, text: string): Promise<void> {
    this.notices.push({ dest, text });
  }
  textsFor(jobId: string): string[] {
    return [
      ...this.posts.filter((p) => p.view.jobId === jobId).map((p) => p.view.text),
      ...this.edits.filter((e) => e.view.jobId === jobId).map((e) => e.view.text),
    ];
  }
}

export interface HarnessOptions {
  sim?: FalSimOptions;
  settings?: Partial<EngineSettings>;
  models?: readonly ModelSpec[];
  /** Serve webhooks: the engine gets a webhook base URL pointing at a local HTTP server. */
  webhooks?: boolean;
  blocklist?: string[];
  /** Overrides for the media fetcher (default: 127.0.0.0/8 allowed for operator URLs, the system resolver). */
  fetcher?: Partial<Pick<SafeFetcherOptions, 'allowCidrs' | 'lookup' | 'dialAddress'>>;
  /** The clock of the engine, the adapters and the simulators (default: real time the test can advance). */
  clock?: Clock;
  /** Told of engine events, as metrics and owner alerts are in production. */
  observer?: (db: Store) => EngineObserver;
  /** Deadline of each fal HTTP request (the adapter's default is 30 s); short for tests of a provider that hangs. */
  falTimeoutMs?: number;
  /** Also run the kie.ai simulator behind a real kie adapter (Veo and Suno models), signing with `hmacKey` if set. */
  kie?: KieSimOptions;
  /** Also run the Ark simulator behind a real Ark adapter. */
  ark?: ArkSimOptions;
  /** The chat the engine posts to (default: a new RecordingPlatform); a test of a failing chat passes its own. */
  platform?: RecordingPlatform;
  /** The engine's logger (default: silent); a test that waits for what the engine says passes its own. */
  logger?: Logger;
  /** Wraps the real local store, to inject faults at the storage port (a full disk, say). */
  wrapStore?: (store: LocalMediaStore) => MediaStore;
  /** Provider health for PROVIDER_FALLBACK, made on the harness's store (again at each boot). */
  health?: (db: Store) => ProviderHealth;
}

export const FAST_MODELS: ModelSpec[] = MODELS.map((m) => ({
  ...m,
  expectedSecondsPer5s: { '480p': 1, '720p': 1, '1080p': 1, '4k': 1 },
  ...(m.flat ? { flat: { ...m.flat, expectedSeconds: 1 } } : {}),
  timeoutSeconds: 30,
}));

/** Short backoffs, so a fault that outlasts the retries is given up on in moments. */
export const FAST_RETRY: RetryPolicy = { maxAttempts: 4, baseMs: 20, maxMs: 200 };

const BASE_SETTINGS: EngineSettings = {
  defaultModel: 'seedance-1-pro',
  startingCredits: 200,
  freeDailyCredits: 0,
  rateLimitJobs: 100,
  rateLimitWindowS: 600,
  userMaxPendingJobs: 100,
  dailyJobQuota: 100,
  maxRunningJobs: 8,
  providerMaxRunningJobs: 8,
  userMaxRunningJobs: 8,
  statusEditIntervalMs: 0,
  maxResultBytes: 5 * 1024 * 1024,
  maxInputImageBytes: 1024 * 1024,
  mediaIsPublic: false,
  retry: FAST_RETRY,
};

/** The real engine on a temp SQLite file, a real fal adapter against the fal simulator, real storage. */
export class EngineHarness {
  engine!: Engine;
  db!: Store;
  private testStore: TestStore | undefined;
  fal!: FalProvider;
  private extraProviders: (KieProvider | ArkProvider)[] = [];
  server: HttpServer | undefined;
  readonly platform: RecordingPlatform;
  private constructor(
    readonly sim: FalSimulator,
    readonly dir: string,
    private readonly cleanupDir: () => void,
    private readonly options: HarnessOptions,
    readonly kie: KieSimulator | undefined,
    readonly ark: ArkSimulator | undefined,
    readonly clock: Clock,
  ) {
    this.platform = options.platform ?? new RecordingPlatform();
  }

  /** Base URL of the harness's HTTP server (webhooks mode). */
  serverUrl = '';

  static async start(options: HarnessOptions = {}): Promise<EngineHarness> {
    const clock = options.clock ?? createTestClock();
    const [sim, kie, ark] = await Promise.all([
      startFalSimulator({ queueMs: 30, runMs: 80, clock, ...options.sim }),
      options.kie && startKieSimulator({ queueMs: 30, runMs: 80, clock, ...options.kie }),
      options.ark && startArkSimulator({ queueMs: 30, runMs: 80, clock, ...options.ark }),
    ]);
    const { dir, cleanup } = tempDir();
    const h = new EngineHarness(sim, dir, cleanup, options, kie, ark, clock);
    await h.boot();
    return h;
  }

  /** Builds and starts an engine on the harness's database file (again, after `crash()`). */
  async boot(): Promise<void> {
    // The first boot opens the test's store (SQLite, or PostgreSQL under CLIPBOT_TEST_STORE=postgres); a boot after
    // crash() opens it again on the same data, as a restarted process would.
    this.db = this.testStore ? await this.testStore.reopen() : (this.testStore = await openTestStore(this.dir)).store;
    let baseUrl = '';
    const local = createLocalMediaStore({ dir: path.join(this.dir, 'media'), publicBaseUrl: () => baseUrl });
    const store = this.options.wrapStore?.(local) ?? local;
    const fetcher = createSafeFetcher({ allowCidrs: ['127.0.0.0/8'], deadlineMs: 5000, ...this.options.fetcher });
    const timeout = this.options.falTimeoutMs !== undefined ? { timeoutMs: this.options.falTimeoutMs } : {};
    this.fal = createFalProvider({
      key: this.sim.key,
      queueUrl: this.sim.url,
      jwksUrls: [this.sim.jwksUrl],
      clock: this.clock,
      logger: silentLogger,
      ...timeout,
    });
    this.extraProviders = [];
    if (this.kie) {
      const hmac = this.options.kie?.hmacKey;
      this.extraProviders.push(
        createKieProvider({
          apiKey: this.kie.apiKey,
          baseUrl: this.kie.url,
          clock: this.clock,
          logger: silentLogger,
          ...(hmac ? { webhookHmacKey: hmac } : {}),
        }),
      );
    }
    if (this.ark)
      this.extraProviders.push(
        createArkProvider({ apiKey: this.ark.apiKey, baseUrl: this.ark.url, clock: this.clock, logger: silentLogger }),
      );
    const db = this.db;
    const prefilter = createPrefilter({
      configTerms: this.options.blocklist ?? [],
      loadDbTerms: () => listBlockedTerms(db),
      failOpen: false,
      logger: silentLogger,
    });
    let engineRef: Engine | undefined;
    if (this.options.webhooks) {
      this.server = createHttpServer({
        mediaDir: path.join(this.dir, 'media'),
        logger: silentLogger,
        webhooks: (provider, request) => engineRef!.handleWebhook(provider, request),
      });
      const port = await this.server.listen(0);
      baseUrl = `http://127.0.0.1:${port}`;
      this.serverUrl = baseUrl;
    } else {
      baseUrl = 'http://127.0.0.1:9';
    }
    this.engine = new Engine({
      db: this.db,
      clock: this.clock,
      logger: this.options.logger ?? silentLogger,
      ...(this.options.observer ? { observer: this.options.observer(this.db) } : {}),
      ...(this.options.health ? { health: this.options.health(this.db) } : {}),
      models: this.options.models ?? FAST_MODELS,
      providers: new Map<string, VideoProvider>([this.fal, ...this.extraProviders].map((p) => [p.id, p])),
      platforms: new Map([['console', this.platform]]),
      store,
      fetcher,
      lastFramePng: readLastFramePng,
      prefilter,
      settings: {
        ...BASE_SETTINGS,
        ...(this.options.webhooks ? { webhookBaseUrl: baseUrl } : {}),
        ...this.options.settings,
      },
    });
    engineRef = this.engine;
    await this.engine.start();
  }

  /** Stops the engine as a killed process would leave it: nothing settled, nothing finished. */
  async crash(): Promise<void> {
    await this.engine.stop();
    await this.server?.close(0);
    for (const provider of [this.fal, ...this.extraProviders]) await provider.close();
    await this.db.close();
  }

  request(user: string, prompt: string, extra: Partial<VideoRequest> = {}): VideoRequest {
    return {
      identity: { platform: 'console', platformUserId: user },
      dest: { platform: 'console', chatId: 'chat', userId: user },
      intakeKey: `console:chat:${user}:${Math.random().toString(36).slice(2)}`,
      prompt,
      modelId: 'seedance-1-pro',
      options: { resolution: '480p', duration: 5 },
      ...extra,
    };
  }

  async submit(user: string, prompt: string, extra: Partial<VideoRequest> = {}): Promise<Job> {
    return (await this.engine.submitVideo(this.request(user, prompt, extra))).job;
  }

  async job(id: string): Promise<Job> {
    return (await this.db.jobs.get(id))!;
  }

  async balance(user: string): Promise<number> {
    const u = await findUser(this.db, 'console', user);
    return u ? balanceOf(this.db, u.id) : 0;
  }

  /** The store again after crash(), for a test that writes what a killed process would have left; close it before boot(). */
  reopenStore(): Promise<Store> {
    return this.testStore!.reopen();
  }

  /** Raw rows, which the port has no operation for. */
  get rows(): StoreRows {
    return this.testStore!.rows;
  }

  async ledgerFor(jobId: string) {
    return (await this.rows.ledger()).filter((e) => e.jobId === jobId);
  }

  async holdCount(): Promise<number> {
    return (await this.rows.ledger()).filter((e) => e.kind === 'hold').length;
  }

  async jobCount(): Promise<number> {
    return (await this.rows.jobs()).length;
  }

  async close(): Promise<void> {
    if (this.db.isOpen()) await this.crash();
    await Promise.all([this.sim.close(), this.kie?.close(), this.ark?.close()]);
    await this.testStore?.cleanup();
    this.cleanupDir();
  }
}

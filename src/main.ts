import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CommandDeps } from '../commands/types.js';
import { arkModelIds, ConfigError, loadConfig, loadEnvFile, redactedConfig, type Config } from './config.js';
import { MODELS, type ModelSpec } from './core/catalog.js';
import { withPrices } from './core/prices.js';
import { runDoctor } from './doctor/doctor.js';
import { createOwnerNotifier } from './core/alerts/owner-notifier.js';
import { createProviderAlerts } from './core/alerts/provider-alerts.js';
import { createSpendAlerts } from './core/alerts/spend-alerts.js';
import { createBalanceAlerts, type BalanceAlerts } from './core/alerts/balance-alerts.js';
import { ProviderHealthMonitor, type ProviderProbe } from './core/health/provider-health.js';
import type { CheckResult } from './doctor/check.js';
import { checkArk, checkFal, checkKie } from './doctor/provider-checks.js';
import { Engine } from './core/engine/engine.js';
import type { RetryPolicy } from './core/engine/retry.js';
import { listBlockedTerms } from './core/admin.js';
import { pruneExpiredMedia } from './core/media-retention.js';
import { pruneWebhookDeliveries } from './core/webhook-deliveries.js';
import { createPrefilter } from './core/moderation/prefilter.js';
import { combineObservers } from './core/observers.js';
import {
  systemClock,
  type ChatPlatform,
  type Clock,
  type Logger,
  type PlatformId,
  type VideoProvider,
} from './core/ports.js';
import { createLogger } from './logger.js';
import { readLastFramePng } from './media/last-frame.js';
import { createLocalMediaStore } from './media/local-store.js';
import { s3StoreFromConfig } from './media/store-from-config.js';
import { createSafeFetcher, type SafeFetcherOptions } from './media/safe-fetch.js';
import { openStore } from './store/open.js';
import type { PlatformAdapter } from './platforms/platform-adapter.js';
import { createConsolePlatform, createLineOutput, type ConsoleOutput } from './platforms/console/console-platform.js';
import { runConsoleInteractive, runConsoleOneShot } from './platforms/console/console-chat.js';
import { createDiscordAdapter } from './platforms/discord/discord-adapter.js';
import { createTelegramAdapter } from './platforms/telegram/telegram-adapter.js';
import { createArkProvider } from './providers/ark.js';
import { createFalProvider } from './providers/fal.js';
import { createKieProvider, type KieProvider } from './providers/kie.js';
import { createOpenAiModeration } from './providers/openai-moderation.js';
import { createHttpServer } from './server/http-server.js';
import { createMetrics } from './server/metrics.js';
import { metricsAccessOnMainServer, startMetricsListener } from './server/metrics-access.js';
import { summarizeStartup } from './startup-summary.js';

/**
 * The composition root: the only module that knows every concrete part. It reads nothing from the
 * environment itself (config arrives parsed) so tests and the demo can start the whole bot in-process.
 */

export interface ConsoleMode {
  /** Commands to run in order, then exit (one-shot); none = interactive prompt on stdin. */
  commands: readonly string[];
  output?: NodeJS.WritableStream;
  input?: NodeJS.ReadableStream;
}

export interface StartOptions {
  logger?: Logger;
  clock?: Clock;
  /** The catalog; the demo passes one whose expected durations match its simulators. */
  models?: readonly ModelSpec[];
  /** Bounds of the engine's retries of transient failures; tests shorten the backoff. Default `DEFAULT_RETRY`. */
  retry?: RetryPolicy;
  console?: ConsoleMode;
  /**
   * Tests only: name resolution and dialling for the media fetcher, so fakes on loopback can stand behind
   * public-looking names (member URLs may reach public addresses only). Config cannot set it.
   */
  fetchNetwork?: Pick<SafeFetcherOptions, 'lookup' | 'dialAddress'>;
}

export interface RunningBot {
  engine: Engine;
  port: number;
  /** The METRICS_PORT listener's port, when there is one. */
  metricsPort?: number;
  /** Base of our own URLs (PUBLIC_URL, or the local address the server bound). */
  baseUrl: string;
  /** With a console: resolves with the exit code when the console session ends. */
  consoleDone?: Promise<number>;
  /** PROVIDER_FALLBACK=on: the shared provider health (its probes run on a timer; `probeDue()` runs them now). */
  providerHealth?: ProviderHealthMonitor;
  /** KIE_LOW_CREDITS with kie.ai configured: the low-credits alert (`check()` reads the balance now). */
  kieBalance?: BalanceAlerts;
  stop(): Promise<void>;
}

export async function startClipbot(config: Config, options: StartOptions = {}): Promise<RunningBot> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const clock = options.clock ?? systemClock;
  const db = await openStore(config, logger);
  const instance = randomBytes(8).toString('hex');

  let baseUrl = config.PUBLIC_URL?.replace(/\/$/, '') ?? '';
  const store =
    config.STORAGE === 's3'
      ? s3StoreFromConfig(config, logger)
      : createLocalMediaStore({ dir: path.join(config.dataDir, 'media'), publicBaseUrl: () => baseUrl });
  // Downloads cut short by a crash leave temp files behind; a day is far longer than any download.
  await store.removeStaleTemp(86_400_000).catch(() => 0);
  const fetcher = createSafeFetcher({
    allowCidrs: config.FETCH_ALLOW_CIDRS,
    deadlineMs: config.FETCH_TIMEOUT_S * 1000,
    ...options.fetchNetwork,
  });

  const models = withPrices(withArkModels(options.models ?? MODELS, arkModelIds(config)), config.modelPrices);
  const providers = new Map<string, VideoProvider>();
  let kieAccount: KieProvider | undefined;
  const closers: (() => Promise<void>)[] = [() => fetcher.close()];
  if ('close' in store) closers.push(() => store.close());
  if (config.FAL_KEY) {
    const fal = createFalProvider({
      key: config.FAL_KEY,
      queueUrl: config.FAL_QUEUE_URL,
      jwksUrls: config.FAL_JWKS_URL,
      clock,
      logger,
      ...(config.FAL_USER_ID ? { webhookUserId: config.FAL_USER_ID } : {}),
    });
    providers.set(fal.id, fal);
    closers.push(() => fal.close());
  }
  if (config.ARK_API_KEY) {
    const ark = createArkProvider({
      apiKey: config.ARK_API_KEY,
      baseUrl: config.ARK_BASE_URL,
      clock,
      logger,
      ...(config.ARK_SERVICE_TIER ? { serviceTier: config.ARK_SERVICE_TIER, flexModels: flexModelIds(models) } : {}),
    });
    providers.set(ark.id, ark);
    closers.push(() => ark.close());
  }
  if (config.KIE_API_KEY) {
    const kie = createKieProvider({
      apiKey: config.KIE_API_KEY,
      baseUrl: config.KIE_BASE_URL,
      clock,
      logger,
      ...(config.KIE_WEBHOOK_HMAC_KEY ? { webhookHmacKey: config.KIE_WEBHOOK_HMAC_KEY } : {}),
    });
    providers.set(kie.id, kie);
    kieAccount = kie;
    closers.push(() => kie.close());
  }
  if (providers.size === 0)
    logger.warn('no video provider key is set (FAL_KEY, ARK_API_KEY, KIE_API_KEY): /video has no model to offer');

  const moderation = config.MODERATION_URL
    ? createOpenAiModeration({
        url: config.MODERATION_URL,
        timeoutMs: config.MODERATION_TIMEOUT_MS,
        ...(config.MODERATION_API_KEY ? { apiKey: config.MODERATION_API_KEY } : {}),
      })
    : undefined;
  const prefilter = createPrefilter({
    configTerms: config.BLOCKLIST,
    loadDbTerms: () => listBlockedTerms(db),
    failOpen: config.MODERATION_FAIL_OPEN,
    logger,
    ...(moderation ? { moderation } : {}),
  });

  const platforms = new Map<PlatformId, ChatPlatform>();
  let consoleOutput: ConsoleOutput | undefined;
  if (options.console) {
    const stream = options.console.output ?? process.stdout;
    const redraw = options.console.commands.length === 0 && (stream as NodeJS.WriteStream).isTTY === true;
    consoleOutput = createLineOutput(stream, redraw);
    platforms.set('console', createConsolePlatform(consoleOutput));
  }
  const metrics = createMetrics(db);
  const adapters: PlatformAdapter[] = [];
  // Platform adapters: one line each, enabled by their token.
  if (config.DISCORD_TOKEN)
    adapters.push(
      createDiscordAdapter({ config, logger, clock, onRateLimited: () => metrics.platformRateLimited('discord') }),
    );
  if (config.TELEGRAM_TOKEN) {
    adapters.push(
      createTelegramAdapter({
        config,
        logger,
        store,
        fetcher,
        clock,
        onRateLimited: () => metrics.platformRateLimited('telegram'),
      }),
    );
  }
  for (const adapter of adapters) platforms.set(adapter.platform.id, adapter.platform);

  const notifier = createOwnerNotifier({
    logger,
    platforms,
    chat: config.OWNER_ALERT_CHAT,
    ownerIds: config.OWNER_IDS,
  });
  // Provider fallback and health (PROVIDER_FALLBACK), and the kie.ai low-credits alert (KIE_LOW_CREDITS).
  const providerHealth = config.PROVIDER_FALLBACK
    ? new ProviderHealthMonitor({
        db,
        clock,
        logger,
        notifier,
        models,
        providers: new Set(providers.keys()),
        probes: providerProbes(config),
        settings: { failuresInARow: config.PROVIDER_FALLBACK_ERRORS, probeIntervalMs: config.PROVIDER_PROBE_S * 1000 },
      })
    : undefined;
  const account = kieAccount;
  const kieBalance =
    account && config.KIE_LOW_CREDITS > 0
      ? createBalanceAlerts({
          db,
          clock,
          logger,
          notifier,
          provider: 'kie',
          unit: 'credits',
          threshold: config.KIE_LOW_CREDITS,
          readBalance: () => account.credits(),
        })
      : undefined;
  const engine = new Engine({
    observer: combineObservers(
      logger,
      metrics.observer,
      createSpendAlerts({
        db,
        clock,
        notifier,
        settings: {
          budgetDailyUsd: config.BUDGET_DAILY_USD,
          budgetMonthlyUsd: config.BUDGET_MONTHLY_USD,
          warnPercent: config.BUDGET_WARN_PERCENT,
        },
      }),
      createProviderAlerts({ clock, notifier, settings: { errorsInARow: config.PROVIDER_ALERT_ERRORS } }),
      ...(kieBalance ? [kieBalance] : []),
    ),
    ...(providerHealth ? { health: providerHealth } : {}),
    db,
    clock,
    logger,
    models,
    providers,
    platforms,
    store,
    fetcher,
    lastFramePng: readLastFramePng,
    prefilter,
    settings: {
      defaultModel: config.DEFAULT_MODEL,
      startingCredits: config.STARTING_CREDITS,
      freeDailyCredits: config.FREE_DAILY_CREDITS,
      confirmAboveCredits: config.CONFIRM_ABOVE_CREDITS,
      rateLimitJobs: config.RATE_LIMIT_JOBS,
      rateLimitWindowS: config.RATE_LIMIT_WINDOW_S,
      userMaxPendingJobs: config.USER_MAX_PENDING_JOBS,
      dailyJobQuota: config.DAILY_JOB_QUOTA,
      budgetDailyUsd: config.BUDGET_DAILY_USD,
      budgetMonthlyUsd: config.BUDGET_MONTHLY_USD,
      maxRunningJobs: config.MAX_RUNNING_JOBS,
      providerMaxRunningJobs: config.PROVIDER_MAX_RUNNING_JOBS,
      userMaxRunningJobs: config.USER_MAX_RUNNING_JOBS,
      statusChecksPerSecond: config.PROVIDER_STATUS_CHECKS_PER_S,
      statusEditIntervalMs: config.STATUS_EDIT_INTERVAL_MS,
      leaseMs: config.JOB_LEASE_S * 1000,
      maxResultBytes: config.MAX_RESULT_MB * 1024 * 1024,
      maxInputImageBytes: config.MAX_INPUT_IMAGE_MB * 1024 * 1024,
      webhookBaseUrl: config.PUBLIC_URL?.replace(/\/$/, ''),
      mediaIsPublic: config.PUBLIC_URL !== undefined,
      intakeInProgress: { total: config.MAX_INTAKE_IN_PROGRESS, perUser: config.USER_MAX_INTAKE_IN_PROGRESS },
      ...(options.retry ? { retry: options.retry } : {}),
    },
  });

  const metricsAccess = metricsAccessOnMainServer({
    token: config.METRICS_TOKEN,
    publicUrl: config.PUBLIC_URL,
    httpHost: config.HTTP_HOST,
  });
  const server = createHttpServer({
    mediaDir: path.join(config.dataDir, 'media'),
    logger,
    webhooks: (provider, request) => engine.handleWebhook(provider, request),
    webhookProviders: [...providers.keys()],
    // A nonce per process: `npm run doctor` proves that PUBLIC_URL reaches this very process, not just a server.
    health: () => ({ ok: db.isOpen(), instance }),
    routes: adapters.flatMap((a) => a.httpRoutes ?? []),
    ...(metricsAccess.kind !== 'off' ? { metrics: () => metrics.render() } : {}),
    ...(metricsAccess.kind === 'token' ? { metricsToken: metricsAccess.token } : {}),
    onWebhookRejected: (provider) => metrics.webhookRejected(provider),
  });
  const port = await server.listen(config.HTTP_PORT, config.HTTP_HOST);
  const metricsListener =
    config.METRICS_PORT !== undefined
      ? await startMetricsListener(config.METRICS_PORT, () => metrics.render())
      : undefined;
  if (metricsListener) closers.push(() => metricsListener.close());
  if (metricsAccess.kind === 'off' && !metricsListener) {
    logger.info(
      '/metrics is off on the public HTTP server: set METRICS_TOKEN (bearer) or METRICS_PORT (loopback listener) to scrape it',
    );
  }
  if (!baseUrl)
    baseUrl = `http://${config.HTTP_HOST.includes(':') ? `[${config.HTTP_HOST}]` : config.HTTP_HOST}:${port}`;
  logger.debug({ config: redactedConfig(config) }, 'configuration');

  await engine.start();
  // Clean-ups run in the background (a timer waits for no one); each logs its own failure.
  const pruneMedia = () => {
    void pruneWebhookDeliveries(db, clock)
      .then((forgotten) => forgotten && logger.info({ forgotten }, 'forgot webhook deliveries older than 7 days'))
      .catch((error: unknown) => logger.warn({ err: error }, 'webhook delivery clean-up failed'));
    // Quotes last 2 minutes; a day later they only answer a very late press with "no longer known".
    void db.quotes
      .prune(clock.now() - 86_400_000)
      .catch((error: unknown) => logger.warn({ err: error }, 'quote clean-up failed'));
    void pruneExpiredMedia(db, clock, store, config.MEDIA_RETENTION_DAYS, logger)
      .then((removed) => removed && logger.info({ removed }, 'removed media past MEDIA_RETENTION_DAYS'))
      .catch((error: unknown) => logger.warn({ err: error }, 'media clean-up failed'));
  };
  pruneMedia();
  const pruneTimer = setInterval(pruneMedia, 6 * 3_600_000).unref();
  providerHealth?.start();
  const balanceTimer = kieBalance
    ? setInterval(
        () =>
          void kieBalance
            .check()
            .catch((error: unknown) => logger.warn({ err: error }, 'could not read the kie.ai credits')),
        30 * 60_000,
      ).unref()
    : undefined;

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      clearInterval(pruneTimer);
      clearInterval(balanceTimer);
      await providerHealth?.stop();
      for (const adapter of adapters)
        await adapter.stop().catch((error: unknown) => logger.warn({ err: error }, 'platform stop failed'));
      await engine.stop(config.SHUTDOWN_GRACE_S * 1000);
      await server.close(5000);
      for (const close of closers) await close().catch(() => {});
      // Spend checks raised by the last jobs read the store: let them finish before it closes.
      await notifier.settled();
      await db.close();
    })());

  const commandDeps: CommandDeps = { engine, db, clock, config, logger, prefilter, notifier };
  try {
    for (const adapter of adapters) await adapter.start(commandDeps);
  } catch (error) {
    // A platform that cannot start (a revoked token, say) must not leave the rest running behind the error.
    await stop();
    throw error;
  }
  const summary = summarizeStartup({
    config,
    adapters,
    consoleChat: options.console !== undefined,
    providers: [...providers.keys()],
    baseUrl,
  });
  logger.info(
    { port, ...(metricsListener ? { metricsPort: metricsListener.port } : {}), ...summary.fields },
    summary.message,
  );

  const running: RunningBot = {
    engine,
    port,
    ...(metricsListener ? { metricsPort: metricsListener.port } : {}),
    get baseUrl() {
      return baseUrl;
    },
    stop,
  };
  if (providerHealth) running.providerHealth = providerHealth;
  if (kieBalance) running.kieBalance = kieBalance;
  if (options.console && consoleOutput) {
    running.consoleDone =
      options.console.commands.length > 0
        ? runConsoleOneShot(options.console.commands, commandDeps, consoleOutput)
        : runConsoleInteractive(commandDeps, consoleOutput, options.console.input ?? process.stdin);
  }
  return running;
}

/** The operator's Ark model or endpoint id behind each Ark model of the catalog (ARK_MODEL_ID, ARK_SEEDANCE_…_MODEL_ID). */
function withArkModels(models: readonly ModelSpec[], arkIds: Readonly<Record<string, string>>): ModelSpec[] {
  return models.map((m) => {
    const id = m.provider === 'ark' ? arkIds[m.id] : undefined;
    return id === undefined ? m : { ...m, providerModels: { textToVideo: id, imageToVideo: id } };
  });
}

/** Each provider's probe for PROVIDER_FALLBACK: the doctor's free authenticated call (a status read, the credits). */
function providerProbes(config: Config): Map<string, ProviderProbe> {
  const asProbe =
    (check: (config: Config) => Promise<CheckResult>): ProviderProbe =>
    async () => {
      const result = await check(config);
      return { ok: result.status === 'ok', detail: result.detail };
    };
  return new Map([
    ['fal', asProbe(checkFal)],
    ['ark', asProbe(checkArk)],
    ['kie', asProbe(checkKie)],
  ]);
}

/** The Ark model ids that may run at the flex tier. */
function flexModelIds(models: readonly ModelSpec[]): Set<string> {
  return new Set(
    models
      .filter((m) => m.provider === 'ark' && m.offersFlexTier)
      .flatMap((m) => [m.providerModels.textToVideo, m.providerModels.imageToVideo]),
  );
}

/** Parses `[--console] [commands...]` or `--check` (the doctor). */
export function parseArgs(argv: readonly string[]): { console: boolean; check: boolean; commands: string[] } {
  const consoleFlag = argv.includes('--console');
  return {
    console: consoleFlag,
    check: argv.includes('--check'),
    commands: argv.filter((a) => a !== '--console' && a !== '--check'),
  };
}

/** Runs the bot until a signal (or the end of a one-shot console session); resolves with the exit code. */
export async function runUntilDone(
  config: Config,
  options: StartOptions,
  logger: Logger,
  beforeExit: () => Promise<void> = async () => {},
): Promise<number> {
  const bot = await startClipbot(config, { ...options, logger });
  let signals = 0;
  const done = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      // A second signal means "now": skip the graceful wait.
      if (++signals > 1) process.exit(130);
      logger.info({ signal }, 'shutting down (send again to force)');
      resolve(0);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    void bot.consoleDone?.then(resolve);
  });
  const code = await done;
  await bot.stop();
  await beforeExit();
  return code;
}

export function installProcessErrorBoundary(logger: Logger): void {
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
  process.on('uncaughtException', (error) => {
    logger.error({ err: error }, 'uncaught exception; exiting');
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 200).unref();
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let envFile: string | undefined;
  let config: Config;
  try {
    envFile = loadEnvFile().file;
    if (args.check) {
      process.exit(
        await runDoctor({
          env: process.env,
          envFile: envFile && shortPath(envFile),
          write: (line) => process.stdout.write(`${line}\n`),
        }),
      );
    }
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nSee .env.example for every setting.\n`);
      process.exit(2);
    }
    throw error;
  }
  if (!args.console && !config.DISCORD_TOKEN && !config.TELEGRAM_TOKEN) {
    process.stderr.write(
      'No chat platform to serve. Set DISCORD_TOKEN (Discord bot token) and/or TELEGRAM_TOKEN (from @BotFather)\n' +
        'in .env (cp .env.example .env), or run the console chat: npm start -- --console   (try it with no keys at all: npm run demo)\n' +
        'npm run doctor checks every setting.\n',
    );
    process.exit(2);
  }
  // With the console on stdout, logs go to stderr so the chat stays readable.
  const logger = createLogger(config.LOG_LEVEL, args.console ? pinoStderr() : undefined);
  installProcessErrorBoundary(logger);
  const code = await runUntilDone(config, args.console ? { console: { commands: args.commands } } : {}, logger);
  process.exit(code);
}

/** `.env` rather than /home/me/clipbot/.env; a file elsewhere keeps its absolute path. */
function shortPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') ? file : relative;
}

function pinoStderr() {
  return { write: (line: string) => process.stderr.write(line) };
}

/** Run as a program (not imported): compared through symlinks, since Node loads the main module by its real path. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(fs.realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((error: unknown) => {
    process.stderr.write(`clipbot could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}

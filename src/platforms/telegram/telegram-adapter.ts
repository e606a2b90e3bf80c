import { autoRetry } from '@grammyjs/auto-retry';
import { run, sequentialize, type RunnerHandle } from '@grammyjs/runner';
import { Bot, webhookCallback, type Api, type Context, type Transformer } from 'grammy';
import PQueue from 'p-queue';
import type { BotCommandScope } from 'grammy/types';
import { ZH_DESCRIPTIONS } from '../../../commands/i18n.js';
import { commands } from '../../../commands/index.js';
import type { CommandDeps } from '../../../commands/types.js';
import { clip } from '../../clip.js';
import type { Config } from '../../config.js';
import type { Clock, HttpRoute, Logger, MediaFetcher, MediaStore } from '../../core/ports.js';
import type { PlatformAdapter } from '../platform-adapter.js';
import { createTelegramChat, RecentUsers } from './telegram-chat.js';
import { describeTelegramError, scrubbingTransformer, scrubToken } from './telegram-errors.js';
import { handleCallback, handleMessage, type IntakeDeps } from './telegram-intake.js';
import { answerCheckout, reconcileStarPayments } from './telegram-payments.js';

/**
 * Telegram through grammY: long polling by default (works behind NAT), or a webhook on the bot's own HTTP
 * server when TELEGRAM_WEBHOOK_SECRET and PUBLIC_URL are set, or neither with TELEGRAM_POLLING=false (another process
 * of the same bot polls; this one sends, edits and delivers). The bot token is in every Bot API URL, so
 * grammY's sensitive logs stay off and every error is scrubbed before anything logs or rethrows it.
 *
 * Updates are handled concurrently in both modes (grammY's runner fetches them for long polling): in order within
 * one chat, chats side by side, at most TELEGRAM_MAX_CONCURRENT_UPDATES at once, so a member whose photo downloads
 * slowly delays nobody else's chat.
 */

export const TELEGRAM_WEBHOOK_PATH = '/telegram/webhook';
// Telegram delivers only these (and remembers the list): pre_checkout_query for Stars payments.
const ALLOWED_UPDATES = ['message', 'callback_query', 'pre_checkout_query'] as const;
const MAX_WEBHOOK_BYTES = 1024 * 1024;
/** What the webhook waits for a command before answering anyway (the update keeps being handled). */
const WEBHOOK_ANSWER_MS = 5_000;
/** Updates the long-polling runner takes in before it stops fetching; handlers past the bound wait in order. */
const RUNNER_MAX_UPDATES_IN_FLIGHT = 500;
/** What stop() waits for the updates being handled. */
const STOP_WAIT_MS = 10_000;

export interface TelegramAdapterDeps {
  config: Config;
  logger: Logger;
  store: MediaStore;
  fetcher: MediaFetcher;
  clock: Clock;
  /** Bounds for @grammyjs/auto-retry: 429 `retry_after` waits longer than this fail the call. */
  retry?: { maxRetryAttempts: number; maxDelaySeconds: number };
  /** Told of every 429 Telegram answers, including those auto-retry waits out (for metrics). Must never throw. */
  onRateLimited?: () => void;
}

export function createTelegramAdapter(deps: TelegramAdapterDeps): PlatformAdapter {
  const { config } = deps;
  const token = config.TELEGRAM_TOKEN;
  if (!token) throw new Error('TELEGRAM_TOKEN is not set');
  const secret = config.TELEGRAM_WEBHOOK_SECRET;
  const webhookUrl =
    secret && config.PUBLIC_URL ? `${config.PUBLIC_URL.replace(/\/+$/, '')}${TELEGRAM_WEBHOOK_PATH}` : undefined;
  if (secret && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) {
    throw new Error(
      'TELEGRAM_WEBHOOK_SECRET may only use A-Z, a-z, 0-9, _ and - (1 to 256 characters): Telegram refuses anything else',
    );
  }
  const log = deps.logger.child({ platform: 'telegram' });
  const describe = (error: unknown) => describeTelegramError(error, token);

  const bot = new Bot(token, { client: { apiRoot: config.TELEGRAM_API_ROOT, sensitiveLogs: false } });
  installRetries(bot.api, token, deps.retry ?? { maxRetryAttempts: 3, maxDelaySeconds: 30 }, deps.onRateLimited, log);
  const users = new RecentUsers();
  const platform = createTelegramChat({ api: bot.api, token, logger: log, users });

  // Checkouts are answered ahead of the handler queue: Telegram gives 10 s, and slow photo downloads holding every
  // handler must not make a member's payment fail. (Set in start(), which has the store.)
  let intakeDeps: IntakeDeps | undefined;
  bot.on('pre_checkout_query', async (ctx) => {
    const query = ctx.preCheckoutQuery;
    if (!intakeDeps)
      return void (await bot.api
        .answerPreCheckoutQuery(query.id, false, { error_message: 'The bot is starting; please try again.' })
        .catch(() => {}));
    await answerCheckout(query, intakeDeps).catch((error: unknown) =>
      log.error({ update: ctx.update.update_id, error: describe(error) }, 'telegram checkout failed'),
    );
  });
  installConcurrency(bot, config.TELEGRAM_MAX_CONCURRENT_UPDATES);

  let accepting = false;
  let runner: RunnerHandle | undefined;
  const routes: HttpRoute[] = [];
  if (webhookUrl) {
    // Telegram waits for our answer before sending the next update; a command is quick (the job runs in the
    // engine), and if one is not, Telegram gets its 200 after WEBHOOK_ANSWER_MS while the update finishes.
    const handle = webhookCallback(bot, 'std/http', {
      ...(secret ? { secretToken: secret } : {}),
      onTimeout: 'return',
      timeoutMilliseconds: WEBHOOK_ANSWER_MS,
    });
    routes.push({
      path: TELEGRAM_WEBHOOK_PATH,
      handler: async (request) => {
        if (!accepting) return Response.json({ error: 'not ready' }, { status: 503 });
        if (Number(request.headers.get('content-length') ?? 0) > MAX_WEBHOOK_BYTES)
          return Response.json({ error: 'payload too large' }, { status: 413 });
        try {
          return await handle(request);
        } catch (error) {
          log.error({ error: describe(error) }, 'telegram webhook failed');
          return Response.json({ error: 'internal error' }, { status: 500 });
        }
      },
    });
  }

  return {
    platform,
    ...(routes.length ? { httpRoutes: routes } : {}),

    async start(commandDeps: CommandDeps): Promise<void> {
      try {
        await bot.init();
      } catch (error) {
        const reason = describe(error);
        throw new Error(
          `Telegram refused to start the bot (${String(reason['description'] ?? reason['message'])}): check TELEGRAM_TOKEN`,
        );
      }
      const intake: IntakeDeps = {
        api: bot.api,
        me: bot.botInfo,
        config,
        logger: log,
        token,
        store: deps.store,
        fetcher: deps.fetcher,
        users,
        commands: commandDeps,
      };
      intakeDeps = intake;
      // Payments whose update was lost with a process that died while crediting: read back from Telegram, in the
      // background (start-up does not wait on it; the ledger's unique key makes it safe beside live payments).
      if (config.CREDIT_PACKS_TELEGRAM.length > 0) {
        void reconcileStarPayments(intake).then(
          (credited) => log.info({ credited }, 'telegram star payments reconciled'),
          (error: unknown) => log.warn({ error: describe(error) }, 'could not reconcile telegram star payments'),
        );
      }
      // The error boundary of every update: nothing thrown here may reach grammY (its errors carry the API client).
      bot.on('message', async (ctx) => {
        await handleMessage(ctx.message, intake).catch((error: unknown) =>
          log.error({ update: ctx.update.update_id, error: describe(error) }, 'telegram message failed'),
        );
      });
      bot.on('callback_query', async (ctx) => {
        await handleCallback(ctx.callbackQuery, intake).catch((error: unknown) =>
          log.error({ update: ctx.update.update_id, error: describe(error) }, 'telegram button failed'),
        );
      });
      bot.catch((error) => log.error({ error: describe(error.error) }, 'telegram update failed'));
      await registerCommands(bot.api, config, log, describe);

      if (webhookUrl) {
        try {
          await bot.api.setWebhook(webhookUrl, { secret_token: secret!, allowed_updates: [...ALLOWED_UPDATES] });
        } catch (error) {
          const reason = describe(error);
          throw new Error(
            `Telegram refused the webhook ${webhookUrl} (${String(reason['description'] ?? reason['message'])})`,
          );
        }
        accepting = true;
        log.info({ username: bot.botInfo.username, webhook: webhookUrl }, 'telegram bot started (webhook)');
        return;
      }
      if (!config.TELEGRAM_POLLING) {
        // Another process polls (Telegram answers a second poller with 409 Conflict); this one only sends.
        log.info({ username: bot.botInfo.username }, 'telegram bot started (not polling: TELEGRAM_POLLING=false)');
        return;
      }
      try {
        // A webhook left over from webhook mode would make every getUpdates a 409.
        await bot.api.deleteWebhook({ drop_pending_updates: false });
      } catch (error) {
        throw new Error(`Telegram long polling failed: ${scrubToken(String((error as Error).message), token)}`);
      }
      // The runner's own console logging is off: failed polls are logged by the transformer installRetries adds.
      runner = run(bot, {
        runner: { fetch: { allowed_updates: [...ALLOWED_UPDATES] }, silent: true, retryInterval: 'exponential' },
        sink: { concurrency: RUNNER_MAX_UPDATES_IN_FLIGHT },
      });
      void runner
        .task()
        ?.catch((error: unknown) => log.error({ error: describe(error) }, 'telegram long polling stopped'));
      log.info({ username: bot.botInfo.username }, 'telegram bot started (long polling)');
    },

    identity: () => (bot.isInited() ? { name: `@${bot.botInfo.username}` } : undefined),

    async stop(): Promise<void> {
      accepting = false;
      // Lets the updates being handled finish, for a while (the webhook, if any, stays registered: Telegram keeps
      // updates for us). A download still going after that is aborted when the engine stops.
      if (runner?.isRunning()) {
        const stopped = runner
          .stop()
          .catch((error: unknown) => log.warn({ error: describe(error) }, 'telegram stop failed'));
        await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
      }
    },
  };
}

/**
 * 429s are waited out (bounded), and network errors are never retried by the transport: a `sendVideo` whose
 * answer was lost may have reached the chat, so the caller decides (the chat side then sends a link, not a
 * second video). 5xx answers are retried, except for uploads, for the same reason.
 */
function installRetries(
  api: Api,
  token: string,
  bounds: { maxRetryAttempts: number; maxDelaySeconds: number },
  onRateLimited: (() => void) | undefined,
  log: Logger,
): void {
  const general = autoRetry({ ...bounds, rethrowHttpErrors: true });
  const upload = autoRetry({ ...bounds, rethrowHttpErrors: true, rethrowInternalServerErrors: true });
  const retries: Transformer = (prev, method, payload, signal) =>
    (method === 'sendVideo' ? upload : general)(prev, method, payload, signal);
  // Inside the retries, so each 429 is counted, also the ones auto-retry waits out and sends again.
  const counting: Transformer = async (prev, method, payload, signal) => {
    const result = await prev(method, payload, signal);
    if (!result.ok && result.error_code === 429) onRateLimited?.();
    return result;
  };
  // The runner retries failed polls by itself, quietly: they are logged here (after scrubbing), not on its console.
  const watchingPolls: Transformer = async (prev, method, payload, signal) => {
    try {
      const result = await prev(method, payload, signal);
      if (method === 'getUpdates' && !result.ok)
        log.warn({ code: result.error_code, description: result.description }, 'telegram getUpdates failed');
      return result;
    } catch (error) {
      if (method === 'getUpdates' && !signal?.aborted)
        log.warn({ error: describeTelegramError(error, token) }, 'telegram getUpdates failed');
      throw error;
    }
  };
  api.config.use(scrubbingTransformer(token), watchingPolls, counting, retries);
}

/**
 * Each member's updates in a chat in order (their `/video` then `/cancel`), everything else side by side, and at most
 * `maxHandlers` handlers at once. The key is the member within the chat, not the chat: in a group, one member's slow
 * photo must not hold the other members' commands. The ordering comes first, so waiting updates hold no handler.
 */
function installConcurrency(bot: Bot, maxHandlers: number): void {
  bot.use(sequentialize((ctx: Context) => (ctx.chat ? `${ctx.chat.id}:${ctx.from?.id ?? ''}` : undefined)));
  const handlers = new PQueue({ concurrency: maxHandlers });
  bot.use((_ctx, next) => handlers.add(() => next()));
}

/**
 * The command menu, in English and in Chinese for `zh` clients: member commands for everyone, every command for
 * chat administrators and, in their private chats, for the owners. Failing to set it is not fatal.
 */
async function registerCommands(
  api: Api,
  config: Config,
  log: Logger,
  describe: (error: unknown) => Record<string, unknown>,
): Promise<void> {
  const member = commands.filter((c) => c.access === 'member');
  const owners = config.OWNER_IDS.filter((id) => /^telegram:-?\d+$/.test(id)).map((id) =>
    Number(id.slice('telegram:'.length)),
  );
  const sets: { scope?: BotCommandScope; list: typeof commands }[] = [
    { list: member },
    { scope: { type: 'all_chat_administrators' }, list: commands },
    ...owners.map((chat_id) => ({ scope: { type: 'chat' as const, chat_id }, list: commands })),
  ];
  for (const { scope, list } of sets) {
    for (const language of [undefined, 'zh'] as const) {
      const items = list.map((c) => ({
        command: c.name,
        description: clip((language === 'zh' ? ZH_DESCRIPTIONS[c.name] : undefined) ?? c.description, 256),
      }));
      await api
        .setMyCommands(items, { ...(scope ? { scope } : {}), ...(language ? { language_code: language } : {}) })
        .catch((error: unknown) =>
          log.warn(
            { scope: scope?.type ?? 'default', language, error: describe(error) },
            'could not set the command menu',
          ),
        );
    }
  }
}

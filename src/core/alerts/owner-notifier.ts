import type { ChatPlatform, JobDestination, Logger, PlatformId } from '../ports.js';

/**
 * How owners hear about trouble: always a structured log line, and, when OWNER_ALERT_CHAT names a chat, a message
 * there that pings the owners from OWNER_IDS on that platform and nobody else. Sending is fire-and-forget: a chat
 * that cannot be reached is logged, never thrown into the engine that raised the alert.
 */

export interface OwnerAlert {
  /** Stable identifier for logs, e.g. `budget_near`, `provider_failing`. */
  kind: string;
  /** What the owners read, in the log message and in the chat. */
  text: string;
  /** Structured figures for the log line. */
  fields?: Record<string, unknown>;
  /** `info` for good news (a provider recovered); alerts are warnings. */
  level?: 'warn' | 'info';
}

export interface OwnerNotifier {
  alert(alert: OwnerAlert): void;
  /**
   * Runs `check` (which reads the store and may raise alerts) in the background, after the checks queued before it:
   * engine observers cannot wait for the store, and in order, alerts follow the order of the events behind them.
   * A check that fails is logged as `what`, never thrown at the engine.
   */
  inBackground(what: string, check: () => Promise<void>): void;
  /** Resolves when every check queued and every chat message sent so far has finished or been given up on. */
  settled(): Promise<void>;
}

export interface OwnerNotifierDeps {
  logger: Logger;
  platforms: ReadonlyMap<PlatformId, ChatPlatform>;
  /** OWNER_ALERT_CHAT, `platform:chat id`; unset = log only. */
  chat?: string | undefined;
  /** OWNER_IDS, `platform:user id` each. */
  ownerIds: readonly string[];
}

export function createOwnerNotifier({ logger, platforms, chat, ownerIds }: OwnerNotifierDeps): OwnerNotifier {
  const log = logger.child({ component: 'owner-alerts' });
  const dest = chat ? alertDestination(chat, ownerIds) : undefined;
  if (dest && dest.mentionUserIds.length === 0) {
    log.warn({ chat }, `OWNER_IDS has no ${dest.platform} owner: alerts in OWNER_ALERT_CHAT will mention nobody`);
  }
  const pending = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };
  let checks = Promise.resolve();

  const send = (alert: OwnerAlert, to: JobDestination & { platform: PlatformId }) => {
    const platform = platforms.get(to.platform);
    if (!platform) {
      log.warn(
        { alert: alert.kind, platform: to.platform },
        'OWNER_ALERT_CHAT is on a platform that is not running: alert logged only',
      );
      return;
    }
    track(
      Promise.resolve()
        .then(() => platform.notify(to, alert.text))
        .catch((error: unknown) =>
          log.warn({ alert: alert.kind, err: error }, 'owner alert could not be sent to OWNER_ALERT_CHAT'),
        ),
    );
  };

  return {
    alert(alert) {
      log[alert.level ?? 'warn']({ alert: alert.kind, ...alert.fields }, alert.text);
      if (dest) send(alert, dest);
    },
    inBackground(what, check) {
      checks = checks
        .then(check)
        .catch((error: unknown) => log.error({ check: what, err: error }, 'owner alert check failed'));
      track(checks);
    },
    async settled() {
      while (pending.size) await Promise.all(pending);
    },
  };
}

/** `discord:123` → that channel, pinging the Discord owners only. */
function alertDestination(chat: string, ownerIds: readonly string[]): JobDestination & { mentionUserIds: string[] } {
  const colon = chat.indexOf(':');
  const platform = chat.slice(0, colon) as PlatformId;
  const prefix = `${platform}:`;
  const mentionUserIds = ownerIds.filter((id) => id.startsWith(prefix)).map((id) => id.slice(prefix.length));
  return { platform, chatId: chat.slice(colon + 1), userId: mentionUserIds[0] ?? '', mentionUserIds };
}

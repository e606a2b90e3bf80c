import { and, count, eq, gte, sql } from 'drizzle-orm';
import { preparedPerDb, type Db, type DbLike } from '../../db/client.js';
import { auditLog, chatSettings, jobs } from '../../db/schema.js';
import { UserError } from './errors.js';
import type { Clock, PlatformId } from './ports.js';

/**
 * Per-server (Discord guild) or per-group (Telegram chat) settings that moderators change with /settings:
 * the default model, the channels where generation is allowed, and a daily per-member quota there.
 */

export interface ChatSettings {
  defaultModel: string | null;
  allowedChannelIds: string[] | null;
  dailyJobQuota: number | null;
}

export interface SettingsScope {
  platform: PlatformId;
  /** The Discord guild id, or the Telegram / console chat id. */
  chatId: string;
}

const EMPTY: ChatSettings = { defaultModel: null, allowedChannelIds: null, dailyJobQuota: null };

const settingsOf = preparedPerDb((db) =>
  db
    .select()
    .from(chatSettings)
    .where(and(eq(chatSettings.platform, sql.placeholder('platform')), eq(chatSettings.chatId, sql.placeholder('chatId'))))
    .prepare(),
);

export function getChatSettings(db: DbLike, scope: SettingsScope): ChatSettings {
  const row = settingsOf(db).get({ platform: scope.platform, chatId: scope.chatId });
  return row ? { defaultModel: row.defaultModel, allowedChannelIds: row.allowedChannelIds ?? null, dailyJobQuota: row.dailyJobQuota } : EMPTY;
}

export function updateChatSettings(db: Db, clock: Clock, scope: SettingsScope, actorUserId: number, change: Partial<ChatSettings>): ChatSettings {
  return db.transaction((tx) => {
    const next = { ...getChatSettings(tx, scope), ...change };
    tx.insert(chatSettings)
      .values({ platform: scope.platform, chatId: scope.chatId, ...next, updatedBy: actorUserId, updatedAt: clock.now() })
      .onConflictDoUpdate({ target: [chatSettings.platform, chatSettings.chatId], set: { ...next, updatedBy: actorUserId, updatedAt: clock.now() } })
      .run();
    tx.insert(auditLog)
      .values({ actorUserId, action: 'settings.update', detail: JSON.stringify({ scope, change }), createdAt: clock.now() })
      .run();
    return next;
  });
}

/** Intake checks from the chat's settings: the channel allow-list and the chat's daily quota per member. */
export function checkChatRules(db: DbLike, clock: Clock, settings: ChatSettings, where: { channelId: string; guildId?: string | undefined }, userId: number): void {
  if (settings.allowedChannelIds && !settings.allowedChannelIds.includes(where.channelId)) {
    throw new UserError('channel_not_allowed', 'Videos cannot be made in this channel. Ask a moderator where they are allowed.', {
      allowed: settings.allowedChannelIds,
    });
  }
  if (settings.dailyJobQuota !== null && where.guildId) {
    const dayStart = Math.floor(clock.now() / 86_400_000) * 86_400_000;
    const today = db
      .select({ n: count() })
      .from(jobs)
      .where(and(eq(jobs.userId, userId), eq(jobs.guildId, where.guildId), gte(jobs.createdAt, dayStart)))
      .get()!.n;
    if (today >= settings.dailyJobQuota) {
      throw new UserError('chat_quota', `This server allows ${settings.dailyJobQuota} video${settings.dailyJobQuota === 1 ? '' : 's'} per member per day. The quota resets at 00:00 UTC.`);
    }
  }
}

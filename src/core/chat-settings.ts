import { and, count, eq, gte, sql } from 'drizzle-orm';
import { preparedPerDb, type Db, type DbLike } from '../../db/client.js';
import { auditLog, chatSettings, jobs } from '../../db/schema.js';
import { UserError } from './errors.js';
import { memberMeasures } from './communities.js';
import type { Clock, PlatformId } from './ports.js';
import { communityId } from './roles.js';

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
      .values({ actorUserId, action: 'settings.update', community: communityId(scope.platform, scope.chatId) ?? null, detail: JSON.stringify({ scope, change }), createdAt: clock.now() })
      .run();
    return next;
  });
}

/**
 * Intake checks of the community the request is made in: its moderators' ban and per-member quota for this member,
 * the channel allow-list and the community's daily quota per member. None of them reach requests made elsewhere.
 */
export function checkChatRules(
  db: DbLike,
  clock: Clock,
  settings: ChatSettings,
  where: { platform: PlatformId; channelId: string; guildId?: string | undefined },
  userId: number,
): void {
  const community = communityId(where.platform, where.guildId);
  const measures = memberMeasures(db, community, userId);
  if (measures?.banned) {
    throw new UserError('banned_here', measures.banReason ? `You are banned from making videos here: ${measures.banReason}` : 'You are banned from making videos here.');
  }
  if (settings.allowedChannelIds && !settings.allowedChannelIds.includes(where.channelId)) {
    throw new UserError('channel_not_allowed', 'Videos cannot be made in this channel. Ask a moderator where they are allowed.', {
      allowed: settings.allowedChannelIds,
    });
  }
  const quotas = [settings.dailyJobQuota, measures?.dailyJobQuota ?? null].filter((q) => q !== null);
  if (quotas.length > 0 && where.guildId) {
    const quota = Math.min(...quotas);
    const dayStart = Math.floor(clock.now() / 86_400_000) * 86_400_000;
    const today = db
      .select({ n: count() })
      .from(jobs)
      .where(and(eq(jobs.userId, userId), eq(jobs.platform, where.platform), eq(jobs.guildId, where.guildId), gte(jobs.createdAt, dayStart)))
      .get()!.n;
    if (today >= quota) {
      const plural = quota === 1 ? '' : 's';
      const text =
        quota === 0
          ? 'You may not make videos here.'
          : quota === settings.dailyJobQuota
            ? `This server allows ${quota} video${plural} per member per day. The quota resets at 00:00 UTC.`
            : `You may make ${quota} video${plural} a day here. The quota resets at 00:00 UTC.`;
      throw new UserError('chat_quota', text, { quota });
    }
  }
}

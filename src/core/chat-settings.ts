import { UserError } from './errors.js';
import { memberMeasures } from './communities.js';
import type { Clock, PlatformId } from './ports.js';
import { communityId } from './roles.js';
import type { Store, StoreTx } from './store.js';

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

export async function getChatSettings(db: StoreTx, scope: SettingsScope): Promise<ChatSettings> {
  return (await db.settings.get(scope.platform, scope.chatId)) ?? EMPTY;
}

export async function updateChatSettings(
  db: Store,
  clock: Clock,
  scope: SettingsScope,
  actorUserId: number,
  change: Partial<ChatSettings>,
): Promise<ChatSettings> {
  return db.transaction(async (tx) => {
    const next = { ...(await getChatSettings(tx, scope)), ...change };
    await tx.settings.put(scope.platform, scope.chatId, next, actorUserId, clock.now());
    await tx.audit.append({
      actorUserId,
      action: 'settings.update',
      community: communityId(scope.platform, scope.chatId) ?? null,
      detail: JSON.stringify({ scope, change }),
      createdAt: clock.now(),
    });
    return next;
  });
}

/**
 * Intake checks of the community the request is made in: its moderators' ban and per-member quota for this member,
 * the channel allow-list and the community's daily quota per member. None of them reach requests made elsewhere.
 */
export async function checkChatRules(
  db: StoreTx,
  clock: Clock,
  settings: ChatSettings,
  where: { platform: PlatformId; channelId: string; guildId?: string | undefined },
  userId: number,
): Promise<void> {
  const community = communityId(where.platform, where.guildId);
  const measures = await memberMeasures(db, community, userId);
  if (measures?.banned) {
    throw new UserError(
      'banned_here',
      measures.banReason
        ? `You are banned from making videos here: ${measures.banReason}`
        : 'You are banned from making videos here.',
    );
  }
  if (settings.allowedChannelIds && !settings.allowedChannelIds.includes(where.channelId)) {
    throw new UserError(
      'channel_not_allowed',
      'Videos cannot be made in this channel. Ask a moderator where they are allowed.',
      {
        allowed: settings.allowedChannelIds,
      },
    );
  }
  const quotas = [settings.dailyJobQuota, measures?.dailyJobQuota ?? null].filter((q) => q !== null);
  if (quotas.length > 0 && where.guildId) {
    const quota = Math.min(...quotas);
    const dayStart = Math.floor(clock.now() / 86_400_000) * 86_400_000;
    const today = await db.jobs.countInCommunitySince(userId, where.platform, where.guildId, dayStart);
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

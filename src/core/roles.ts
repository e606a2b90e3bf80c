import type { PlatformId } from './ports.js';

export type Role = 'owner' | 'moderator' | 'member';

/**
 * Who may run moderator commands. Owners come from OWNER_IDS (everywhere); moderators are whoever the
 * platform says manages this server or group (Discord: Manage Server; Telegram: chat creator or administrator),
 * checked by the adapter at every call: registration-time permissions are not authorization.
 */
export function roleOf(
  identity: { platform: PlatformId; platformUserId: string },
  ownerIds: readonly string[],
  platformModerator: boolean,
): Role {
  if (ownerIds.includes(`${identity.platform}:${identity.platformUserId}`)) return 'owner';
  return platformModerator ? 'moderator' : 'member';
}

/**
 * A community is one Discord server or one Telegram group: `discord:<server id>`, `telegram:<chat id>`.
 * Private chats (no guild id) belong to none.
 */
export function communityId(platform: string, guildId: string | null | undefined): string | undefined {
  return guildId ? `${platform}:${guildId}` : undefined;
}

/** The role an actor holds and the community they hold it in (design.md §9). */
export interface Authority {
  role: Role;
  /** Where the command was given; a moderator's role exists only there. */
  community: string | undefined;
}

/**
 * Whether the actor's authority reaches a request made in `community` (undefined: a private chat). Owners reach
 * everything; a moderator only requests made in the community they moderate; members nothing of anyone else's.
 */
export function reaches(actor: Authority, community: string | undefined): boolean {
  if (actor.role === 'owner') return true;
  return actor.role === 'moderator' && actor.community !== undefined && actor.community === community;
}

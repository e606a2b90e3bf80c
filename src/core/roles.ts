import type { PlatformId } from './ports.js';

export type Role = 'owner' | 'moderator' | 'member';

/**
 * Who may run moderator commands. Owners come from OWNER_IDS (everywhere); moderators are whoever the
 * platform says manages this server or group (Discord: Manage Server; Telegram: chat creator or administrator),
 * checked by the adapter at every call: registration-time permissions are not authorization.
 */
export function roleOf(identity: { platform: PlatformId; platformUserId: string }, ownerIds: readonly string[], platformModerator: boolean): Role {
  if (ownerIds.includes(`${identity.platform}:${identity.platformUserId}`)) return 'owner';
  return platformModerator ? 'moderator' : 'member';
}

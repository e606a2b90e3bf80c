/**
 * Discord API v10 object shapes the fake sends: users, members, guilds, channels, messages, interactions.
 * Only what discord.js 14.28 reads (platforms.md §1), with the fields whose absence makes it throw.
 */

const DISCORD_EPOCH = 1_420_070_400_000n;
let increment = 0n;

/** A real-looking snowflake: discord.js reads creation times out of ids. */
export function snowflake(at = Date.now()): string {
  increment = (increment + 1n) % 4096n;
  return (((BigInt(at) - DISCORD_EPOCH) << 22n) | (1n << 17n) | increment).toString();
}

export const PERMISSIONS = {
  Administrator: 1n << 3n,
  ManageGuild: 1n << 5n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  EmbedLinks: 1n << 14n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  UseApplicationCommands: 1n << 31n,
} as const;

/** What an ordinary member may do in a channel. */
export const MEMBER_PERMISSIONS =
  PERMISSIONS.ViewChannel |
  PERMISSIONS.SendMessages |
  PERMISSIONS.EmbedLinks |
  PERMISSIONS.AttachFiles |
  PERMISSIONS.ReadMessageHistory |
  PERMISSIONS.UseApplicationCommands;

export interface FakeUser {
  id: string;
  username: string;
  globalName: string | null;
  bot: boolean;
}

/** A member as a test drives it: who they are, what they may do here, the language of their client. */
export interface FakeMember extends FakeUser {
  /** Their computed permissions in the channel (Discord sends this on every interaction). */
  permissions: bigint;
  /** Client language, e.g. `en-US`, `zh-CN`. */
  locale: string;
}

export interface FakeChannel {
  id: string;
  name: string;
  guildId: string | null;
}

export interface FakeGuild {
  id: string;
  name: string;
  ownerId: string;
  preferredLocale: string;
  channels: FakeChannel[];
}

/** A file the fake hosts, as an attachment of a member's message or command. */
export interface FakeAttachment {
  id: string;
  filename: string;
  contentType: string;
  data: Buffer;
  url: string;
}

export function userPayload(user: FakeUser) {
  return {
    id: user.id,
    username: user.username,
    discriminator: '0',
    global_name: user.globalName,
    avatar: null,
    ...(user.bot ? { bot: true } : {}),
    public_flags: 0,
  };
}

export function memberPayload(member: FakeMember, joinedAt: string) {
  return {
    user: userPayload(member),
    nick: null,
    avatar: null,
    roles: [],
    joined_at: joinedAt,
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
    communication_disabled_until: null,
    permissions: member.permissions.toString(),
  };
}

export function channelPayload(channel: FakeChannel) {
  return channel.guildId
    ? {
        id: channel.id,
        type: 0,
        guild_id: channel.guildId,
        name: channel.name,
        position: 0,
        permission_overwrites: [],
        nsfw: false,
        parent_id: null,
        topic: null,
        last_message_id: null,
        rate_limit_per_user: 0,
        flags: 0,
      }
    : { id: channel.id, type: 1, last_message_id: null, flags: 0, recipients: [] };
}

export function guildPayload(guild: FakeGuild, joinedAt: string) {
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    owner_id: guild.ownerId,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 1,
    explicit_content_filter: 0,
    roles: [
      {
        id: guild.id,
        name: '@everyone',
        color: 0,
        hoist: false,
        icon: null,
        unicode_emoji: null,
        position: 0,
        permissions: MEMBER_PERMISSIONS.toString(),
        managed: false,
        mentionable: false,
        flags: 0,
      },
    ],
    emojis: [],
    stickers: [],
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    max_members: 500_000,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    premium_subscription_count: 0,
    preferred_locale: guild.preferredLocale,
    public_updates_channel_id: null,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    safety_alerts_channel_id: null,
    joined_at: joinedAt,
    large: false,
    unavailable: false,
    member_count: 2,
    voice_states: [],
    members: [],
    channels: guild.channels.map((c) => channelPayload(c)),
    threads: [],
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
    lazy: true,
  };
}

export function attachmentPayload(a: FakeAttachment) {
  return {
    id: a.id,
    filename: a.filename,
    size: a.data.length,
    url: a.url,
    proxy_url: a.url,
    content_type: a.contentType,
    ...(a.contentType.startsWith('image/') ? { width: 64, height: 64 } : {}),
  };
}

/** SKU types (Discord's SKU resource): what an app sells. Only consumables can be consumed. */
export const SKU_TYPES = { DURABLE: 2, CONSUMABLE: 3, SUBSCRIPTION: 5, SUBSCRIPTION_GROUP: 6 } as const;

/** Entitlement types: a real purchase is 1; a purchase made by the app's own team in test mode is 4. */
export const ENTITLEMENT_TYPES = {
  PURCHASE: 1,
  DEVELOPER_GIFT: 3,
  TEST_MODE_PURCHASE: 4,
  USER_GIFT: 6,
  APPLICATION_SUBSCRIPTION: 8,
} as const;

export interface FakeSku {
  id: string;
  name: string;
  type: number;
}

/** What a member's purchase of a SKU gives the app: Discord's entitlement, which the app consumes once delivered. */
export interface FakeEntitlement {
  id: string;
  skuId: string;
  userId: string;
  guildId: string | null;
  type: number;
  deleted: boolean;
  consumed: boolean;
  startsAt: string;
  endsAt: string | null;
}

export function entitlementPayload(e: FakeEntitlement, applicationId: string) {
  return {
    id: e.id,
    sku_id: e.skuId,
    application_id: applicationId,
    user_id: e.userId,
    promotion_id: null,
    type: e.type,
    deleted: e.deleted,
    gift_code_flags: 0,
    consumed: e.consumed,
    starts_at: e.startsAt,
    ends_at: e.endsAt,
    ...(e.guildId ? { guild_id: e.guildId } : {}),
  };
}

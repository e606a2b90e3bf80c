import { PermissionFlagsBits } from 'discord.js';

/**
 * What the bot needs in a channel: see it, post and post in threads, link previews of large videos (Embed Links),
 * the clips themselves (Attach Files), and the message a mention request replies to (Read Message History).
 */
export const BOT_PERMISSIONS =
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.SendMessagesInThreads |
  PermissionFlagsBits.EmbedLinks |
  PermissionFlagsBits.AttachFiles |
  PermissionFlagsBits.ReadMessageHistory;

/** The OAuth2 link that adds the bot (with its slash commands) to a server with exactly those permissions. */
export function discordInviteLink(applicationId: string): string {
  return `https://discord.com/oauth2/authorize?client_id=${applicationId}&scope=bot+applications.commands&permissions=${BOT_PERMISSIONS}`;
}

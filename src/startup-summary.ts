import type { Config } from './config.js';
import type { PlatformAdapter } from './platforms/platform-adapter.js';
import { discordInviteLink } from './platforms/discord/invite-link.js';

export interface StartupSummary {
  platforms: Record<string, string>;
  providers: string[];
  storage: string;
  publicUrl: string | null;
  baseUrl: string;
  webhooks: boolean;
  discordInvite?: string;
}

/**
 * The one line an owner reads to know what is running: which chats (as whom), which providers, where results go,
 * the public address and whether providers call back (webhooks) or are polled, and the Discord invite link.
 */
export function summarizeStartup(input: {
  config: Config;
  adapters: readonly PlatformAdapter[];
  consoleChat: boolean;
  providers: readonly string[];
  baseUrl: string;
}): { fields: StartupSummary; message: string } {
  const { config, adapters } = input;
  const platforms: Record<string, string> = {};
  let discordInvite: string | undefined;
  for (const adapter of adapters) {
    const who = adapter.identity?.();
    platforms[adapter.platform.id] = who?.name ?? '?';
    if (adapter.platform.id === 'discord' && who?.applicationId) discordInvite = discordInviteLink(who.applicationId);
  }
  if (input.consoleChat) platforms['console'] = 'console';
  const storage = config.STORAGE === 's3' ? `s3 (${config.S3_BUCKET})` : `local (${config.dataDir}/media)`;
  const fields: StartupSummary = {
    platforms,
    providers: [...input.providers],
    storage,
    publicUrl: config.PUBLIC_URL ?? null,
    baseUrl: input.baseUrl,
    webhooks: config.PUBLIC_URL !== undefined,
    ...(discordInvite ? { discordInvite } : {}),
  };
  const chats = Object.entries(platforms).map(([id, name]) => (id === 'console' ? id : `${id} ${name}`));
  const parts = [
    `chats: ${chats.join(', ') || 'none'}`,
    `providers: ${fields.providers.join(', ') || 'none'}`,
    `storage: ${storage}`,
    `public URL: ${fields.publicUrl ?? `none (${input.baseUrl}, local only)`}`,
    `webhooks: ${fields.webhooks ? 'on' : 'off (polling)'}`,
    ...(discordInvite ? [`invite: ${discordInvite}`] : []),
  ];
  return { fields, message: `clipbot ready · ${parts.join(' · ')}` };
}

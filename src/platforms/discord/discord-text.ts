import { localeOf, t, type Locale, type TextKey } from '../../../commands/i18n.js';

/**
 * What the Discord adapter itself says (buttons, refusals, fallbacks), in English and Simplified Chinese.
 * Shared member text (errors, "not yours", button labels) comes from `commands/i18n.ts`.
 */

const TEXT = {
  moderator_in_dm: {
    en: '/{command} works only in a server, where your Manage Server permission can be checked.',
    zh: '/{command} 只能在服务器里使用（需要“管理服务器”权限）。',
  },
  unknown_command: {
    en: 'This command is no longer offered. Type / to see the current ones.',
    zh: '这个命令已不存在，输入 / 查看可用的命令。',
  },
  too_big_link: {
    en: 'It is too large to upload here; watch or download it: {url}',
    zh: '视频太大，无法直接上传，请在这里观看或下载：{url}',
  },
  done: { en: 'Done.', zh: '完成。' },
} as const satisfies Record<string, Record<Locale, string>>;

export type DiscordTextKey = keyof typeof TEXT;

export function say(
  key: DiscordTextKey | TextKey,
  localeTag: string | null | undefined,
  params: Record<string, string> = {},
): string {
  const locale = localeOf(localeTag);
  if (key in TEXT)
    return TEXT[key as DiscordTextKey][locale].replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? '');
  return t(key as TextKey, locale, params);
}

import { escapeMarkdown } from 'discord.js';

/**
 * Makes plain text show as itself on Discord, where message content is Markdown (issue 11, finding 7).
 *
 * The engine's and the commands' text is plain by design (progress-text.ts) and quotes what members wrote: prompts,
 * names, blocklist terms. Unescaped, a prompt like `[Claim free credits](https://example.com)` shows as a link in
 * the bot's own voice. Telegram's adapter escapes the same text as HTML; this is Discord's counterpart.
 *
 * discord.js's `escapeMarkdown` covers emphasis, code, spoilers, headings and lists (and leaves URLs alone, so our
 * media links still work). Three gaps are closed here: its masked-link escape only catches the first link of a line,
 * so every `[` is escaped instead; block quotes (`> `) and subtext (`-# `) at a line start are not escaped at all; and
 * `<...>` would render as a mention, channel, slash-command or timestamp chip.
 */
export function escapeForDiscord(text: string): string {
  return escapeMarkdown(text, { heading: true, bulletedList: true, numberedList: true, maskedLink: false })
    .replace(/[[<]/g, '\\$&')
    .replace(/^(\s*)(>|-#)/gm, '$1\\$2');
}

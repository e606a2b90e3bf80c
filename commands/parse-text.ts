import type { Command } from './types.js';

/**
 * Parses a text command line (`/video a red fox --duration 5 --resolution "720p"`) into raw option values
 * for the command's zod schema. Shared by the console and Telegram. Words go to the positional options in
 * order, the last positional option taking the rest of the line.
 */

export type ParsedText =
  | { ok: true; command: Command; raw: Record<string, string | boolean> }
  | { ok: false; error: string };

const MAX_LINE = 4000;

export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  // A quote may follow `--name=` directly (`--reason="spam links"`): the token is then `--name=spam links`.
  const pattern = /(--[a-z][a-z0-9_-]*=)?(?:"([^"]*)"|'([^']*)')|(\S+)/gi;
  for (const m of text.matchAll(pattern)) tokens.push(m[4] ?? `${m[1] ?? ''}${m[2] ?? m[3] ?? ''}`);
  return tokens;
}

export function parseCommandText(text: string, find: (name: string) => Command | undefined): ParsedText {
  if (text.length > MAX_LINE) return { ok: false, error: `That message is too long (over ${MAX_LINE} characters).` };
  const trimmed = text.trim();
  const head = /^\/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+|$)/.exec(trimmed);
  if (!head) return { ok: false, error: 'Commands start with /, for example /help.' };
  const name = head[1]!.toLowerCase();
  const command = find(name);
  if (!command) return { ok: false, error: `There is no command /${name}. Try /help.` };

  const optionNames = Object.keys(command.options.shape);
  const positional = command.positional ?? [];
  const raw: Record<string, string | boolean> = {};
  const words: string[] = [];
  const tokens = tokenize(trimmed.slice(head[0].length));
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const flag = /^--([a-z][a-z0-9_-]*)(?:=(.*))?$/i.exec(token);
    if (!flag) {
      words.push(token);
      continue;
    }
    const key = flag[1]!.toLowerCase().replace(/-/g, '_');
    if (!optionNames.includes(key)) {
      const known = optionNames.filter((o) => !positional.includes(o)).map((o) => `--${o}`);
      return { ok: false, error: `/${name} has no option --${key.slice(0, 30)}.${known.length ? ` Options: ${known.join(', ')}.` : ''}` };
    }
    if (flag[2] !== undefined) raw[key] = flag[2];
    else if (i + 1 < tokens.length && !tokens[i + 1]!.startsWith('--')) raw[key] = tokens[++i]!;
    else raw[key] = true;
  }
  for (let p = 0; p < positional.length && words.length > 0; p++) {
    const key = positional[p]!;
    const isLast = p === positional.length - 1;
    const value = isLast ? words.splice(0).join(' ') : words.shift()!;
    if (raw[key] === undefined) raw[key] = value;
  }
  if (words.length > 0) return { ok: false, error: `/${name} does not take “${words.join(' ').slice(0, 40)}”. See /help ${name}.` };
  return { ok: true, command, raw };
}

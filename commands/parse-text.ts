import { z } from 'zod';
import { flag } from './options.js';
import type { Command } from './types.js';

/**
 * Parses a text command line (`/video a red fox --duration 5 --resolution "720p"`) into raw option values
 * for the command's zod schema. Shared by the console and Telegram. Words go to the positional options in
 * order, the last positional option taking the rest of the line.
 */

export type ParsedText =
  { ok: true; command: Command; raw: Record<string, string | boolean> } | { ok: false; error: string };

const MAX_LINE = 4000;

/** A word of the line: its value (quotes removed) and its text as typed (for prompts, which keep their quotes). */
export interface Token {
  value: string;
  raw: string;
}

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  // A quote may follow `--name=` directly (`--reason="spam links"`): the value is then `--name=spam links`.
  const pattern = /(--[a-z][a-z0-9_-]*=)?(?:"([^"]*)"|'([^']*)')|(\S+)/gi;
  for (const m of text.matchAll(pattern))
    tokens.push({ value: m[4] ?? `${m[1] ?? ''}${m[2] ?? m[3] ?? ''}`, raw: m[0] });
  return tokens;
}

const BOOLEAN_WORD = /^(true|false|yes|no|on|off)$/i;

/** True for options declared with the shared `flag` schema: a bare `--camera_fixed` then never swallows the next word. */
function isFlagOption(command: Command, key: string): boolean {
  const schema = command.options.shape[key];
  return schema === flag || (schema instanceof z.ZodOptional && schema.unwrap() === flag);
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
  const words: Token[] = [];
  const tokens = tokenize(trimmed.slice(head[0].length));
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const option = /^--([a-z][a-z0-9_-]*)(?:=(.*))?$/is.exec(token.value);
    if (!option) {
      words.push(token);
      continue;
    }
    const key = option[1]!.toLowerCase().replace(/-/g, '_');
    if (!optionNames.includes(key)) {
      const known = optionNames.filter((o) => !positional.includes(o)).map((o) => `--${o}`);
      return {
        ok: false,
        error: `/${name} has no option --${key.slice(0, 30)}.${known.length ? ` Options: ${known.join(', ')}.` : ''}`,
      };
    }
    const next = tokens[i + 1];
    if (option[2] !== undefined) raw[key] = option[2];
    else if (next && !next.value.startsWith('--') && (!isFlagOption(command, key) || BOOLEAN_WORD.test(next.value)))
      raw[key] = tokens[++i]!.value;
    else raw[key] = true;
  }
  for (let p = 0; p < positional.length && words.length > 0; p++) {
    const key = positional[p]!;
    const isLast = p === positional.length - 1;
    // The last positional takes the rest of the line as typed (a prompt keeps its quotes), unless it is one quoted value.
    const rest = isLast ? words.splice(0) : [words.shift()!];
    const value = rest.length === 1 ? rest[0]!.value : rest.map((w) => w.raw).join(' ');
    if (raw[key] === undefined) raw[key] = value;
  }
  if (words.length > 0) {
    return {
      ok: false,
      error: `/${name} does not take “${words
        .map((w) => w.value)
        .join(' ')
        .slice(0, 40)}”. See /help ${name}.`,
    };
  }
  return { ok: true, command, raw };
}

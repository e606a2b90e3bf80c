import readline from 'node:readline';
import { findCommand } from '../../../commands/index.js';
import { t } from '../../../commands/i18n.js';
import { parseCommandText } from '../../../commands/parse-text.js';
import { parseQuoteAction, pressQuoteButton, type QuoteAction } from '../../../commands/quote-actions.js';
import { runCommand } from '../../../commands/run-command.js';
import type { CommandContext, CommandDeps, Role } from '../../../commands/types.js';
import type { ConsoleOutput } from './console-platform.js';

/**
 * The console chat: one local user typing commands. It is the bot owner by default (whoever runs the
 * process owns the machine); `/as member` switches to a plain member so both roles can be tried.
 */

export const CONSOLE_IDENTITY = { platform: 'console', platformUserId: 'local', displayName: 'console' } as const;

export interface ConsoleSession {
  role: Role;
  seq: number;
  /** The latest quote shown: `/confirm` and `/dropquote` with no id act on it. */
  lastQuoteId?: string;
  /** The latest job this session made: `last` stands for its id (`/upscale last`), as a one-shot run cannot know it. */
  lastJobId?: string;
}

export interface LineResult {
  ok: boolean;
  /** For `/video`: the job to wait for. */
  jobId?: string;
  quit?: boolean;
}

export async function handleConsoleLine(
  line: string,
  session: ConsoleSession,
  deps: CommandDeps,
  output: ConsoleOutput,
): Promise<LineResult> {
  const text = line.trim();
  if (!text) return { ok: true };
  if (text === '/quit' || text === '/exit') return { ok: true, quit: true };
  const as = /^\/as(?:\s+(\S+))?$/i.exec(text);
  if (as) {
    const role = as[1]?.toLowerCase();
    if (role !== 'owner' && role !== 'moderator' && role !== 'member') {
      output.print('Usage: /as owner | moderator | member');
      return { ok: false };
    }
    session.role = role;
    output.print(`You are now acting as ${role}.`);
    return { ok: true };
  }
  // The console has no buttons: a quote's Confirm and Cancel are typed (quote-actions.ts).
  const quote = /^\/(confirm|dropquote)(?:\s+(\S+))?$/i.exec(text);
  if (quote)
    return pressQuote(quote[1]!.toLowerCase() as QuoteAction, quote[2] ?? session.lastQuoteId, session, deps, output);
  const parsed = parseCommandText(withLastJob(text, session), findCommand);
  if (!parsed.ok) {
    output.print(parsed.error);
    return { ok: false };
  }
  const result = await runCommand(parsed.command, parsed.raw, consoleContext(session, deps, output), deps);
  return result.ok
    ? { ok: true, ...(result.outcome.jobId ? { jobId: made(session, result.outcome.jobId) } : {}) }
    : { ok: false };
}

/**
 * `/upscale last 4k` → `/upscale <the latest job's id> 4k`, for commands whose first argument is a job (a prompt's
 * "last" stays as typed).
 */
function withLastJob(text: string, session: ConsoleSession): string {
  const m = /^\/(\S+)\s+last(?=\s|$)/i.exec(text);
  if (!m || !session.lastJobId || findCommand(m[1]!)?.positional?.[0] !== 'job') return text;
  return `/${m[1]} ${session.lastJobId}${text.slice(m[0].length)}`;
}

function made(session: ConsoleSession, jobId: string): string {
  session.lastJobId = jobId;
  return jobId;
}

function consoleContext(session: ConsoleSession, deps: CommandDeps, output: ConsoleOutput): CommandContext {
  session.seq++;
  return {
    platform: 'console',
    actor: { ...CONSOLE_IDENTITY, role: session.role },
    dest: { platform: 'console', chatId: 'console', userId: CONSOLE_IDENTITY.platformUserId },
    // The console is one community, so `/as moderator` has somewhere to moderate.
    guildId: 'local',
    intakeKey: `console:${process.pid}:${deps.clock.now()}:${session.seq}`,
    reply: async (message) => output.print(message),
    offer: async (offer) => {
      const id = offer.buttons.map((b) => parseQuoteAction(b.data)?.quoteId).find((q) => q !== undefined);
      if (id) session.lastQuoteId = id;
      output.print(offer.text);
      if (id) output.print(t('quote_type_hint', 'en', { id }));
    },
  };
}

async function pressQuote(
  action: QuoteAction,
  quoteId: string | undefined,
  session: ConsoleSession,
  deps: CommandDeps,
  output: ConsoleOutput,
): Promise<LineResult> {
  if (!quoteId || !parseQuoteAction(`${action}:${quoteId}`)) {
    output.print(`Usage: /${action} <quote id> (the id shown with the price)`);
    return { ok: false };
  }
  const answer = await pressQuoteButton(action, quoteId, consoleContext(session, deps, output), deps);
  // A new quote (the price changed) is the edit; everything else is said once.
  output.print(answer.edit?.buttons.length ? answer.edit.text : answer.text);
  const next = answer.edit?.buttons.map((b) => parseQuoteAction(b.data)?.quoteId).find((q) => q !== undefined);
  if (next) {
    session.lastQuoteId = next;
    output.print(t('quote_type_hint', 'en', { id: next }));
  }
  return {
    ok: !answer.alert,
    ...(answer.jobId !== undefined && !answer.alert ? { jobId: made(session, answer.jobId) } : {}),
  };
}

/**
 * Runs the given commands in order, waiting for each `/video` job to end. Resolves with the exit code:
 * 0 when every command worked and every job succeeded, 1 otherwise (the reason has been printed).
 */
export async function runConsoleOneShot(
  lines: readonly string[],
  deps: CommandDeps,
  output: ConsoleOutput,
): Promise<number> {
  const session: ConsoleSession = { role: 'owner', seq: 0 };
  let failed = false;
  for (const line of lines) {
    output.print(`> ${line}`);
    const result = await handleConsoleLine(line, session, deps, output);
    if (!result.ok) failed = true;
    if (result.quit) break;
    if (result.jobId) {
      const job = await deps.engine.waitForJob(result.jobId);
      if (job.status !== 'succeeded') {
        failed = true;
        output.print(`Job ${job.id} ${job.status}: ${job.errorMessage ?? 'no reason given'}`);
      }
    }
  }
  return failed ? 1 : 0;
}

/** An interactive prompt on a terminal (or any stream); resolves when the user quits or input ends. */
export function runConsoleInteractive(
  deps: CommandDeps,
  output: ConsoleOutput,
  input: NodeJS.ReadableStream,
  rl: readline.Interface = readline.createInterface({ input, terminal: false }),
): Promise<number> {
  const session: ConsoleSession = { role: 'owner', seq: 0 };
  output.print('clipbot console. Try: /video a red fox running through snow   (/help for more, /quit to leave)');
  return new Promise((resolve) => {
    let queue = Promise.resolve();
    rl.on('line', (line) => {
      output.interrupted();
      queue = queue.then(async () => {
        const result = await handleConsoleLine(line, session, deps, output);
        if (result.quit) rl.close();
      });
    });
    rl.on('close', () => void queue.then(() => resolve(0)));
  });
}

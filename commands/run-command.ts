import type { z } from 'zod';
import { newCorrelationId } from '../src/core/errors.js';
import { claimIntakeKey, releaseIntakeKey } from '../src/core/engine/intake.js';
import { UserError } from '../src/core/errors.js';
import { passCommunityGate } from './community-gate.js';
import { localeOf, localizeError, t } from './i18n.js';
import type { Command, CommandContext, CommandDeps, CommandOutcome } from './types.js';

/** The error of a command the allow-list stopped (its one refusal, if any, was already sent). */
export const COMMUNITY_NOT_ALLOWED = 'community not allowed';

export type CommandResult = { ok: true; outcome: CommandOutcome } | { ok: false; error: string; ref?: string };

/**
 * The one flow every platform runs a command through: permission check, option validation, execute,
 * and an error boundary. A UserError is the member's to fix and is shown as is; anything else is logged
 * with a correlation id and the member sees only that id.
 */
export async function runCommand(
  command: Command,
  raw: Record<string, unknown>,
  ctx: CommandContext,
  deps: CommandDeps,
): Promise<CommandResult> {
  const log = deps.logger.child({ command: command.name, platform: ctx.platform, user: ctx.actor.platformUserId });
  const fail = async (error: string, ref?: string): Promise<CommandResult> => {
    await ctx.reply(error).catch((e: unknown) => log.warn({ err: e }, 'could not send the error reply'));
    return ref ? { ok: false, error, ref } : { ok: false, error };
  };
  const locale = localeOf(ctx.locale);
  if (!(await passCommunityGate(ctx, deps))) return { ok: false, error: COMMUNITY_NOT_ALLOWED };
  if (command.access === 'moderator' && ctx.actor.role === 'member') {
    log.info('moderator command refused');
    return fail(t('moderator_only', locale, { command: command.name }));
  }
  if (command.access === 'owner' && ctx.actor.role !== 'owner') {
    log.info('owner command refused');
    return fail(t('owner_only', locale, { command: command.name }));
  }
  const parsed = command.options.safeParse(raw);
  if (!parsed.success) return fail(describeOptionErrors(command, parsed.error, raw));
  // Moderator actions make no job, so they claim the update's key here: a re-delivered update acts once.
  const claimed = command.access !== 'member';
  if (claimed && !(await claimIntakeKey(deps.db, deps.clock, ctx.intakeKey, command.name))) {
    log.info('re-delivered moderator command ignored');
    return fail(t('already_handled', locale));
  }
  try {
    const outcome = (await command.execute(ctx, parsed.data, deps)) ?? {};
    return { ok: true, outcome };
  } catch (error) {
    if (claimed) await releaseIntakeKey(deps.db, ctx.intakeKey);
    if (error instanceof UserError) {
      log.info({ id: error.identifier }, 'user error');
      return fail(localizeError(error, locale));
    }
    const ref = newCorrelationId();
    log.error({ err: error, ref }, 'command failed');
    return fail(t('internal_error', locale, { ref }), ref);
  }
}

function describeOptionErrors(command: Command, error: z.ZodError, raw: Record<string, unknown>): string {
  const problems = error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    const positional = (command.positional ?? []).includes(key);
    const label = positional ? key : `--${key}`;
    // zod 4 leaves `issue.input` out of issues by default, so whether the option was given is read from `raw`.
    const missing = issue.code === 'invalid_type' && raw[key] === undefined;
    return missing ? `${label} is missing` : `${label} ${issue.message}`;
  });
  return `/${command.name}: ${problems.join('; ')}. See /help ${command.name}.`;
}

import type { Job } from '../db/schema.js';
import type { Resolution } from '../src/core/catalog.js';
import { newCorrelationId } from '../src/core/errors.js';
import { getJob } from '../src/core/engine/job-state.js';
import type { RequestOutcome } from '../src/core/engine/quotes.js';
import { UserError } from '../src/core/errors.js';
import { communityId, reaches } from '../src/core/roles.js';
import { requesterOf } from '../src/core/users.js';
import { passCommunityGate } from './community-gate.js';
import { localeOf, localizeError, t, type Locale, type TextKey } from './i18n.js';
import { quoteOffer, showOffer } from './quote-actions.js';
import type { CommandContext, CommandDeps } from './types.js';

/**
 * The buttons under status and result messages (Cancel, Retry, Upscale, Extend) as platform-neutral actions,
 * authorised in one place with the same rules as typed commands: the requester may cancel, retry and follow up their
 * own job; owners, and moderators of the community the job was made in, may cancel it. Retry and the follow-ups
 * charge the requester, so only they may ask for them. Adapters only render the buttons and route the presses here.
 */

export type JobAction = 'cancel' | 'retry' | 'extend' | 'upscale';

/** What a follow-up press carries besides its job: Upscale's resolution, Extend's prompt (Discord's modal, /extend). */
export interface ActionInput {
  resolution?: Resolution;
  prompt?: string;
}

/**
 * A button's data: `cancel:<job id>`, `retry:<job id>`, `extend:<job id>`, `upscale:<job id>:<resolution>` (fits
 * Discord's custom_id and Telegram's callback_data).
 */
export function parseJobAction(
  data: string,
): { action: JobAction; jobId: string; resolution?: Resolution } | undefined {
  const match = /^(cancel|retry|extend):([\w-]{1,40})$|^(upscale):([\w-]{1,40}):(1080p|4k)$/.exec(data);
  if (!match) return undefined;
  if (match[3]) return { action: 'upscale', jobId: match[4]!, resolution: match[5] as Resolution };
  return { action: match[1] as JobAction, jobId: match[2]! };
}

export function jobActionData(action: JobAction, jobId: string, resolution?: Resolution): string {
  return action === 'upscale' ? `upscale:${jobId}:${resolution ?? '1080p'}` : `${action}:${jobId}`;
}

/** Actions that charge the requester again: only they may take them (nobody spends a member's credits for them). */
const CHARGES = new Set<JobAction>(['retry', 'extend', 'upscale']);

export type ActionDecision = { ok: true; job: Job; as: 'requester' | 'moderator' } | { ok: false; text: string };

/** Whether this actor, here, may take this action on this job (one indexed read; no platform calls). */
export async function authorizeJobAction(
  action: JobAction,
  jobId: string,
  ctx: CommandContext,
  deps: CommandDeps,
): Promise<ActionDecision> {
  const locale = localeOf(ctx.locale);
  const job = await getJob(deps.db, jobId);
  if (!job) return { ok: false, text: t('no_such_job', locale) };
  const requester = await requesterOf(deps.db, job);
  if (requester?.platform === ctx.actor.platform && requester.platformUserId === ctx.actor.platformUserId)
    return { ok: true, job, as: 'requester' };
  // Retry, Extend and Upscale charge the requester again: only they may ask for them.
  if (
    !CHARGES.has(action) &&
    reaches(
      { role: ctx.actor.role, community: communityId(ctx.platform, ctx.guildId) },
      communityId(job.platform, job.guildId),
    )
  ) {
    return { ok: true, job, as: 'moderator' };
  }
  return {
    ok: false,
    text: t(action === 'retry' ? 'retry_not_yours' : CHARGES.has(action) ? 'followup_not_yours' : 'not_yours', locale),
  };
}

/**
 * Runs an authorised action and returns what to tell the presser. A Retry becomes a new job whose status message is
 * posted through `ctx` like a `/video`'s.
 */
export async function runJobAction(
  action: JobAction,
  decision: Extract<ActionDecision, { ok: true }>,
  ctx: CommandContext,
  deps: CommandDeps,
  input: ActionInput = {},
): Promise<{ text: string; jobId?: string }> {
  const locale = localeOf(ctx.locale);
  const from = {
    identity: ctx.actor,
    dest: ctx.dest,
    intakeKey: ctx.intakeKey,
    ...(ctx.guildId ? { guildId: ctx.guildId } : {}),
    ...(ctx.locale ? { locale: ctx.locale } : {}),
  };
  if (action === 'extend' && input.prompt === undefined) {
    // A text platform's button cannot ask for the prompt: it says how to give one (Discord asks with a modal).
    return { text: t('extend_how', locale, { job: decision.job.id }) };
  }
  if (action === 'extend' || action === 'upscale') {
    // Charged like any job, so above CONFIRM_ABOVE_CREDITS quoted first (quote-actions.ts).
    const outcome = await deps.engine.requestFollowup({
      ...from,
      kind: action,
      parentJobId: decision.job.id,
      ...(input.prompt !== undefined ? { prompt: input.prompt } : {}),
      ...(input.resolution ? { resolution: input.resolution } : {}),
    });
    return answerOutcome(outcome, ctx, locale, { made: 'followup_queued', again: 'already_following_up' });
  }
  if (action === 'cancel') {
    const actor = (await deps.engine.userIdOf(ctx.actor.platform, ctx.actor.platformUserId)) ?? -1;
    const job = await deps.engine.cancel(decision.job.id, { userId: actor, moderator: decision.as === 'moderator' });
    return { text: t(decision.as === 'requester' ? 'cancelled' : 'cancelled_for_requester', locale), jobId: job.id };
  }
  // Retry charges again, so above CONFIRM_ABOVE_CREDITS it is quoted first (quote-actions.ts).
  const outcome = await deps.engine.requestRetry(decision.job.id, from);
  return answerOutcome(outcome, ctx, locale, { made: 'retrying', again: 'already_retrying' });
}

/** What a press that charges made, as its presser hears it: the quote to confirm, or the job (new, or made before). */
async function answerOutcome(
  outcome: RequestOutcome,
  ctx: CommandContext,
  locale: Locale,
  said: { made: TextKey; again: TextKey },
): Promise<{ text: string; jobId?: string }> {
  if (outcome.kind === 'quote') {
    await showOffer(ctx, quoteOffer(outcome.quote, outcome.detail, locale), outcome.quote.id);
    return { text: t('quote_sent', locale) };
  }
  const { job, duplicate } = outcome.result;
  return { text: t(duplicate ? said.again : said.made, locale, { job: job.id }), jobId: job.id };
}

/**
 * The whole press for adapters that answer once (Telegram's callback answer): gate, authorise, run, and turn
 * errors into text. `alert` marks answers the presser must not miss (refusals, errors).
 */
export async function pressJobButton(
  action: JobAction,
  jobId: string,
  ctx: CommandContext,
  deps: CommandDeps,
  input: ActionInput = {},
): Promise<{ text: string; alert: boolean }> {
  if (!(await passCommunityGate(ctx, deps))) return { text: '', alert: false };
  const decision = await authorizeJobAction(action, jobId, ctx, deps);
  if (!decision.ok) {
    deps.logger.info({ action, jobId, user: ctx.actor.platformUserId }, 'button press refused');
    return { text: decision.text, alert: true };
  }
  try {
    return { text: (await runJobAction(action, decision, ctx, deps, input)).text, alert: false };
  } catch (error) {
    return { text: describeActionError(error, ctx, deps), alert: true };
  }
}

/** A UserError is shown as is; anything else is logged with a correlation id, which the presser sees. */
export function describeActionError(error: unknown, ctx: CommandContext, deps: CommandDeps): string {
  const locale = localeOf(ctx.locale);
  if (error instanceof UserError) return localizeError(error, locale);
  const ref = newCorrelationId();
  deps.logger.error({ err: error, ref }, 'button action failed');
  return t('internal_error', locale, { ref });
}

import type { QuoteRow } from '../db/schema.js';
import type { QuoteDetail, RequestOutcome } from '../src/core/engine/quotes.js';
import { UserError } from '../src/core/errors.js';
import { passCommunityGate } from './community-gate.js';
import { describeActionError } from './job-actions.js';
import { localeOf, t, type Locale } from './i18n.js';
import type { CommandContext, CommandDeps, Offer } from './types.js';

/**
 * The Confirm and Cancel buttons under a quote (CONFIRM_ABOVE_CREDITS) as platform-neutral actions: only the member
 * who asked may press them; adapters render the offer, route presses here, and show `edit` in place of the quote.
 * Separate from the job actions: these act on a quote id, before any job exists.
 */

export type QuoteAction = 'confirm' | 'dropquote';

/** A button's data: `confirm:<quote id>`, `dropquote:<quote id>` (fits Discord's custom_id and Telegram's callback_data). */
export function parseQuoteAction(data: string): { action: QuoteAction; quoteId: string } | undefined {
  const match = /^(confirm|dropquote):(q[a-z0-9]{1,40})$/.exec(data);
  return match ? { action: match[1] as QuoteAction, quoteId: match[2]! } : undefined;
}

export function quoteActionData(action: QuoteAction, quoteId: string): string {
  return `${action}:${quoteId}`;
}

/** The quote as the member sees it: its price and what it buys, with Confirm and Cancel. */
export function quoteOffer(quote: QuoteRow, detail: QuoteDetail, locale: Locale): Offer {
  // Music videos have one flat price, whatever the length: no duration or resolution to show.
  const key = detail.followup
    ? (`quote_offer_${detail.followup}` as const)
    : detail.durationS > 0
      ? 'quote_offer'
      : 'quote_offer_flat';
  return {
    text: t(key, locale, {
      price: String(quote.price),
      model: detail.model,
      duration: String(detail.durationS),
      resolution: detail.resolution,
    }),
    buttons: [
      { label: t('confirm', locale), data: quoteActionData('confirm', quote.id), primary: true },
      { label: t('cancel', locale), data: quoteActionData('dropquote', quote.id) },
    ],
  };
}

/** Shows an offer with buttons, or (a chat without buttons: the console) with the commands that press them. */
export async function showOffer(ctx: CommandContext, offer: Offer, quoteId: string): Promise<void> {
  if (ctx.offer) return ctx.offer(offer);
  await ctx.reply(`${offer.text}\n${t('quote_type_hint', localeOf(ctx.locale), { id: quoteId })}`);
}

/**
 * What `/video`, `/musicvideo` and Retry say once the engine took the request: nothing more for a new job (its status
 * speaks), the job already made for a re-delivered request, or the quote to confirm.
 */
export async function answerRequest(outcome: RequestOutcome, ctx: CommandContext): Promise<{ jobId?: string }> {
  if (outcome.kind === 'quote') {
    await showOffer(ctx, quoteOffer(outcome.quote, outcome.detail, localeOf(ctx.locale)), outcome.quote.id);
    return {};
  }
  if (outcome.result.duplicate) await ctx.reply(`This request was already accepted as job ${outcome.result.job.id}.`);
  return { jobId: outcome.result.job.id };
}

export type QuoteDecision = { ok: true; quote: QuoteRow } | { ok: false; text: string };

/** Whether this actor may press this quote's buttons: only the member who asked, whatever their role. */
export async function authorizeQuoteAction(
  quoteId: string,
  ctx: CommandContext,
  deps: CommandDeps,
): Promise<QuoteDecision> {
  const locale = localeOf(ctx.locale);
  const quote = await deps.engine.getQuote(quoteId);
  if (!quote) return { ok: false, text: t('no_such_quote', locale) };
  if (quote.platform !== ctx.actor.platform || quote.platformUserId !== ctx.actor.platformUserId)
    return { ok: false, text: t('quote_not_yours', locale) };
  return { ok: true, quote };
}

/**
 * What a press says to the presser (`text`), what the quote message should now show (`edit`; absent = leave it, as
 * for a refusal the member can fix within the quote's time, such as too few credits), and the job it made.
 */
export interface QuoteAnswer {
  text: string;
  edit?: Offer;
  jobId?: string;
  /** The presser must not miss it (a refusal). */
  alert: boolean;
}

const closed = (text: string): Offer => ({ text, buttons: [] });

/** Runs an authorised press. Confirm's new job posts its status through `ctx` like a `/video`'s. */
export async function runQuoteAction(
  action: QuoteAction,
  quote: QuoteRow,
  ctx: CommandContext,
  deps: CommandDeps,
): Promise<QuoteAnswer> {
  const locale = localeOf(ctx.locale);
  try {
    if (action === 'dropquote') {
      await deps.engine.dropQuote(quote.id, ctx.actor);
      const text = t('quote_dropped', locale);
      return { text, edit: closed(text), alert: false };
    }
    const outcome = await deps.engine.confirmQuote(quote.id, ctx.actor, {
      dest: ctx.dest,
      ...(ctx.locale ? { locale: ctx.locale } : {}),
      ...(ctx.fetchImageOf ? { fetchImageOf: ctx.fetchImageOf } : {}),
    });
    if (outcome.kind === 'requoted') {
      const text = t('quote_changed', locale, {
        before: String(outcome.previousPrice),
        price: String(outcome.quote.price),
      });
      const offer = quoteOffer(outcome.quote, outcome.detail, locale);
      return { text, edit: { ...offer, text: `${text}\n${offer.text}` }, alert: true };
    }
    const { job, duplicate } = outcome.result;
    const confirmed = closed(t('quote_confirmed', locale, { price: String(job.price), job: job.id }));
    return {
      text: duplicate ? t('quote_already_confirmed', locale, { job: job.id }) : confirmed.text,
      edit: confirmed,
      jobId: job.id,
      alert: duplicate,
    };
  } catch (error) {
    const text = describeActionError(error, ctx, deps);
    if (error instanceof UserError && /^quote_(expired|cancelled|superseded|confirmed)$/.test(error.identifier)) {
      return {
        text,
        edit: closed(error.identifier === 'quote_expired' ? t('quote_expired', locale) : text),
        alert: true,
      };
    }
    return { text, alert: true };
  }
}

/** The whole press for adapters that answer once (Telegram's callback answer, the console): gate, authorise, run. */
export async function pressQuoteButton(
  action: QuoteAction,
  quoteId: string,
  ctx: CommandContext,
  deps: CommandDeps,
): Promise<QuoteAnswer> {
  if (!(await passCommunityGate(ctx, deps))) return { text: '', alert: false };
  const decision = await authorizeQuoteAction(quoteId, ctx, deps);
  if (!decision.ok) {
    deps.logger.info({ action, quoteId, user: ctx.actor.platformUserId }, 'quote button press refused');
    return { text: decision.text, alert: true };
  }
  return runQuoteAction(action, decision.quote, ctx, deps);
}

import {
  findModel,
  priceCredits,
  priceUsd,
  RESOLUTIONS,
  type GenerationParams,
  type ModelSpec,
  type Resolution,
} from '../catalog.js';
import { UserError } from '../errors.js';
import { validatePrompt } from '../moderation/prompt-validation.js';
import type { FollowupRef } from '../ports.js';
import type { Job } from '../store.js';
import type { Quote, VideoRequest } from './intake.js';

/**
 * Follow-ups of a delivered clip (issue 14 §2): Upscale (the same clip, sharper) and Extend (a continuation with a
 * new prompt). Each is a job like any other (its own hold, states, retries, refund) that names its parent
 * (jobs.parent_job_id, jobs.followup); this module decides what a clip offers and what a follow-up costs.
 *
 * Who pays: the parent's requester, who alone may ask (as for Retry): a follow-up charges, and a moderator or owner
 * pressing the button would otherwise spend a member's credits.
 */

export type FollowupKind = 'extend' | 'upscale';

/** What a delivered job offers, each with its price in credits (shown on its button); empty and null mean no button. */
export interface FollowupOffer {
  upscaleTo: { resolution: Resolution; price: number }[];
  extend: { price: number } | null;
}

/** A follow-up as a platform hands it to the engine. */
export interface FollowupOrder extends Pick<
  VideoRequest,
  'identity' | 'dest' | 'intakeKey' | 'guildId' | 'locale' | 'agreed'
> {
  kind: FollowupKind;
  parentJobId: string;
  /** Extend: what happens next. */
  prompt?: string;
  /** Upscale: the resolution wanted; default the next one up that the model offers. */
  resolution?: Resolution;
}

const rank = (r: Resolution) => RESOLUTIONS.indexOf(r);

/** A follow-up's terms before its prompt is known: what the new job makes and what it costs. */
type Terms = Omit<Quote, 'prompt'>;

/**
 * What this job's clip can be followed up with, and at what price. Only a succeeded job with a task at its provider; an
 * upscaled clip offers nothing more (its task is its parent's, upgraded: kie will neither extend it nor upgrade it
 * twice). The buttons and `quoteFollowup` both price from here, so the price on a button is the price charged.
 */
function followupTerms(
  job: Job,
  models: readonly ModelSpec[],
): { upscaleTo: (Terms & { resolution: Resolution })[]; extend: Terms | null } {
  const model = findModel(job.model, models);
  const followups = model?.followups;
  if (
    !model ||
    !followups ||
    job.status !== 'succeeded' ||
    !job.providerTaskId ||
    job.followup === 'upscale' ||
    job.params.musicVideo
  )
    return { upscaleTo: [], extend: null };
  const base = job.params;
  // Upscale costs the difference between the two resolutions' prices (the parent paid for the rest).
  const upscale = (resolution: Resolution) => {
    const params: GenerationParams = {
      durationS: base.durationS,
      resolution,
      aspectRatio: base.aspectRatio,
      ...(base.seed !== undefined ? { seed: base.seed } : {}),
    };
    const before = { ...params, resolution: base.resolution };
    const price = Math.max(0, priceCredits(model, params) - priceCredits(model, before));
    return {
      resolution,
      model,
      params,
      price,
      costUsd: Math.max(0, priceUsd(model, params) - priceUsd(model, before)),
    };
  };
  // Extend costs a new clip of the model's default length.
  const extend = (): Terms => {
    const params: GenerationParams = {
      durationS: model.defaultDuration,
      resolution: base.resolution,
      aspectRatio: base.aspectRatio,
    };
    return { model, params, price: priceCredits(model, params), costUsd: priceUsd(model, params) };
  };
  return {
    upscaleTo: (followups.upscaleTo ?? []).filter((r) => rank(r) > rank(base.resolution)).map(upscale),
    extend: followups.extend?.from.includes(base.resolution) ? extend() : null,
  };
}

/** What this job's clip offers under it (a button each), with the price each would be charged. */
export function followupOffer(job: Job, models: readonly ModelSpec[]): FollowupOffer {
  const terms = followupTerms(job, models);
  return {
    upscaleTo: terms.upscaleTo.map(({ resolution, price }) => ({ resolution, price })),
    extend: terms.extend && { price: terms.extend.price },
  };
}

/** The follow-up's model, parameters and price, before any money moves: the terms its button showed. */
export function quoteFollowup(parent: Job, order: FollowupOrder, models: readonly ModelSpec[]): Quote {
  if (!findModel(parent.model, models))
    throw new UserError('no_followup', 'This video’s model is not offered any more.');
  const terms = followupTerms(parent, models);
  if (order.kind === 'upscale') {
    const targets = terms.upscaleTo.map((u) => u.resolution);
    const chosen = terms.upscaleTo.find((u) => u.resolution === (order.resolution ?? targets[0]));
    if (!chosen)
      throw new UserError(
        'no_upscale',
        targets.length ? `This video can be upscaled to ${targets.join(' or ')}.` : 'This video cannot be upscaled.',
      );
    const { resolution: _resolution, ...quote } = chosen;
    return { prompt: parent.prompt, ...quote };
  }
  if (!terms.extend) throw new UserError('no_extend', 'This video cannot be extended.');
  return { prompt: validatePrompt(order.prompt ?? ''), ...terms.extend };
}

/** The request a follow-up makes: the order, priced; what a quote stores and Confirm turns back into the order. */
export function followupRequest(order: FollowupOrder, quote: Quote): VideoRequest & { followup: FollowupRef } {
  const { kind, parentJobId, prompt: _prompt, resolution: _resolution, ...request } = order;
  const followup: FollowupRef = {
    kind,
    parentJobId,
    ...(kind === 'upscale' ? { resolution: quote.params.resolution } : {}),
  };
  return { ...request, prompt: quote.prompt, modelId: quote.model.id, options: {}, followup };
}

/** The order a stored follow-up request was made from (Confirm runs it again, priced from the parent as then). */
export function followupOrderOf(request: VideoRequest & { followup: FollowupRef }): FollowupOrder {
  const { followup, identity, dest, intakeKey, guildId, locale, agreed, prompt } = request;
  return {
    identity,
    dest,
    intakeKey,
    ...(guildId !== undefined ? { guildId } : {}),
    ...(locale !== undefined ? { locale } : {}),
    ...(agreed ? { agreed } : {}),
    kind: followup.kind,
    parentJobId: followup.parentJobId,
    ...(followup.kind === 'extend' ? { prompt } : {}),
    ...(followup.resolution ? { resolution: followup.resolution } : {}),
  };
}

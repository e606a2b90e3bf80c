import { findModel, priceCredits, priceUsd, RESOLUTIONS, type GenerationParams, type ModelSpec, type Resolution } from '../catalog.js';
import { UserError } from '../errors.js';
import { validatePrompt } from '../moderation/prompt-validation.js';
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

/** What a delivered job offers; empty lists and `false` mean no button. */
export interface FollowupOffer {
  upscaleTo: Resolution[];
  extend: boolean;
}

export const NO_FOLLOWUPS: FollowupOffer = { upscaleTo: [], extend: false };

/** A follow-up as a platform hands it to the engine. */
export interface FollowupOrder extends Pick<VideoRequest, 'identity' | 'dest' | 'intakeKey' | 'guildId' | 'locale'> {
  kind: FollowupKind;
  parentJobId: string;
  /** Extend: what happens next. */
  prompt?: string;
  /** Upscale: the resolution wanted; default the next one up that the model offers. */
  resolution?: Resolution;
}

const rank = (r: Resolution) => RESOLUTIONS.indexOf(r);

/**
 * What this job's clip can be followed up with. Only a succeeded job with a task at its provider; an upscaled clip
 * offers nothing more (its task is its parent's, upgraded: kie will neither extend it nor upgrade it twice).
 */
export function followupOffer(job: Job, models: readonly ModelSpec[]): FollowupOffer {
  const model = findModel(job.model, models);
  const followups = model?.followups;
  if (!followups || job.status !== 'succeeded' || !job.providerTaskId || job.followup === 'upscale' || job.params.musicVideo) return NO_FOLLOWUPS;
  const current = job.params.resolution;
  return {
    upscaleTo: (followups.upscaleTo ?? []).filter((r) => rank(r) > rank(current)),
    extend: followups.extend?.from.includes(current) ?? false,
  };
}

/**
 * The follow-up's model, parameters and price, before any money moves. Upscale costs the difference between the
 * two resolutions' prices (the parent paid for the rest); Extend costs a new clip of the model's default length.
 */
export function quoteFollowup(parent: Job, order: FollowupOrder, models: readonly ModelSpec[]): Quote {
  const model = findModel(parent.model, models);
  if (!model) throw new UserError('no_followup', 'This video’s model is not offered any more.');
  const offer = followupOffer(parent, models);
  const base = parent.params;
  if (order.kind === 'upscale') {
    const target = order.resolution ?? offer.upscaleTo[0];
    if (!target || !offer.upscaleTo.includes(target)) {
      throw new UserError('no_upscale', offer.upscaleTo.length ? `This video can be upscaled to ${offer.upscaleTo.join(' or ')}.` : 'This video cannot be upscaled.');
    }
    const params: GenerationParams = { durationS: base.durationS, resolution: target, aspectRatio: base.aspectRatio, ...(base.seed !== undefined ? { seed: base.seed } : {}) };
    const before = { ...params, resolution: base.resolution };
    return {
      prompt: parent.prompt,
      model,
      params,
      price: Math.max(0, priceCredits(model, params) - priceCredits(model, before)),
      costUsd: Math.max(0, priceUsd(model, params) - priceUsd(model, before)),
    };
  }
  if (!offer.extend) throw new UserError('no_extend', 'This video cannot be extended.');
  const params: GenerationParams = { durationS: model.defaultDuration, resolution: base.resolution, aspectRatio: base.aspectRatio };
  return { prompt: validatePrompt(order.prompt ?? ''), model, params, price: priceCredits(model, params), costUsd: priceUsd(model, params) };
}

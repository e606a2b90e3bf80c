import { randomBytes } from 'node:crypto';
import { UserError } from '../errors.js';
import type { Clock, FollowupRef, JobDestination, QuotedRequest } from '../ports.js';
import type { QuoteRow, Store } from '../store.js';
import type { Identity } from '../users.js';
import type { SubmitResult } from './engine.js';
import { followupOrderOf, followupRequest, type FollowupOrder } from './followups.js';
import { PriceChangedError, type FetchImage, type Quote, type VideoRequest } from './intake.js';
import type { VideoIntake } from './video-intake.js';

/**
 * Quote and Confirm: above CONFIRM_ABOVE_CREDITS a request is not charged at once; its price is shown with Confirm and
 * Cancel, and the request waits in the `quotes` table (any process, and a restarted one, can take the press). Nothing
 * is held and no image is fetched until Confirm, which runs the whole intake again with the price the member saw:
 * a different price now is refused and quoted anew. Confirm pressed twice makes one job, by the request's intake key.
 */

/** A quote lasts this long; pressing Confirm later says it expired. */
export const QUOTE_TTL_MS = 2 * 60_000;

export interface QuoteSettings {
  /** Requests priced above this wait for Confirm; undefined or 0: never. */
  confirmAboveCredits?: number | undefined;
}

export interface VideoQuotesDeps {
  db: Store;
  clock: Clock;
  settings: QuoteSettings;
  intake: VideoIntake;
}

/** What a request became: a job (queued, or the one an earlier delivery made), or a quote to confirm. */
export type RequestOutcome =
  { kind: 'job'; result: SubmitResult } | { kind: 'quote'; quote: QuoteRow; detail: QuoteDetail };

/** What a member is shown with a quote's price. */
export interface QuoteDetail {
  model: string;
  durationS: number;
  resolution: string;
  /** A follow-up's quote says what it does to the clip. */
  followup?: FollowupRef['kind'];
}

/** What a press of Confirm made: the job, or (the price changed) a new quote in place of the old one. */
export type ConfirmOutcome =
  | { kind: 'job'; result: SubmitResult }
  | { kind: 'requoted'; quote: QuoteRow; detail: QuoteDetail; previousPrice: number };

/** Where a Confirm press happened: the new job's messages go there, and an image kept by reference is fetched by it. */
export interface ConfirmPress {
  dest: JobDestination;
  locale?: string;
  /** Downloads the quote's `imageRef` (the platform that took the press knows how). */
  fetchImageOf?: (ref: string) => FetchImage | undefined;
}

const newQuoteId = () => `q${randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').toLowerCase()}`;

export class VideoQuotes {
  constructor(private readonly deps: VideoQuotesDeps) {}

  /** Whether a request at this price waits for Confirm. */
  needsConfirm(price: number): boolean {
    const above = this.deps.settings.confirmAboveCredits;
    return above !== undefined && above > 0 && price > above;
  }

  /**
   * A `/video` (or Retry): a job at once when its price is at most the threshold; else, after the member's checks
   * (so a member who could not pay hears so now, not after confirming), a stored quote.
   */
  async request(request: VideoRequest): Promise<RequestOutcome> {
    const previous = await this.deps.intake.previous(request);
    if (previous) return { kind: 'job', result: previous };
    const { quote, chat } = await this.deps.intake.price(request);
    if (!this.needsConfirm(quote.price)) return { kind: 'job', result: await this.deps.intake.submitVideo(request) };
    await this.deps.intake.precheck(request, quote, chat);
    return { kind: 'quote', ...(await this.store(request, quote)) };
  }

  /**
   * Extend or Upscale as members press it: charged like any job, so above the threshold quoted first too. The quote
   * stores the follow-up's request, and Confirm runs the order again through `VideoIntake.followup`, priced from the
   * parent as the button was.
   */
  async requestFollowup(order: FollowupOrder): Promise<RequestOutcome> {
    const previous = await this.deps.intake.previous(order);
    if (previous) return { kind: 'job', result: previous };
    const quote = await this.deps.intake.priceFollowup(order);
    if (!this.needsConfirm(quote.price)) return { kind: 'job', result: await this.deps.intake.followup(order) };
    const request = followupRequest(order, quote);
    const { chat } = await this.deps.intake.price(request, quote);
    await this.deps.intake.precheck(request, quote, chat);
    return { kind: 'quote', ...(await this.store(request, quote)) };
  }

  async get(id: string): Promise<QuoteRow | undefined> {
    return this.deps.db.quotes.get(id);
  }

  /**
   * Confirm: runs the intake with the quoted model and price, so nothing is held unless both still hold. Refusals are
   * `UserError`s and leave the quote open (a member short of credits may top up and press again within its time),
   * except an expired quote, which is closed. A confirmed quote answers with its job, as a duplicate.
   */
  async confirm(id: string, by: Identity, press: ConfirmPress): Promise<ConfirmOutcome> {
    const row = await this.owned(id, by);
    if (row.status === 'confirmed' && row.jobId) {
      const previous = await this.deps.intake.previous(row.request);
      if (previous) return { kind: 'job', result: previous };
    }
    if (row.status !== 'open') throw closedError(row);
    if (this.deps.clock.now() >= row.expiresAt) {
      await this.deps.db.quotes.close(row.id, 'expired');
      throw expiredError();
    }
    const fetchImage = row.request.imageRef ? press.fetchImageOf?.(row.request.imageRef) : undefined;
    if (row.request.imageRef && !fetchImage)
      throw new UserError(
        'quote_image_gone',
        'The image of this request can no longer be fetched here. Please send it again.',
      );
    const request: VideoRequest = {
      ...row.request,
      dest: press.dest,
      ...(press.locale ? { locale: press.locale } : {}),
      ...(fetchImage ? { fetchImage } : {}),
      agreed: { model: row.model, price: row.price },
    };
    let result: SubmitResult;
    try {
      const { followup } = request;
      result = followup
        ? await this.deps.intake.followup(followupOrderOf({ ...request, followup }))
        : await this.deps.intake.submitVideo(request);
    } catch (error) {
      if (!(error instanceof PriceChangedError)) throw error;
      // Only one press may replace the quote; a second one, racing, finds it closed.
      if (!(await this.deps.db.quotes.close(row.id, 'superseded'))) throw closedError((await this.get(row.id)) ?? row);
      const next = await this.store(row.request, error.quote);
      return { kind: 'requoted', ...next, previousPrice: row.price };
    }
    await this.deps.db.quotes.close(row.id, 'confirmed', result.job.id);
    return { kind: 'job', result };
  }

  /** Cancel: the quote is closed and nothing was ever held. */
  async drop(id: string, by: Identity): Promise<QuoteRow> {
    const row = await this.owned(id, by);
    if (!(await this.deps.db.quotes.close(row.id, 'cancelled'))) throw closedError((await this.get(row.id)) ?? row);
    return row;
  }

  /** The quote, if `by` asked for it. */
  private async owned(id: string, by: Identity): Promise<QuoteRow> {
    const row = await this.get(id);
    if (!row) throw new UserError('no_such_quote', 'The bot no longer knows this quote. Please ask again.');
    if (row.platform !== by.platform || row.platformUserId !== by.platformUserId)
      throw new UserError('quote_not_yours', 'Only the person who asked for this video can confirm or cancel it.');
    return row;
  }

  private async store(
    request: QuotedRequest | VideoRequest,
    quote: Quote,
  ): Promise<{ quote: QuoteRow; detail: QuoteDetail }> {
    const now = this.deps.clock.now();
    const row: QuoteRow = {
      id: newQuoteId(),
      platform: request.identity.platform,
      platformUserId: request.identity.platformUserId,
      request: quotedRequest(request),
      model: quote.model.id,
      price: quote.price,
      status: 'open',
      jobId: null,
      createdAt: now,
      expiresAt: now + QUOTE_TTL_MS,
    };
    await this.deps.db.quotes.insert(row);
    return {
      quote: row,
      detail: { ...detailOf(quote), ...(request.followup ? { followup: request.followup.kind } : {}) },
    };
  }
}

export function detailOf(quote: Quote): QuoteDetail {
  return { model: quote.model.label, durationS: quote.params.durationS, resolution: quote.params.resolution };
}

/** What of a request can wait in a row: everything but the image download (and the price it was agreed at). */
function quotedRequest(request: QuotedRequest | VideoRequest): QuotedRequest {
  const {
    identity,
    dest,
    guildId,
    locale,
    intakeKey,
    prompt,
    modelId,
    options,
    imageUrl,
    sourceImageKey,
    imageRef,
    musicVideo,
    followup,
  } = request;
  return {
    identity: {
      platform: identity.platform,
      platformUserId: identity.platformUserId,
      ...(identity.displayName ? { displayName: identity.displayName } : {}),
    },
    dest,
    ...(guildId !== undefined ? { guildId } : {}),
    ...(locale !== undefined ? { locale } : {}),
    intakeKey,
    prompt,
    ...(modelId !== undefined ? { modelId } : {}),
    options,
    ...(imageUrl !== undefined ? { imageUrl } : {}),
    ...(sourceImageKey !== undefined ? { sourceImageKey } : {}),
    ...(imageRef !== undefined ? { imageRef } : {}),
    ...(musicVideo !== undefined ? { musicVideo } : {}),
    ...(followup !== undefined ? { followup } : {}),
  };
}

function expiredError(): UserError {
  return new UserError('quote_expired', 'This quote has expired; nothing was charged. Please ask again.');
}

function closedError(row: QuoteRow): UserError {
  if (row.status === 'expired') return expiredError();
  if (row.status === 'confirmed')
    return new UserError(
      'quote_confirmed',
      `This quote was already confirmed${row.jobId ? ` as job ${row.jobId}` : ''}.`,
      { job: row.jobId },
    );
  if (row.status === 'superseded')
    return new UserError('quote_superseded', 'This quote was replaced by a newer one with the current price.');
  return new UserError('quote_cancelled', 'This quote was cancelled; nothing was charged.');
}

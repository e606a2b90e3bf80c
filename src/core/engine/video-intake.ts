import { randomBytes, randomInt } from 'node:crypto';
import type { ModelSpec } from '../catalog.js';
import { getChatSettings, type ChatSettings } from '../chat-settings.js';
import { UserError } from '../errors.js';
import { BudgetExceededError } from '../limits/intake-limits.js';
import { DEFAULT_INTAKE_SLOT_LIMITS, IntakeSlots } from '../limits/intake-slots.js';
import { isClearlyNotEnglish } from '../moderation/language.js';
import { communityId } from '../roles.js';
import type { Job } from '../store.js';
import { requesterOf } from '../users.js';
import type { EngineDeps, SubmitResult } from './engine.js';
import type { InputImages } from './input-images.js';
import { followupRequest, quoteFollowup, type FollowupOrder } from './followups.js';
import {
  acceptVideo,
  existingIntake,
  hasImage,
  precheckIntake,
  PriceChangedError,
  quoteVideo,
  type Quote,
  type VideoRequest,
} from './intake.js';
import { getJob, isFinal } from './job-state.js';
import type { StatusMessages } from './status-messages.js';

/**
 * `/video` and the Retry button as the engine runs them: quick checks first, then the slow work (moderation call,
 * input image) inside an intake slot, then the accepting transaction (intake.ts). A refusal leaves nothing behind.
 */

export interface VideoIntakeDeps extends Pick<
  EngineDeps,
  'db' | 'clock' | 'models' | 'providers' | 'store' | 'prefilter' | 'settings' | 'newId' | 'observer'
> {
  /** The engine's logger. */
  log: EngineDeps['logger'];
  status: StatusMessages;
  images: InputImages;
  isStopping: () => boolean;
  /** Starts whatever may start now (the new job, perhaps). */
  pump: () => Promise<void>;
}

const newShortId = (prefix: string) =>
  `${prefix}${randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').toLowerCase()}`;

export class VideoIntake {
  private readonly db: VideoIntakeDeps['db'];
  private readonly clock: VideoIntakeDeps['clock'];
  private readonly log: VideoIntakeDeps['log'];
  private readonly intakeSlots: IntakeSlots;

  constructor(private readonly deps: VideoIntakeDeps) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.log = deps.log;
    this.intakeSlots = new IntakeSlots(deps.settings.intakeInProgress ?? DEFAULT_INTAKE_SLOT_LIMITS);
  }

  /**
   * Checks, charges (hold) and queues a `/video` request. Throws `UserError` for anything the member can fix;
   * in that case nothing was charged, no job exists and no file was kept.
   */
  async submitVideo(request: VideoRequest, quoted?: Quote): Promise<SubmitResult> {
    if (this.deps.isStopping())
      throw new UserError('shutting_down', 'The bot is restarting. Please try again in a minute.');
    const previous = await this.previous(request);
    if (previous) return previous;

    const { quote, chat } = await this.price(request, quoted);
    if (request.agreed && (request.agreed.model !== quote.model.id || request.agreed.price !== quote.price))
      throw new PriceChangedError(quote, request.agreed);
    // Before slow work (a moderation call, an image download): the banned, rate-limited or broke member hears so at
    // once and costs nothing, and the work itself takes an intake slot, since the limits above count only job rows.
    // acceptVideo checks everything again in its transaction anyway.
    let releaseSlot = () => {};
    if (hasImage(request) || this.deps.prefilter.callsOut) {
      const user = await this.checkingBudget(() =>
        precheckIntake(this.db, this.clock, request, quote, this.deps.settings, chat),
      );
      releaseSlot = this.intakeSlots.take(user.id);
    }
    try {
      return await this.acceptChecked(request, quote, chat, releaseSlot);
    } finally {
      releaseSlot();
    }
  }

  /** The job a re-delivered request (same intake key) already made, if any. */
  async previous(request: Pick<VideoRequest, 'intakeKey'>): Promise<SubmitResult | undefined> {
    const previous = await existingIntake(this.db, request.intakeKey);
    return previous && { job: previous, duplicate: true, position: await this.db.jobs.queuePosition(previous.id) };
  }

  /** The model, parameters and price this request gets here and now, and the checks that need no member. */
  async price(request: VideoRequest, quoted?: Quote): Promise<{ quote: Quote; chat: ChatSettings }> {
    const models = this.availableModels();
    const chat = await getChatSettings(this.db, {
      platform: request.dest.platform,
      chatId: request.guildId ?? request.dest.chatId,
    });
    // A follow-up arrives priced (followups.ts); everything after the quote is the same for it.
    const quote = quoted ?? quoteVideo(request, models, chat.defaultModel ?? this.deps.settings.defaultModel);
    if (quote.model.englishOnly && (await isClearlyNotEnglish(quote.prompt))) {
      throw new UserError(
        'english_only',
        `${quote.model.label} understands English prompts only. Please write your prompt in English, or pick another model (/models).`,
      );
    }
    if (
      hasImage(request) &&
      !this.deps.settings.mediaIsPublic &&
      !this.deps.providers.get(quote.model.provider)?.acceptsInlineImages
    ) {
      throw new UserError(
        'image_needs_public_url',
        `${quote.model.label} fetches images from a public address, and this bot has none (PUBLIC_URL). Try another model.`,
      );
    }
    return { quote, chat };
  }

  /** The member's side of the checks (ban, chat rules, limits, spend cap, balance), reading only: before a quote is shown. */
  precheck(request: VideoRequest, quote: Quote, chat: ChatSettings): Promise<unknown> {
    return this.checkingBudget(() => precheckIntake(this.db, this.clock, request, quote, this.deps.settings, chat));
  }

  /** Moderation, the input image, then the accepting transaction; the job row exists once this returns. */
  private async acceptChecked(
    request: VideoRequest,
    quote: Quote,
    chat: ChatSettings,
    releaseSlot: () => void,
  ): Promise<SubmitResult> {
    const verdict = await this.deps.prefilter.check(
      quote.prompt,
      undefined,
      communityId(request.dest.platform, request.guildId),
    );
    if (!verdict.ok) {
      this.log.info({ rule: verdict.rule, user: request.identity }, 'prompt blocked');
      throw new UserError('prompt_blocked', verdict.message, { rule: verdict.rule });
    }

    const jobId = this.deps.newId?.() ?? newShortId('j');
    const inputMediaKey = await this.deps.images.store(jobId, request);
    let accepted: { job: Job; duplicate: boolean };
    try {
      accepted = await this.checkingBudget(() =>
        acceptVideo(this.db, this.clock, request, quote, this.deps.settings, jobId, inputMediaKey, chat),
      );
    } catch (error) {
      if (inputMediaKey) await this.deps.store.remove(inputMediaKey).catch(() => {});
      throw error;
    }
    // From here on the job row counts against the member's limits.
    releaseSlot();
    if (accepted.duplicate && inputMediaKey) await this.deps.store.remove(inputMediaKey).catch(() => {});
    // One job's place from per-member counts: reading the whole queue on every intake made intake slower as it grew.
    const position = await this.db.jobs.queuePosition(accepted.job.id);
    if (!accepted.duplicate) {
      this.log.info({ jobId, model: quote.model.id, price: quote.price, user: request.identity }, 'job queued');
      this.deps.observer?.jobQueued?.({ provider: quote.model.provider, costUsd: quote.costUsd });
      await this.deps.status.post(accepted.job, position, request.identity.platformUserId);
      await this.deps.pump();
    }
    return { ...accepted, position };
  }

  /** Runs intake checks; a refusal for the spend cap is the owners' business too. */
  private async checkingBudget<T>(check: () => Promise<T>): Promise<T> {
    try {
      return await check();
    } catch (error) {
      if (error instanceof BudgetExceededError) {
        this.log.warn(
          { period: error.period, spentUsd: error.spentUsd, capUsd: error.capUsd },
          'provider spend cap reached: new jobs are refused (owners: raise BUDGET_*_USD or wait)',
        );
        this.deps.observer?.budgetRefused?.({ period: error.period, spentUsd: error.spentUsd, capUsd: error.capUsd });
      }
      throw error;
    }
  }

  /** Models whose provider is configured. */
  availableModels(): ModelSpec[] {
    return this.deps.models.filter((m) => this.deps.providers.has(m.provider));
  }

  /**
   * Extend or Upscale a delivered job: priced by followups.ts, then checked, held and queued like any `/video`.
   * Only the parent's requester may ask (they pay); throws UserError otherwise, with nothing charged.
   */
  async followup(order: FollowupOrder): Promise<SubmitResult> {
    const { quote, parent } = await this.checkedFollowup(order);
    const request = followupRequest(order, quote);
    // No extend call at the provider (fal): the continuation starts from our clip's last frame, read like a member's
    // image (after the checks, before the hold).
    const fromLastFrame = order.kind === 'extend' && quote.model.followups?.extend?.fromOurLastFrame;
    return this.submitVideo(
      fromLastFrame ? { ...request, fetchImage: this.deps.images.lastFrameOf(parent) } : request,
      quote,
    );
  }

  /** A follow-up's price (followups.ts), once its presser may ask for it (they pay) and its provider would take it. */
  async priceFollowup(order: FollowupOrder): Promise<Quote> {
    return (await this.checkedFollowup(order)).quote;
  }

  private async checkedFollowup(order: FollowupOrder): Promise<{ quote: Quote; parent: Job }> {
    const parent = await getJob(this.db, order.parentJobId);
    const requester = parent && (await requesterOf(this.db, parent));
    if (
      !parent ||
      !requester ||
      requester.platform !== order.identity.platform ||
      requester.platformUserId !== order.identity.platformUserId
    ) {
      throw new UserError('not_yours', 'Only the person who asked for this video can extend or upscale it.');
    }
    const quote = quoteFollowup(parent, order, this.availableModels());
    if (order.kind === 'extend' && quote.model.followups?.extend?.notOnceUpscaled) {
      const upscaled = (await this.db.jobs.followupsOf(parent.id)).some(
        (f) => f.followup === 'upscale' && f.status !== 'failed' && f.status !== 'cancelled',
      );
      if (upscaled)
        throw new UserError(
          'extend_after_upscale',
          `${quote.model.label} cannot extend a video once it was upscaled. Extend it before upscaling, or extend another video.`,
        );
    }
    return { quote, parent };
  }

  /**
   * The Retry button: the same prompt, model, options and image as a finished job, with a new seed.
   * Only the job's requester may retry it, and it is charged as a new job.
   */
  async retry(
    jobId: string,
    request: Pick<VideoRequest, 'identity' | 'dest' | 'intakeKey' | 'guildId' | 'locale'>,
  ): Promise<SubmitResult> {
    return this.submitVideo(await this.retryRequest(jobId, request));
  }

  /** The request a Retry of this job makes (after checking the presser asked for the job, and that it is over). */
  async retryRequest(
    jobId: string,
    request: Pick<VideoRequest, 'identity' | 'dest' | 'intakeKey' | 'guildId' | 'locale'>,
  ): Promise<VideoRequest> {
    const job = await getJob(this.db, jobId);
    const requester = job && (await requesterOf(this.db, job));
    if (
      !job ||
      !requester ||
      requester.platform !== request.identity.platform ||
      requester.platformUserId !== request.identity.platformUserId
    ) {
      throw new UserError('not_yours', 'Only the person who asked for this video can retry it.');
    }
    if (!isFinal(job.status)) throw new UserError('not_finished', 'This video is still being made.');
    const { musicVideo, ...params } = job.params;
    return {
      ...request,
      prompt: job.prompt,
      modelId: job.model,
      options: {
        ...(musicVideo
          ? {}
          : {
              duration: params.durationS,
              resolution: params.resolution,
              ...(params.aspectRatio !== 'auto' ? { aspect: params.aspectRatio } : {}),
              ...(params.cameraFixed !== undefined ? { cameraFixed: params.cameraFixed } : {}),
              ...(params.audio !== undefined ? { audio: params.audio } : {}),
              seed: randomInt(0, 2 ** 31 - 1),
            }),
      },
      ...(musicVideo ? { musicVideo } : {}),
      ...(job.inputMediaKey ? { sourceImageKey: job.inputMediaKey } : {}),
    };
  }
}

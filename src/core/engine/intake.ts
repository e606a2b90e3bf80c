import {
  findModel,
  priceCredits,
  priceUsd,
  resolveParams,
  type GenerationParams,
  type ModelSpec,
  type VideoOptions,
} from '../catalog.js';
import { checkChatRules, type ChatSettings } from '../chat-settings.js';
import { applyDailyAllowance, assertCanPay, holdCredits } from '../credits/ledger.js';
import { UserError } from '../errors.js';
import { checkBudget, checkUserLimits, type LimitSettings } from '../limits/intake-limits.js';
import { validatePrompt } from '../moderation/prompt-validation.js';
import type { Clock, FollowupRef, JobDestination, MusicVideoSource } from '../ports.js';
import type { Job, Store, StoreTx, User } from '../store.js';
import { ensureUser, type Identity } from '../users.js';

/** An image downloaded and sniffed into a temp file; whoever receives it owns (and removes) the file. */
export interface DownloadedImage {
  path: string;
  contentType: string;
  ext: string;
}

/** Downloads an input image when asked; throws UserError for an image the member must fix, and leaves no file. */
export type FetchImage = (signal: AbortSignal) => Promise<DownloadedImage>;

/** A `/video` request as every platform hands it to the engine. */
export interface VideoRequest {
  identity: Identity;
  dest: JobDestination;
  guildId?: string;
  locale?: string;
  /** platform + chat + message/interaction id: a re-delivered update must not create a second job. */
  intakeKey: string;
  prompt: string;
  modelId?: string;
  options: VideoOptions;
  /** An image URL given by the user (fetched through the SSRF-safe fetcher, never passed on as is). */
  imageUrl?: string;
  /** An input image already in our store (Retry reuses the original job's), copied for the new job. */
  sourceImageKey?: string;
  /**
   * An image only the platform adapter can download (a Telegram photo, whose URL carries the bot token and so must
   * never be stored or passed on). The engine calls it once, after the checks and inside an intake slot, so a
   * member who may not make a video never costs a download; it owns the file it gets.
   */
  fetchImage?: FetchImage;
  /** For music-video models: the song to turn into a video. */
  musicVideo?: MusicVideoSource;
  /** What `fetchImage` downloads, as a reference a later press can download again (a quote keeps it, never the file). */
  imageRef?: string;
  /** The model and price the member confirmed: if either is different now, nothing is charged (PriceChangedError). */
  agreed?: { model: string; price: number };
  /** A follow-up (Extend, Upscale) of this delivered job; its quote comes from followups.ts, not the options. */
  followup?: FollowupRef;
}

/** The price (or the model) of a confirmed quote is no longer what the member saw: they are shown the new one. */
export class PriceChangedError extends UserError {
  constructor(
    readonly quote: Quote,
    agreed: { model: string; price: number },
  ) {
    super(
      'price_changed',
      quote.model.id === agreed.model
        ? `The price changed from ${agreed.price} to ${quote.price} credits since you asked. Nothing was charged.`
        : `This request would now use ${quote.model.label} for ${quote.price} credits instead of ${agreed.price}. Nothing was charged.`,
      { before: agreed.price, price: quote.price },
    );
  }
}

export interface IntakeSettings extends LimitSettings {
  defaultModel: string;
  startingCredits: number;
  freeDailyCredits: number;
}

/** Everything decided before any money moves: the model, its parameters, the price. */
export interface Quote {
  prompt: string;
  model: ModelSpec;
  params: GenerationParams;
  price: number;
  costUsd: number;
}

export function quoteVideo(request: VideoRequest, models: readonly ModelSpec[], defaultModel: string): Quote {
  const prompt = validatePrompt(request.prompt);
  const modelId = request.modelId ?? defaultModel;
  const model = findModel(modelId, models);
  if (!model) {
    throw new UserError(
      'unknown_model',
      `There is no model called “${modelId.slice(0, 40)}”. Available: ${models.map((m) => m.id).join(', ')}.`,
    );
  }
  if ((model.kind === 'music-video') !== (request.musicVideo !== undefined)) {
    throw new UserError(
      'wrong_command',
      model.kind === 'music-video'
        ? `${model.label} makes videos from songs: use /musicvideo.`
        : `/musicvideo needs a music-video model such as suno-music-video.`,
    );
  }
  const params = resolveParams(model, request.options, hasImage(request));
  return { prompt, model, params, price: priceCredits(model, params), costUsd: priceUsd(model, params) };
}

const NO_CHAT_SETTINGS: ChatSettings = { defaultModel: null, allowedChannelIds: null, dailyJobQuota: null };

export function hasImage(request: VideoRequest): boolean {
  return request.imageUrl !== undefined || request.sourceImageKey !== undefined || request.fetchImage !== undefined;
}

export async function existingIntake(db: StoreTx, intakeKey: string): Promise<Job | undefined> {
  return (await db.intakeKeys.get(intakeKey))?.job;
}

function assertNotBanned(user: User): void {
  if (user.banned) {
    throw new UserError(
      'banned',
      user.banReason ? `You are banned from using this bot: ${user.banReason}` : 'You are banned from using this bot.',
    );
  }
}

/**
 * The read-only rehearsal of the intake checks, run before any slow work (moderation call, image download)
 * so a member who cannot pay or is rate limited hears so at once. The transaction re-checks everything.
 */
export async function precheckIntake(
  db: Store,
  clock: Clock,
  request: VideoRequest,
  quote: Quote,
  settings: IntakeSettings,
  chat: ChatSettings,
): Promise<User> {
  return db.transaction(async (tx) => {
    const user = await ensureUser(tx, clock, request.identity, settings.startingCredits);
    await checkMember(tx, clock, user, request, quote, settings, chat);
    await assertCanPay(tx, user.id, quote.price);
    return user;
  });
}

/** The checks precheck and acceptance share: the member, the chat's rules, their limits, the spend cap. */
async function checkMember(
  tx: StoreTx,
  clock: Clock,
  user: User,
  request: VideoRequest,
  quote: Quote,
  settings: IntakeSettings,
  chat: ChatSettings,
): Promise<void> {
  assertNotBanned(user);
  await checkChatRules(
    tx,
    clock,
    chat,
    { platform: request.dest.platform, channelId: request.dest.chatId, guildId: request.guildId },
    user.id,
  );
  await applyDailyAllowance(tx, clock, user.id, settings);
  await checkUserLimits(tx, clock, user, settings);
  await checkBudget(tx, clock, quote.costUsd, settings);
}

/**
 * One transaction: checks again, records the intake key, inserts the job (queued) and holds its price.
 * Returns the existing job instead when this intake key was already used.
 */
export async function acceptVideo(
  db: Store,
  clock: Clock,
  request: VideoRequest,
  quote: Quote,
  settings: IntakeSettings,
  jobId: string,
  inputMediaKey: string | undefined,
  chat: ChatSettings = NO_CHAT_SETTINGS,
): Promise<{ job: Job; duplicate: boolean }> {
  return db.transaction(async (tx) => {
    if (!(await tx.intakeKeys.claim(request.intakeKey, 'video', clock.now()))) {
      const job = (await tx.intakeKeys.get(request.intakeKey))?.job;
      if (!job) throw new UserError('duplicate_request', 'This request was already handled.');
      return { job, duplicate: true };
    }
    const user = await ensureUser(tx, clock, request.identity, settings.startingCredits);
    await checkMember(tx, clock, user, request, quote, settings, chat);
    const now = clock.now();
    const job = await tx.jobs.insert({
      id: jobId,
      userId: user.id,
      status: 'queued',
      platform: request.dest.platform,
      chatId: request.dest.chatId,
      guildId: request.guildId ?? null,
      requestMessageId: request.dest.requestMessageId ?? null,
      locale: request.locale ?? null,
      uploadLimitBytes: request.dest.uploadLimitBytes ?? null,
      model: quote.model.id,
      provider: quote.model.provider,
      providerModel: hasImage(request)
        ? quote.model.providerModels.imageToVideo
        : quote.model.providerModels.textToVideo,
      prompt: quote.prompt,
      params: { ...quote.params, ...(request.musicVideo ? { musicVideo: request.musicVideo } : {}) },
      inputImageUrl: request.imageUrl ?? null,
      inputMediaKey: inputMediaKey ?? null,
      price: quote.price,
      costUsd: quote.costUsd,
      createdAt: now,
      updatedAt: now,
      parentJobId: request.followup?.parentJobId ?? null,
      followup: request.followup?.kind ?? null,
    });
    await holdCredits(tx, clock, user.id, jobId, quote.price);
    await tx.intakeKeys.link(request.intakeKey, jobId);
    return { job, duplicate: false };
  });
}

/**
 * Claims an intake key for a command that changes state but makes no job (moderator actions), so a
 * re-delivered update (Telegram after a crash, a retried interaction) acts once. False if already claimed.
 */
export async function claimIntakeKey(db: StoreTx, clock: Clock, key: string, command: string): Promise<boolean> {
  return db.intakeKeys.claim(key, command, clock.now());
}

/** Gives a claim back when its command failed, so the member can try again with the same message. */
export async function releaseIntakeKey(db: StoreTx, key: string): Promise<void> {
  await db.intakeKeys.release(key);
}

import { eq, sql } from 'drizzle-orm';
import { preparedPerDb, slot, type Db, type DbLike } from '../../../db/client.js';
import { intakeKeys, jobs, type Job, type User } from '../../../db/schema.js';
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
import type { Clock, JobDestination, MusicVideoSource } from '../ports.js';
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
    throw new UserError('unknown_model', `There is no model called “${modelId.slice(0, 40)}”. Available: ${models.map((m) => m.id).join(', ')}.`);
  }
  if ((model.kind === 'music-video') !== (request.musicVideo !== undefined)) {
    throw new UserError(
      'wrong_command',
      model.kind === 'music-video' ? `${model.label} makes videos from songs: use /musicvideo.` : `/musicvideo needs a music-video model such as suno-music-video.`,
    );
  }
  const params = resolveParams(model, request.options, hasImage(request));
  return { prompt, model, params, price: priceCredits(model, params), costUsd: priceUsd(model, params) };
}

const NO_CHAT_SETTINGS: ChatSettings = { defaultModel: null, allowedChannelIds: null, dailyJobQuota: null };

export function hasImage(request: VideoRequest): boolean {
  return request.imageUrl !== undefined || request.sourceImageKey !== undefined || request.fetchImage !== undefined;
}

/** The columns intake writes; the rest start at their defaults. */
const NEW_JOB_COLUMNS = [
  'id', 'userId', 'status', 'platform', 'chatId', 'guildId', 'requestMessageId', 'locale', 'uploadLimitBytes', 'model', 'provider',
  'providerModel', 'prompt', 'params', 'inputImageUrl', 'inputMediaKey', 'price', 'costUsd', 'createdAt', 'updatedAt',
] as const;
type NewJobColumn = (typeof NEW_JOB_COLUMNS)[number];

// Intake's writes, prepared once: building these inserts cost more than running them (see preparedPerDb).
const insertJob = preparedPerDb((db) =>
  db
    .insert(jobs)
    .values(Object.fromEntries(NEW_JOB_COLUMNS.map((c) => [c, sql.placeholder(c)])) as Record<NewJobColumn, ReturnType<typeof sql.placeholder>>)
    .returning()
    .prepare(),
);
const insertIntakeKey = preparedPerDb((db) =>
  db
    .insert(intakeKeys)
    .values({ key: sql.placeholder('key'), command: sql.placeholder('command'), createdAt: sql.placeholder('createdAt') })
    .onConflictDoNothing()
    .prepare(),
);
const linkIntakeKey = preparedPerDb((db) =>
  db.update(intakeKeys).set({ jobId: slot<string>('jobId') }).where(eq(intakeKeys.key, sql.placeholder('key'))).prepare(),
);

const jobByIntakeKey = preparedPerDb((db) =>
  db
    .select({ job: jobs })
    .from(intakeKeys)
    .innerJoin(jobs, eq(jobs.id, intakeKeys.jobId))
    .where(eq(intakeKeys.key, sql.placeholder('key')))
    .prepare(),
);

export function existingIntake(db: DbLike, intakeKey: string): Job | undefined {
  return jobByIntakeKey(db).get({ key: intakeKey })?.job;
}

function assertNotBanned(user: User): void {
  if (user.banned) {
    throw new UserError('banned', user.banReason ? `You are banned from using this bot: ${user.banReason}` : 'You are banned from using this bot.');
  }
}

/**
 * The read-only rehearsal of the intake checks, run before any slow work (moderation call, image download)
 * so a member who cannot pay or is rate limited hears so at once. The transaction re-checks everything.
 */
export function precheckIntake(db: Db, clock: Clock, request: VideoRequest, quote: Quote, settings: IntakeSettings, chat: ChatSettings): User {
  return db.transaction((tx) => {
    const user = ensureUser(tx, clock, request.identity, settings.startingCredits);
    assertNotBanned(user);
    checkChatRules(tx, clock, chat, { platform: request.dest.platform, channelId: request.dest.chatId, guildId: request.guildId }, user.id);
    applyDailyAllowance(tx, clock, user.id, settings);
    checkUserLimits(tx, clock, user, settings);
    checkBudget(tx, clock, quote.costUsd, settings);
    assertCanPay(tx, user.id, quote.price);
    return user;
  });
}

/**
 * One transaction: checks again, records the intake key, inserts the job (queued) and holds its price.
 * Returns the existing job instead when this intake key was already used.
 */
export function acceptVideo(
  db: Db,
  clock: Clock,
  request: VideoRequest,
  quote: Quote,
  settings: IntakeSettings,
  jobId: string,
  inputMediaKey: string | undefined,
  chat: ChatSettings = NO_CHAT_SETTINGS,
): { job: Job; duplicate: boolean } {
  return db.transaction((tx) => {
    const claimed = insertIntakeKey(tx).run({ key: request.intakeKey, command: 'video', createdAt: clock.now() });
    if (claimed.changes === 0) {
      const row = tx.select().from(intakeKeys).where(eq(intakeKeys.key, request.intakeKey)).get();
      const job = row?.jobId ? tx.select().from(jobs).where(eq(jobs.id, row.jobId)).get() : undefined;
      if (!job) throw new UserError('duplicate_request', 'This request was already handled.');
      return { job, duplicate: true };
    }
    const user = ensureUser(tx, clock, request.identity, settings.startingCredits);
    assertNotBanned(user);
    checkChatRules(tx, clock, chat, { platform: request.dest.platform, channelId: request.dest.chatId, guildId: request.guildId }, user.id);
    applyDailyAllowance(tx, clock, user.id, settings);
    checkUserLimits(tx, clock, user, settings);
    checkBudget(tx, clock, quote.costUsd, settings);
    const now = clock.now();
    const job = insertJob(tx).get({
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
      providerModel: hasImage(request) ? quote.model.providerModels.imageToVideo : quote.model.providerModels.textToVideo,
      prompt: quote.prompt,
      params: { ...quote.params, ...(request.musicVideo ? { musicVideo: request.musicVideo } : {}) },
      inputImageUrl: request.imageUrl ?? null,
      inputMediaKey: inputMediaKey ?? null,
      price: quote.price,
      costUsd: quote.costUsd,
      createdAt: now,
      updatedAt: now,
    } satisfies Record<NewJobColumn, unknown>)!;
    holdCredits(tx, clock, user.id, jobId, quote.price);
    linkIntakeKey(tx).run({ key: request.intakeKey, jobId });
    return { job, duplicate: false };
  });
}

/**
 * Claims an intake key for a command that changes state but makes no job (moderator actions), so a
 * re-delivered update (Telegram after a crash, a retried interaction) acts once. False if already claimed.
 */
export function claimIntakeKey(db: Db, clock: Clock, key: string, command: string): boolean {
  return insertIntakeKey(db).run({ key, command, createdAt: clock.now() }).changes === 1;
}

/** Gives a claim back when its command failed, so the member can try again with the same message. */
export function releaseIntakeKey(db: Db, key: string): void {
  db.delete(intakeKeys).where(eq(intakeKeys.key, key)).run();
}

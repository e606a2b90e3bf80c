import type { Readable } from 'node:stream';
import type { GenerationParams, Resolution, VideoOptions } from './catalog.js';
import type { ProviderError } from './errors.js';

/**
 * The ports `core` depends on. Adapters (providers/, media/, platforms/) implement them;
 * `core` imports nothing else from outside itself.
 */

// ---------------------------------------------------------------- time and logging

/** Injected time, so tests can move it without sleeping. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/** The subset of pino the code uses (so a test may pass `pino({ level: 'silent' })`). */
export interface Logger {
  info(obj: object, msg?: string): void;
  info(msg: string): void;
  warn(obj: object, msg?: string): void;
  warn(msg: string): void;
  error(obj: object, msg?: string): void;
  error(msg: string): void;
  debug(obj: object, msg?: string): void;
  debug(msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Told of engine events worth counting (metrics) or acting on (owner alerts). Implementations must be cheap and never throw. */
export interface EngineObserver {
  jobFinished(job: {
    provider: string;
    model: string;
    status: string;
    seconds: number;
    errorKind?: string | null;
  }): void;
  providerError(provider: string, kind: string): void;
  /** A job was queued: its estimated cost now counts against the spend caps. */
  jobQueued?(job: { provider: string; costUsd: number }): void;
  /** A job was refused because it would take spend past a cap. */
  budgetRefused?(refusal: { period: 'daily' | 'monthly'; spentUsd: number; capUsd: number }): void;
}

// ---------------------------------------------------------------- video providers

/** What a provider needs to start one generation. */
export interface GenerationRequest {
  /** Our job id: for logs and for idempotency on the provider side where supported. */
  jobId: string;
  /** The provider's model / endpoint id (from the catalog, text- or image-to-video). */
  providerModel: string;
  prompt: string;
  params: GenerationParams;
  /** A URL of the input image that the provider may fetch: always our own re-hosted copy. */
  imageUrl?: string;
  /** Where the provider should POST its completion callback, when webhooks are on. */
  webhookUrl?: string;
  /** For music-video models (kie Suno MP4): which generated song to turn into a video. */
  musicVideo?: MusicVideoSource;
  /** A follow-up of a delivered clip: what to do with the parent's task (params.resolution is the wanted one). */
  followup?: FollowupRequest;
}

/**
 * Extend: continue the parent's clip with `prompt`; Upscale: the parent's clip at `params.resolution`.
 * `parentTaskId` is the parent job's task at this same provider.
 */
export interface FollowupRequest {
  kind: 'extend' | 'upscale';
  parentTaskId: string;
}

export interface MusicVideoSource {
  /** The Suno music-generation task id. */
  taskId: string;
  /** Which track of that task. */
  audioId: string;
  author?: string;
  domainName?: string;
}

/** What the jobs table keeps in `params`: the generation parameters, plus the song for music videos. */
export type StoredParams = GenerationParams & { musicVideo?: MusicVideoSource };

/**
 * A `/video` request kept with its quote until the member confirms it: everything but the image itself, which is
 * fetched only at confirm (an image URL, a stored key, or `imageRef`, a platform's reference such as a Telegram
 * file id), so a quote left to expire leaves no file behind.
 */
export interface QuotedRequest {
  identity: { platform: PlatformId; platformUserId: string; displayName?: string };
  dest: JobDestination;
  guildId?: string;
  locale?: string;
  intakeKey: string;
  prompt: string;
  modelId?: string;
  options: VideoOptions;
  imageUrl?: string;
  sourceImageKey?: string;
  imageRef?: string;
  musicVideo?: MusicVideoSource;
  /** A follow-up's order: Confirm runs it again through the follow-up path (followups.ts), priced from its parent. */
  followup?: FollowupRef;
}

/** A follow-up (Extend, Upscale) of a delivered job; Upscale names its resolution so a stored quote keeps it. */
export interface FollowupRef {
  kind: 'extend' | 'upscale';
  parentJobId: string;
  resolution?: Resolution;
}

/** Identifies a task at its provider. Stored on the job before anything else happens after submit. */
export interface TaskRef {
  taskId: string;
  providerModel: string;
  /** The job's parameters, when tracking needs them (e.g. a 1080p upgrade to fetch after success). */
  params?: GenerationParams;
}

export type TaskStatus =
  | { state: 'queued'; queuePosition?: number }
  | { state: 'running' }
  | { state: 'succeeded'; videoUrl: string }
  | { state: 'failed'; error: ProviderError };

/**
 * What a verified webhook told us. `status` is set when the provider's payload is trusted and final.
 * A callback anyone could have sent (unsigned) carries only `taskId`: it is a nudge to look at the task, which the
 * engine rate-limits per job instead of recording.
 */
export interface WebhookEvent {
  taskId: string;
  /**
   * Dedup key, only for a callback the provider provably sent, and built from signed fields only: a key the sender
   * can vary at will would make every forged copy "new" (one more row, one more status call).
   */
  deliveryId?: string;
  status?: TaskStatus;
  /** The sender says the task is still queued or running: nothing to act on (the callback is acknowledged only). */
  progressOnly?: boolean;
}

export interface WebhookRequest {
  headers: Record<string, string | undefined>;
  rawBody: Uint8Array;
}

/**
 * One hosted video API.
 * Contract (checked by the shared conformance suite against every adapter and its simulator):
 * - `submit` resolves only once the provider accepted the task, with its task id; it throws `ProviderError`
 *   (retryable for 429 / 5xx / network, not for validation or content policy) and never half-succeeds.
 * - `status` never throws for a task that failed at the provider: it returns `{state:'failed', error}`;
 *   it throws `ProviderError` only when the status itself could not be read.
 * - `cancel` is best-effort: true if the provider accepted the cancellation.
 * - `verifyWebhook` throws `WebhookAuthError` for anything not provably from the provider.
 */
export interface VideoProvider {
  readonly id: string;
  /** True if `imageUrl` may be a `data:` URI; otherwise the provider must be able to fetch our media URL. */
  readonly acceptsInlineImages: boolean;
  submit(request: GenerationRequest, signal?: AbortSignal): Promise<TaskRef>;
  status(task: TaskRef, signal?: AbortSignal): Promise<TaskStatus>;
  cancel(task: TaskRef, signal?: AbortSignal): Promise<boolean>;
  verifyWebhook?(request: WebhookRequest): Promise<WebhookEvent>;
}

// ---------------------------------------------------------------- media

export interface StoredMedia {
  key: string;
  bytes: number;
  contentType: string;
  /** Public URL of the stored copy (our /media route or the S3 public base). */
  url: string;
}

/**
 * Where results and re-hosted inputs live. Provider URLs expire; these do not.
 * `putFile` takes ownership of `tempPath` (moves or uploads it, then removes it).
 */
export interface MediaStore {
  putFile(key: string, tempPath: string, contentType: string): Promise<StoredMedia>;
  /** Opens the stored bytes for upload to a chat platform. */
  openRead(key: string): Promise<Readable>;
  /** Local path when the store is on this disk (for the console and local uploads). */
  localPath(key: string): string | undefined;
  url(key: string): string;
  /** A writable temp path in the same file system as the store (so moving it is a rename). */
  tempPath(name: string): string;
  remove(key: string): Promise<void>;
}

/**
 * The last frame of a video file on this disk as PNG bytes (ffmpeg). Throws MediaError: `not_found`, `bad_type`
 * (not a readable video), `timeout`, `too_large`; anything else is ours (no ffmpeg on this platform).
 */
export type LastFrameReader = (videoPath: string, signal?: AbortSignal) => Promise<Buffer>;

/** Downloads a URL we did not create through the SSRF-safe fetcher into a temp file, sniffed. */
export interface MediaFetcher {
  fetchToFile(
    url: string,
    destPath: string,
    opts: { kind: 'video' | 'image'; maxBytes: number; trust: FetchTrust; signal?: AbortSignal },
  ): Promise<{ bytes: number; contentType: string; ext: string }>;
}

/**
 * Whose URL is fetched, which decides where it may lead (SSRF):
 * - `member`: typed or attached by a member. Public addresses only; FETCH_ALLOW_CIDRS never applies, and a refusal
 *   tells the member only "that address is not allowed".
 * - `operator`: a host the operator chose (a provider's result, the Telegram Bot API root). The operator's
 *   FETCH_ALLOW_CIDRS exemptions apply (local simulators, a LAN provider, a local Bot API server).
 */
export type FetchTrust = 'member' | 'operator';

// ---------------------------------------------------------------- chat platforms

export type PlatformId = 'console' | 'discord' | 'telegram';

/** Where a message lives; stored on the job so a restart can find it again (never a token that expires). */
export interface MessageRef {
  platform: PlatformId;
  chatId: string;
  messageId: string;
}

/** Platform-neutral status of a job; each platform renders it its own way (text, buttons). */
export interface StatusView {
  jobId: string;
  text: string;
  /** Final views are always shown; intermediate ones may be coalesced. */
  final: boolean;
  /** Show a Cancel control (only the requester or a moderator may use it). */
  cancellable: boolean;
  /** The language tag the job was requested in (its labels), null when unknown. */
  locale: string | null;
}

export interface JobDestination {
  platform: PlatformId;
  chatId: string;
  /** The requester's platform user id, to mention on completion. */
  userId: string;
  /** Who `notify` pings instead of the requester (owner alerts): exactly these user ids, possibly none. */
  mentionUserIds?: readonly string[];
  requestMessageId?: string | null;
  uploadLimitBytes?: number | null;
  /** The language tag the job was requested in (its labels), null when unknown. */
  locale?: string | null;
}

export interface ResultDelivery {
  jobId: string;
  text: string;
  media: StoredMedia;
  /** Local file, when the store has one; else `openRead`. */
  localPath?: string;
  openRead(): Promise<Readable>;
  /**
   * The follow-ups this clip offers (Upscale to these resolutions, Extend), each with the price in credits it would be
   * charged: the platform shows a button for each, with its price.
   */
  followups?: { upscaleTo: readonly { resolution: Resolution; price: number }[]; extend: { price: number } | null };
}

/**
 * A chat platform adapter as the engine sees it.
 * Contract: `postStatus` returns where the message lives; `editStatus` on a deleted message throws nothing
 * fatal (the engine posts a new one when it returns false); `deliver` posts the result once and returns an id
 * the engine stores so a retry never posts twice.
 */
export interface ChatPlatform {
  readonly id: PlatformId;
  postStatus(dest: JobDestination, view: StatusView): Promise<MessageRef>;
  /** False when the message is gone (deleted, token expired): the engine then posts a fresh one. */
  editStatus(ref: MessageRef, view: StatusView): Promise<boolean>;
  deliver(dest: JobDestination, delivery: ResultDelivery): Promise<{ ref: string }>;
  /** Tell the requester, with a ping, that the job failed or was cancelled. */
  notify(dest: JobDestination, text: string): Promise<void>;
}

// ---------------------------------------------------------------- http

/**
 * An extra POST route an adapter mounts on our HTTP server (e.g. the Telegram webhook). The server only routes;
 * the handler checks its own secret, since only the adapter knows what a genuine request looks like.
 */
export interface HttpRoute {
  path: string;
  handler: (request: Request) => Promise<Response>;
}

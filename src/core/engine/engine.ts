import { EventEmitter, setMaxListeners } from 'node:events';
import { randomBytes, randomInt } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import fs from 'node:fs/promises';
import { and, eq } from 'drizzle-orm';
import type { Db } from '../../../db/client.js';
import { jobs, users, type Job, type JobStatus } from '../../../db/schema.js';
import { findModel, type ModelSpec } from '../catalog.js';
import { getChatSettings, type ChatSettings } from '../chat-settings.js';
import { settleOrphanedHolds } from '../credits/ledger.js';
import { describeProviderError, MediaError, ProviderError, UserError } from '../errors.js';
import { BudgetExceededError } from '../limits/intake-limits.js';
import { DEFAULT_INTAKE_SLOT_LIMITS, IntakeSlots, type IntakeSlotLimits } from '../limits/intake-slots.js';
import { isClearlyNotEnglish } from '../moderation/language.js';
import type { Prefilter } from '../moderation/prefilter.js';
import type {
  ChatPlatform,
  Clock,
  EngineObserver,
  Logger,
  MediaFetcher,
  MediaStore,
  PlatformId,
  TaskRef,
  TaskStatus,
  VideoProvider,
  WebhookRequest,
} from '../ports.js';
import { sentence } from '../progress/progress-text.js';
import { findUser } from '../users.js';
import { recordWebhookDelivery } from '../webhook-deliveries.js';
import { CallbackWakes, type SleepKind } from './callback-wakes.js';
import { acceptVideo, existingIntake, hasImage, precheckIntake, quoteVideo, type IntakeSettings, type Quote, type VideoRequest } from './intake.js';
import { CANCELLABLE_STATUSES, finishJob, getJob, isFinal, moveJob, patchJob, statusOf } from './job-state.js';
import { nextPollDelayMs } from './poll-schedule.js';
import { backoffMs, DEFAULT_RETRY, isRetryable, retryAfterOf, type RetryPolicy } from './retry.js';
import { queuePositions, startEligibleJobs, unfinishedJobIds, type SchedulerCaps } from './scheduler.js';
import { destinationOf, StatusMessages } from './status-messages.js';
import { communityId } from '../roles.js';

/**
 * The job engine: intake, fair scheduling, and one runner per started job that walks it through
 * submitting → running → fetching → delivering → succeeded, persisting each step before the next,
 * so a restart resumes every job from where it was (design.md §2–3).
 */

export interface EngineSettings extends IntakeSettings, SchedulerCaps {
  statusEditIntervalMs: number;
  maxResultBytes: number;
  maxInputImageBytes: number;
  /** `${PUBLIC_URL}` when set: providers call `/webhooks/<provider>` there. */
  webhookBaseUrl?: string | undefined;
  /** Can a provider fetch our media URLs? If not, input images are sent inline as data URIs. */
  mediaIsPublic: boolean;
  retry?: RetryPolicy;
  /** Requests being prepared (image download, moderation call) at once; MAX_INTAKE_IN_PROGRESS and USER_MAX_…. */
  intakeInProgress?: IntakeSlotLimits;
  /** Provider callbacks wake a job (one status read) at most once per this many ms. Default 5000. */
  callbackWakeIntervalMs?: number;
}

export interface EngineDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  models: readonly ModelSpec[];
  providers: ReadonlyMap<string, VideoProvider>;
  platforms: ReadonlyMap<PlatformId, ChatPlatform>;
  store: MediaStore;
  fetcher: MediaFetcher;
  prefilter: Prefilter;
  settings: EngineSettings;
  newId?: () => string;
  observer?: EngineObserver;
}


export interface SubmitResult {
  job: Job;
  duplicate: boolean;
  position: number | undefined;
}

export interface JobEvent {
  job: Job;
}

const newShortId = (prefix: string) => `${prefix}${randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').toLowerCase()}`;
/** Running-job status refreshes per second across all jobs: a share of a platform's global rate limit. */
const RUNNING_VIEW_REFRESHES_PER_S = 10;
export const newCorrelationId = () => randomBytes(4).toString('hex');

export class Engine {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly settings: EngineSettings;
  private readonly retryPolicy: RetryPolicy;
  private readonly runners = new Map<string, Promise<void>>();
  private readonly sleeps: CallbackWakes;
  private readonly pushedStatus = new Map<string, TaskStatus>();
  private readonly status: StatusMessages;
  private readonly intakeSlots: IntakeSlots;
  private readonly events = new EventEmitter();
  private readonly abort = new AbortController();
  private stopping = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private queuedRefreshTimer: NodeJS.Timeout | undefined;
  private nextViewIndex = 0;

  constructor(private readonly deps: EngineDeps) {
    this.db = deps.db;
    this.log = deps.logger.child({ component: 'engine' });
    this.clock = deps.clock;
    this.settings = deps.settings;
    this.retryPolicy = deps.settings.retry ?? DEFAULT_RETRY;
    this.intakeSlots = new IntakeSlots(deps.settings.intakeInProgress ?? DEFAULT_INTAKE_SLOT_LIMITS);
    this.sleeps = new CallbackWakes(deps.clock, deps.settings.callbackWakeIntervalMs ?? 5000);
    this.events.setMaxListeners(0);
    // Every provider call and download in flight listens for shutdown on this one signal: thousands is normal.
    setMaxListeners(0, this.abort.signal);
    this.status = new StatusMessages({
      db: deps.db,
      clock: deps.clock,
      logger: this.log,
      models: deps.models,
      platforms: deps.platforms,
      intervalMs: deps.settings.statusEditIntervalMs,
    });
  }

  private get tickMs(): number {
    return Math.max(1000, this.settings.statusEditIntervalMs);
  }

  get models(): readonly ModelSpec[] {
    return this.deps.models;
  }

  // ------------------------------------------------------------------ lifecycle

  /** Settles anything a crash left unsettled, resumes every unfinished job, and starts scheduling. */
  start(): void {
    const settled = settleOrphanedHolds(this.db, this.clock);
    if (settled) this.log.warn({ settled }, 'settled holds left open by a crash');
    let resumed = 0;
    for (const { id, status } of unfinishedJobIds(this.db)) {
      if (status === 'queued') continue;
      this.launch(id, true);
      resumed++;
    }
    if (resumed) this.log.info({ resumed }, 'resumed unfinished jobs');
    this.pump();
    // Refreshes elapsed time / ETA on running jobs' status messages; the coalescer keeps edits rare.
    this.tickTimer = setInterval(() => this.refreshRunningViews(), this.tickMs);
    this.tickTimer.unref();
  }

  /**
   * Stops taking work and lets every runner reach a safe point: sleeping runners wake and return at once;
   * a provider call in flight (a submit above all, whose task id must be saved) gets up to `graceMs` to
   * finish before it is aborted. Everything is resumed from the database on the next start.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    clearInterval(this.tickTimer);
    clearTimeout(this.queuedRefreshTimer);
    this.sleeps.wakeAll();
    const settled = Promise.allSettled([...this.runners.values()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.abort.abort();
    await settled;
    await this.status.close();
  }

  /** Resolves with the job once it is final (succeeded, failed or cancelled). */
  waitForJob(jobId: string): Promise<Job> {
    return new Promise((resolve) => {
      const check = () => {
        const job = getJob(this.db, jobId);
        if (job && isFinal(job.status)) {
          this.events.off('final', check);
          resolve(job);
        }
      };
      this.events.on('final', check);
      check();
    });
  }

  onJobFinal(listener: (job: Job) => void): () => void {
    const wrapped = (job: Job) => listener(job);
    this.events.on('final', wrapped);
    return () => this.events.off('final', wrapped);
  }

  // ------------------------------------------------------------------ intake

  /**
   * Checks, charges (hold) and queues a `/video` request. Throws `UserError` for anything the member can fix;
   * in that case nothing was charged, no job exists and no file was kept.
   */
  async submitVideo(request: VideoRequest): Promise<SubmitResult> {
    if (this.stopping) throw new UserError('shutting_down', 'The bot is restarting. Please try again in a minute.');
    const previous = existingIntake(this.db, request.intakeKey);
    if (previous) return { job: previous, duplicate: true, position: queuePositions(this.db).get(previous.id) };

    const models = this.availableModels();
    const chat = getChatSettings(this.db, { platform: request.dest.platform, chatId: request.guildId ?? request.dest.chatId });
    const quote = quoteVideo(request, models, chat.defaultModel ?? this.settings.defaultModel);
    if (quote.model.englishOnly && (await isClearlyNotEnglish(quote.prompt))) {
      throw new UserError('english_only', `${quote.model.label} understands English prompts only. Please write your prompt in English, or pick another model (/models).`);
    }
    if (hasImage(request) && !this.settings.mediaIsPublic && !this.deps.providers.get(quote.model.provider)?.acceptsInlineImages) {
      throw new UserError('image_needs_public_url', `${quote.model.label} fetches images from a public address, and this bot has none (PUBLIC_URL). Try another model.`);
    }
    // Before slow work (a moderation call, an image download): the banned, rate-limited or broke member hears so at
    // once and costs nothing, and the work itself takes an intake slot, since the limits above count only job rows.
    // acceptVideo checks everything again in its transaction anyway.
    let releaseSlot = () => {};
    if (hasImage(request) || this.deps.prefilter.callsOut) {
      const user = this.checkingBudget(() => precheckIntake(this.db, this.clock, request, quote, this.settings, chat));
      releaseSlot = this.intakeSlots.take(user.id);
    }
    try {
      return await this.acceptChecked(request, quote, chat, releaseSlot);
    } finally {
      releaseSlot();
    }
  }

  /** Moderation, the input image, then the accepting transaction; the job row exists once this returns. */
  private async acceptChecked(request: VideoRequest, quote: Quote, chat: ChatSettings, releaseSlot: () => void): Promise<SubmitResult> {
    const verdict = await this.deps.prefilter.check(quote.prompt, undefined, communityId(request.dest.platform, request.guildId));
    if (!verdict.ok) {
      this.log.info({ rule: verdict.rule, user: request.identity }, 'prompt blocked');
      throw new UserError('prompt_blocked', verdict.message, { rule: verdict.rule });
    }

    const jobId = this.deps.newId?.() ?? newShortId('j');
    const inputMediaKey = await this.storeInputImage(jobId, request);
    let accepted: { job: Job; duplicate: boolean };
    try {
      accepted = this.checkingBudget(() => acceptVideo(this.db, this.clock, request, quote, this.settings, jobId, inputMediaKey, chat));
    } catch (error) {
      if (inputMediaKey) await this.deps.store.remove(inputMediaKey).catch(() => {});
      throw error;
    }
    // From here on the job row counts against the member's limits.
    releaseSlot();
    if (accepted.duplicate && inputMediaKey) await this.deps.store.remove(inputMediaKey).catch(() => {});
    const position = queuePositions(this.db).get(accepted.job.id);
    if (!accepted.duplicate) {
      this.log.info({ jobId, model: quote.model.id, price: quote.price, user: request.identity }, 'job queued');
      this.deps.observer?.jobQueued?.({ provider: quote.model.provider, costUsd: quote.costUsd });
      await this.status.post(accepted.job, position);
      this.pump();
    }
    return { ...accepted, position };
  }

  /** Runs intake checks; a refusal for the spend cap is the owners' business too. */
  private checkingBudget<T>(check: () => T): T {
    try {
      return check();
    } catch (error) {
      if (error instanceof BudgetExceededError) {
        this.log.warn({ period: error.period, spentUsd: error.spentUsd, capUsd: error.capUsd }, 'provider spend cap reached: new jobs are refused (owners: raise BUDGET_*_USD or wait)');
        this.deps.observer?.budgetRefused?.({ period: error.period, spentUsd: error.spentUsd, capUsd: error.capUsd });
      }
      throw error;
    }
  }

  /** Models whose provider is configured. */
  availableModels(): ModelSpec[] {
    return this.deps.models.filter((m) => this.deps.providers.has(m.provider));
  }

  private async storeInputImage(jobId: string, request: VideoRequest): Promise<string | undefined> {
    if (request.imageUrl) return this.fetchInputImage(jobId, request.imageUrl);
    if (request.sourceImageKey) return this.copyStoredImage(jobId, request.sourceImageKey);
    if (request.fetchImage) {
      const { path, contentType, ext } = await request.fetchImage(this.abort.signal);
      return (await this.deps.store.putFile(`inputs/${jobId}.${ext}`, path, contentType)).key;
    }
    return undefined;
  }

  private async fetchInputImage(jobId: string, url: string): Promise<string> {
    const temp = this.deps.store.tempPath(`${jobId}-input.part`);
    try {
      const got = await this.deps.fetcher.fetchToFile(url, temp, {
        kind: 'image',
        maxBytes: this.settings.maxInputImageBytes,
        trust: 'member',
        signal: this.abort.signal,
      });
      const stored = await this.deps.store.putFile(`inputs/${jobId}.${got.ext}`, temp, got.contentType);
      return stored.key;
    } catch (error) {
      await fs.rm(temp, { force: true });
      // What the member is not told (where a name resolved) is the owner's to read.
      if (error instanceof MediaError && error.detail) this.log.info({ jobId, reason: error.detail }, 'member image address refused');
      // Our storage failing is not the member's image's fault: that one goes up as our error, with a ref.
      if (error instanceof MediaError && error.kind !== 'storage') throw new UserError('bad_image', `The image could not be used: ${error.message}`);
      throw error;
    }
  }

  private async copyStoredImage(jobId: string, sourceKey: string): Promise<string> {
    const ext = sourceKey.split('.').pop() ?? 'png';
    const temp = this.deps.store.tempPath(`${jobId}-input.part`);
    try {
      await pipeline(await this.deps.store.openRead(sourceKey), createWriteStream(temp));
    } catch {
      await fs.rm(temp, { force: true });
      throw new UserError('image_gone', 'The original image is no longer stored, so this video cannot be retried.');
    }
    const type = ext === 'png' ? 'image/png' : ext === 'webp' ? 'image/webp' : ext === 'gif' ? 'image/gif' : 'image/jpeg';
    return (await this.deps.store.putFile(`inputs/${jobId}.${ext}`, temp, type)).key;
  }

  /**
   * The Retry button: the same prompt, model, options and image as a finished job, with a new seed.
   * Only the job's requester may retry it, and it is charged as a new job.
   */
  async retry(jobId: string, request: Pick<VideoRequest, 'identity' | 'dest' | 'intakeKey' | 'guildId' | 'locale'>): Promise<SubmitResult> {
    const job = getJob(this.db, jobId);
    const requester = job && this.db.select().from(users).where(eq(users.id, job.userId)).get();
    if (!job || !requester || requester.platform !== request.identity.platform || requester.platformUserId !== request.identity.platformUserId) {
      throw new UserError('not_yours', 'Only the person who asked for this video can retry it.');
    }
    if (!isFinal(job.status)) throw new UserError('not_finished', 'This video is still being made.');
    const { musicVideo, ...params } = job.params;
    return this.submitVideo({
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
    });
  }

  // ------------------------------------------------------------------ cancellation

  /**
   * Cancels a queued or running job for its owner (or a moderator) and refunds it.
   * A job already at the provider is cancelled there too, best-effort.
   */
  async cancel(jobId: string, by: { userId: number; moderator: boolean }): Promise<Job> {
    const job = getJob(this.db, jobId);
    if (!job || (job.userId !== by.userId && !by.moderator)) {
      throw new UserError('no_such_job', `You have no job ${jobId.slice(0, 20)}.`);
    }
    if (isFinal(job.status)) throw new UserError('job_final', `Job ${job.id} has already ${job.status}.`);
    const ok = finishJob(this.db, this.clock, job.id, CANCELLABLE_STATUSES, {
      status: 'cancelled',
      errorKind: 'cancelled',
      errorMessage: by.userId === job.userId ? 'Cancelled by you.' : 'Cancelled by a moderator.',
    });
    if (!ok) throw new UserError('too_late', 'The video is already being delivered and can no longer be cancelled.');
    const fresh = getJob(this.db, job.id)!;
    if (fresh.providerTaskId) await this.cancelAtProvider(fresh);
    this.afterFinal(fresh);
    this.sleeps.wakeNow(job.id);
    this.pump();
    return fresh;
  }

  private async cancelAtProvider(job: Job): Promise<void> {
    const provider = this.deps.providers.get(job.provider);
    if (!provider || !job.providerTaskId) return;
    try {
      await provider.cancel({ taskId: job.providerTaskId, providerModel: job.providerModel }, this.abort.signal);
    } catch (error) {
      this.log.warn({ jobId: job.id, err: error }, 'provider cancel failed (ignored)');
    }
  }

  // ------------------------------------------------------------------ webhooks

  /**
   * A provider callback. Verified by the provider adapter (signature, or nothing to verify for unsigned ones), then
   * handed to the job's runner, which applies it with the same guarded moves as polling. What forged traffic can
   * cost is bounded: no record and no wake for a finished job, a record only for signed deliveries (pruned after
   * 7 days), and at most one wake (one status read) per job per interval, never during a backoff.
   */
  async handleWebhook(providerId: string, request: WebhookRequest): Promise<{ status: number; body: unknown }> {
    const provider = this.deps.providers.get(providerId);
    if (!provider?.verifyWebhook) return { status: 404, body: { error: 'unknown provider' } };
    const event = await provider.verifyWebhook(request);
    const job = this.db
      .select({ id: jobs.id, status: jobs.status })
      .from(jobs)
      .where(and(eq(jobs.provider, providerId), eq(jobs.providerTaskId, event.taskId)))
      .get();
    if (!job) {
      this.log.debug({ provider: providerId, taskId: event.taskId }, 'webhook for an unknown task (ignored)');
      return { status: 200, body: { ok: true, ignored: 'unknown task' } };
    }
    if (isFinal(job.status)) return { status: 200, body: { ok: true, ignored: 'job finished' } };
    if (event.progressOnly) return { status: 200, body: { ok: true } };
    if (event.deliveryId !== undefined && !recordWebhookDelivery(this.db, this.clock, { provider: providerId, deliveryId: event.deliveryId, jobId: job.id })) {
      return { status: 200, body: { ok: true, duplicate: true } };
    }
    // Only a job whose runner is tracking it can use the news (and only a runner forgets its wake state again).
    if (!this.runners.has(job.id)) return { status: 200, body: { ok: true } };
    if (event.status) this.pushedStatus.set(job.id, event.status);
    this.sleeps.onCallback(job.id);
    return { status: 200, body: { ok: true } };
  }

  // ------------------------------------------------------------------ scheduling

  /** Starts whatever may start now. Cheap; called on every event that frees or fills a slot. */
  pump(): void {
    if (this.stopping) return;
    let started: string[] = [];
    try {
      started = startEligibleJobs(this.db, this.clock, this.settings);
    } catch (error) {
      this.log.error({ err: error }, 'scheduler failed');
    }
    for (const id of started) this.launch(id);
    this.scheduleQueuedRefresh();
  }

  /** `resumed`: the job was left unfinished by an earlier run, so what happened meanwhile is unknown. */
  private launch(jobId: string, resumed = false): void {
    if (this.runners.has(jobId) || this.stopping) return;
    const run = this.runJob(jobId, resumed).finally(() => {
      this.runners.delete(jobId);
      this.pushedStatus.delete(jobId);
      this.sleeps.forget(jobId);
      this.pump();
    });
    this.runners.set(jobId, run);
  }

  // ------------------------------------------------------------------ the runner

  private async runJob(jobId: string, resumed: boolean): Promise<void> {
    for (;;) {
      if (this.stopping) return;
      const job = getJob(this.db, jobId);
      if (!job) return;
      if (isFinal(job.status)) return;
      try {
        switch (job.status) {
          case 'queued':
            return;
          case 'submitting':
            await this.submitStep(job);
            break;
          case 'running':
            await this.trackStep(job, resumed);
            break;
          case 'fetching':
            await this.fetchStep(job);
            break;
          case 'delivering':
            await this.deliverStep(job);
            break;
        }
      } catch (error) {
        if (this.stopping) return;
        this.failUnexpectedly(jobId, error);
      }
      // Only the step a resumed runner starts with picks up after an unknown gap; later ones follow this run's own.
      resumed = false;
    }
  }

  private async submitStep(job: Job): Promise<void> {
    if (job.providerTaskId) {
      moveJob(this.db, this.clock, job.id, 'submitting', 'running');
      return;
    }
    const provider = this.deps.providers.get(job.provider);
    if (!provider) {
      this.fail(job, 'submitting', 'internal', `The ${job.provider} provider is not configured any more.`);
      return;
    }
    this.status.show(job, 'submitting');
    const imageUrl = job.inputMediaKey ? await this.providerImageUrl(job.inputMediaKey) : undefined;
    const webhookUrl = this.settings.webhookBaseUrl ? `${this.settings.webhookBaseUrl}/webhooks/${provider.id}` : undefined;
    let attempts = job.attempts;
    const task = await this.withRetries(job, 'submitting', () => {
      patchJob(this.db, this.clock, job.id, 'submitting', { attempts: ++attempts });
      const { musicVideo, ...params } = job.params;
      return provider.submit(
        {
          jobId: job.id,
          providerModel: job.providerModel,
          prompt: job.prompt,
          params,
          ...(imageUrl ? { imageUrl } : {}),
          ...(webhookUrl ? { webhookUrl } : {}),
          ...(musicVideo ? { musicVideo } : {}),
        },
        this.abort.signal,
      );
    });
    if (!task) return;
    // The task id is saved in the same statement that moves the job on: after this, a crash resumes
    // tracking this task and never submits again.
    const moved = moveJob(this.db, this.clock, job.id, 'submitting', 'running', { providerTaskId: task.taskId });
    if (!moved) {
      // Cancelled while we were submitting: the provider has a task nobody wants.
      patchJob(this.db, this.clock, job.id, 'cancelled', { providerTaskId: task.taskId });
      await provider.cancel(task).catch(() => false);
      return;
    }
    this.log.info({ jobId: job.id, taskId: task.taskId }, 'submitted');
  }

  private async providerImageUrl(key: string): Promise<string> {
    if (this.settings.mediaIsPublic) return this.deps.store.url(key);
    // Without a public URL the provider cannot reach our media route; send the bytes inline instead.
    const stream = await this.deps.store.openRead(key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const type = key.endsWith('.png') ? 'image/png' : key.endsWith('.webp') ? 'image/webp' : key.endsWith('.gif') ? 'image/gif' : 'image/jpeg';
    return `data:${type};base64,${Buffer.concat(chunks).toString('base64')}`;
  }

  /**
   * Polls (or waits for a callback) until the provider is done. A job this run just submitted is not done yet, so
   * the first status call waits for the schedule; a resumed job is looked at once, since callbacks may have been
   * missed while the bot was down.
   */
  private async trackStep(job: Job, resumed: boolean): Promise<void> {
    const provider = this.deps.providers.get(job.provider);
    const model = findModel(job.model, this.deps.models);
    if (!provider || !model || !job.providerTaskId) {
      this.fail(job, 'running', 'internal', 'This job can no longer be tracked.');
      return;
    }
    const task: TaskRef = { taskId: job.providerTaskId, providerModel: job.providerModel, params: job.params };
    const startedAt = job.submittedAt ?? job.createdAt;
    const deadline = startedAt + model.timeoutSeconds * 1000;
    const expectedMs = this.status.expectedSeconds(job, model) * 1000;
    const webhooks = !!this.settings.webhookBaseUrl;
    const nextPoll = () => Math.min(deadline - this.clock.now(), nextPollDelayMs({ elapsedMs: this.clock.now() - startedAt, expectedMs, webhooks }));
    let waitFirst = !resumed;
    let shownPosition: number | undefined | null = null; // null: nothing shown yet
    let failures = 0;
    while (!this.stopping) {
      if (this.clock.now() >= deadline) {
        await provider.cancel(task).catch(() => false);
        this.fail(job, 'running', 'timeout', 'The provider took too long to generate the video.');
        return;
      }
      let status = this.pushedStatus.get(job.id);
      this.pushedStatus.delete(job.id);
      if (!status && waitFirst) {
        waitFirst = false;
        this.status.show(job, 'running');
        shownPosition = undefined;
        await this.sleep(job.id, nextPoll(), 'poll');
        continue;
      }
      if (!status) {
        try {
          status = await provider.status(task, this.abort.signal);
          failures = 0;
        } catch (error) {
          if (this.stopping) return;
          failures++;
          // An outage is waited out until the model's deadline; a provider that keeps answering nonsense is not.
          const malformed = error instanceof ProviderError && error.kind === 'malformed';
          if (error instanceof ProviderError && (!error.retryable || (malformed && failures >= this.retryPolicy.maxAttempts))) {
            this.failWithProviderError(job, 'running', error);
            return;
          }
          if (!isRetryable(error)) throw error;
          this.log.warn({ jobId: job.id, err: error, failures }, 'status check failed; will retry');
          if (error instanceof ProviderError) this.deps.observer?.providerError(job.provider, error.kind);
          await this.sleep(job.id, backoffMs(failures, this.retryPolicy, retryAfterOf(error)), 'backoff');
          continue;
        }
      }
      if (statusOf(this.db, job.id) !== 'running') return;
      if (status.state === 'succeeded') {
        moveJob(this.db, this.clock, job.id, 'running', 'fetching', {
          resultUrl: status.videoUrl,
          providerDoneAt: this.clock.now(),
        });
        return;
      }
      if (status.state === 'failed') {
        this.failWithProviderError(job, 'running', status.error);
        return;
      }
      // The view changes only with the provider's queue position; elapsed time is the tick's job.
      const position = status.state === 'queued' ? status.queuePosition : undefined;
      if (position !== shownPosition) this.status.show(job, 'running', position);
      shownPosition = position;
      await this.sleep(job.id, nextPoll(), 'poll');
    }
  }

  private async fetchStep(job: Job): Promise<void> {
    if (job.mediaKey) {
      moveJob(this.db, this.clock, job.id, 'fetching', 'delivering');
      return;
    }
    this.status.show(job, 'fetching');
    // Download and store as one retried unit: a failed store has already consumed the downloaded file.
    const stored = await this.withRetries(job, 'fetching', async () => {
      const temp = this.deps.store.tempPath(`${job.id}.part`);
      const got = await this.deps.fetcher.fetchToFile(job.resultUrl!, temp, {
        kind: 'video',
        maxBytes: this.settings.maxResultBytes,
        trust: 'operator',
        signal: this.abort.signal,
      });
      return this.deps.store.putFile(`results/${job.id}.${got.ext}`, temp, got.contentType);
    });
    if (!stored) return;
    moveJob(this.db, this.clock, job.id, 'fetching', 'delivering', {
      mediaKey: stored.key,
      mediaBytes: stored.bytes,
      mediaUrl: stored.url,
    });
  }

  private async deliverStep(job: Job): Promise<void> {
    const platform = this.deps.platforms.get(job.platform);
    if (!job.deliveredAt && platform) {
      this.status.show(job, 'delivering');
      const store = this.deps.store;
      const media = {
        key: job.mediaKey!,
        bytes: job.mediaBytes ?? 0,
        contentType: job.mediaKey!.endsWith('.webm') ? 'video/webm' : 'video/mp4',
        url: job.mediaUrl ?? store.url(job.mediaKey!),
      };
      const localPath = store.localPath(media.key);
      const receipt = await this.withRetries(job, 'delivering', () =>
        platform.deliver(destinationOf(this.db, job), {
          jobId: job.id,
          text: `Your video is ready: ${truncate(job.prompt, 200)}`,
          media,
          ...(localPath ? { localPath } : {}),
          openRead: () => store.openRead(media.key),
        }),
      );
      if (!receipt) return;
      patchJob(this.db, this.clock, job.id, 'delivering', { deliveredAt: this.clock.now(), deliveryRef: receipt.ref });
    } else if (!platform) {
      this.log.warn({ jobId: job.id, platform: job.platform }, 'platform not running; result kept in storage only');
    }
    if (finishJob(this.db, this.clock, job.id, 'delivering', { status: 'succeeded' })) {
      this.log.info({ jobId: job.id }, 'job succeeded');
      this.afterFinal(getJob(this.db, job.id)!);
    }
  }

  // ------------------------------------------------------------------ failures and retries

  /**
   * Runs one provider / network operation with bounded retries. Returns undefined when the job was failed
   * (non-retryable error, or attempts used up) or moved by someone else; the runner then re-reads the job.
   */
  private async withRetries<T>(job: Job, status: JobStatus, operation: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation();
      } catch (error) {
        if (this.stopping) return undefined;
        const current = getJob(this.db, job.id);
        if (!current || current.status !== status) return undefined;
        if (isRetryable(error) && attempt < this.retryPolicy.maxAttempts) {
          const delay = backoffMs(attempt, this.retryPolicy, retryAfterOf(error));
          this.log.warn({ jobId: job.id, step: status, attempt, delay, err: error }, 'transient failure; retrying');
          if (error instanceof ProviderError) this.deps.observer?.providerError(job.provider, error.kind);
          await this.sleep(job.id, delay, 'backoff');
          continue;
        }
        if (error instanceof ProviderError) this.failWithProviderError(job, status, error);
        else if (error instanceof MediaError) {
          // Our storage failing is the owner's to fix (disk full, permissions, S3 credentials), not the member's.
          if (error.kind === 'storage') this.log.error({ jobId: job.id, err: error }, 'media storage failed: check DATA_DIR or the S3 settings');
          this.fail(job, status, `media_${error.kind}`, mediaFailureText(error, status));
        }
        else throw error;
        return undefined;
      }
    }
  }

  private failWithProviderError(job: Job, from: JobStatus, error: ProviderError): void {
    this.deps.observer?.providerError(job.provider, error.kind);
    this.log.info({ jobId: job.id, kind: error.kind, stage: error.stage, reason: error.message }, 'provider rejected job');
    if (error.kind === 'auth' || error.kind === 'insufficient_funds') {
      this.log.error({ provider: job.provider, kind: error.kind }, 'provider account problem: owners must act');
    }
    this.fail(job, from, error.kind === 'content_policy' ? `content_policy_${error.stage ?? 'input'}` : error.kind, describeProviderError(error));
  }

  private fail(job: Job, from: JobStatus, kind: string, message: string, ref?: string): void {
    const done = finishJob(this.db, this.clock, job.id, from, {
      status: 'failed',
      errorKind: kind,
      errorMessage: message,
      ...(ref ? { errorRef: ref } : {}),
    });
    if (done) this.afterFinal(getJob(this.db, job.id)!);
  }

  /** Our bug: log with a correlation id, fail the job, refund; the member sees only the id. */
  private failUnexpectedly(jobId: string, error: unknown): void {
    const ref = newCorrelationId();
    this.log.error({ jobId, ref, err: error }, 'job step crashed');
    const job = getJob(this.db, jobId);
    if (!job || isFinal(job.status)) return;
    this.fail(job, job.status, 'internal', `Something went wrong on our side (ref ${ref}).`, ref);
  }

  // ------------------------------------------------------------------ status messages

  private afterFinal(job: Job): void {
    this.deps.observer?.jobFinished({
      provider: job.provider,
      model: job.model,
      status: job.status,
      errorKind: job.errorKind,
      seconds: ((job.finishedAt ?? this.clock.now()) - job.createdAt) / 1000,
    });
    this.status.show(job, job.status);
    this.events.emit('final', job);
    if (job.status !== 'succeeded') {
      const platform = this.deps.platforms.get(job.platform);
      const text = job.status === 'cancelled' ? `Job ${job.id} was cancelled. ${job.price} credits refunded.` : `Job ${job.id} failed: ${sentence(job.errorMessage ?? 'unknown error')} ${job.price} credits refunded.`;
      platform?.notify(destinationOf(this.db, job), text).catch((error: unknown) => this.log.warn({ jobId: job.id, err: error }, 'notify failed'));
    }
  }

  /**
   * Queue positions shift whenever a job starts or a fair-order newcomer slots in; re-rendering every queued
   * job on each of those would make intake O(queue length). One refresh per interval is enough for a human.
   */
  private scheduleQueuedRefresh(): void {
    if (this.queuedRefreshTimer || this.stopping) return;
    this.queuedRefreshTimer = setTimeout(() => {
      this.queuedRefreshTimer = undefined;
      this.refreshQueuedViews();
    }, Math.max(250, this.settings.statusEditIntervalMs));
    this.queuedRefreshTimer.unref();
  }

  private refreshQueuedViews(): void {
    for (const [jobId, position] of queuePositions(this.db)) {
      const job = getJob(this.db, jobId);
      if (job?.statusMessageId) this.status.show(job, 'queued', position);
    }
  }

  /**
   * Elapsed time and the bar move on running jobs' status messages. A chat platform throttles a bot as a whole
   * (Discord: 50 requests/s), so the ticks share a budget: with thousands of jobs running, each tick refreshes the
   * next slice of them in turn instead of all at once (which would also stall the event loop).
   */
  private refreshRunningViews(): void {
    const ids = [...this.runners.keys()];
    const count = Math.min(ids.length, Math.ceil((this.tickMs / 1000) * RUNNING_VIEW_REFRESHES_PER_S));
    for (let i = 0; i < count; i++) {
      const job = getJob(this.db, ids[(this.nextViewIndex + i) % ids.length]!);
      if (job?.status === 'running') this.status.show(job, 'running');
    }
    this.nextViewIndex = ids.length ? (this.nextViewIndex + count) % ids.length : 0;
  }

  // ------------------------------------------------------------------ sleeping

  /** Sleeps, but wakes early on a cancellation or shutdown, and from a poll wait on a callback for this job. */
  private sleep(jobId: string, ms: number, kind: SleepKind): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return this.sleeps.sleep(jobId, ms, kind);
  }

  // ------------------------------------------------------------------ queries for commands

  queuePositionOf(jobId: string): number | undefined {
    return queuePositions(this.db).get(jobId);
  }

  userIdOf(platform: PlatformId, platformUserId: string): number | undefined {
    return findUser(this.db, platform, platformUserId)?.id;
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function mediaFailureText(error: MediaError, step: JobStatus): string {
  if (step !== 'fetching') return `Delivery failed: ${error.message}`;
  switch (error.kind) {
    case 'bad_type':
      return 'The provider returned something that is not a video.';
    case 'too_large':
      return 'The generated video is larger than this bot accepts.';
    case 'storage':
      return 'The generated video could not be stored on our side.';
    case 'http_status':
      return 'The generated video could no longer be downloaded from the provider.';
    default:
      return 'The generated video could not be downloaded from the provider.';
  }
}

import { randomUUID } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import type { ModelSpec } from '../catalog.js';
import { settleOrphanedHolds } from '../credits/ledger.js';
import { UserError } from '../errors.js';
import type { IntakeSlotLimits } from '../limits/intake-slots.js';
import type { Prefilter } from '../moderation/prefilter.js';
import type {
  ChatPlatform,
  Clock,
  EngineObserver,
  Logger,
  LastFrameReader,
  MediaFetcher,
  MediaStore,
  PlatformId,
  VideoProvider,
  WebhookRequest,
} from '../ports.js';
import { sentence } from '../progress/progress-text.js';
import type { Job, Store } from '../store.js';
import { findUser } from '../users.js';
import { recordWebhookDelivery } from '../webhook-deliveries.js';
import { InputImages } from './input-images.js';
import type { IntakeSettings, VideoRequest } from './intake.js';
import type { FollowupOrder } from './followups.js';
import { JobSignals } from './job-signals.js';
import { ParkedJobs, type TrackMemo } from './parked-jobs.js';
import { CANCELLABLE_STATUSES, finishJob, getJob, isFinal, jobOfProviderTask } from './job-state.js';
import type { ProviderHealth } from '../health/provider-health.js';
import type { RetryPolicy } from './retry.js';
import { JobRunner } from './runner.js';
import { startEligibleJobs, type SchedulerCaps, type StartedJob } from './scheduler.js';
import { destinationOf, StatusMessages } from './status-messages.js';
import { VideoIntake } from './video-intake.js';
import {
  VideoQuotes,
  type ConfirmOutcome,
  type ConfirmPress,
  type QuoteSettings,
  type RequestOutcome,
} from './quotes.js';
import type { Identity } from '../users.js';
import type { QuoteRow } from '../store.js';

/**
 * The job engine as commands, adapters and main see it: a small façade over intake (video-intake.ts), fair
 * scheduling (scheduler.ts), one runner per started job (runner.ts), the signals that reach a sleeping runner
 * (job-signals.ts) and the status messages (status-messages.ts). It owns the runners and the shutdown.
 */

export interface EngineSettings extends IntakeSettings, SchedulerCaps, QuoteSettings {
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
  /** Status looks per second per provider (PROVIDER_STATUS_CHECKS_PER_S); default 20. */
  statusChecksPerSecond?: number;
  /**
   * How long this process's claim on its jobs lasts without renewal (renewed every third of it): after a crash, its
   * jobs are taken over (by the next start, or another process) once it has run out. JOB_LEASE_S; default 30 s.
   */
  leaseMs?: number;
}

export interface EngineDeps {
  db: Store;
  clock: Clock;
  logger: Logger;
  models: readonly ModelSpec[];
  providers: ReadonlyMap<string, VideoProvider>;
  platforms: ReadonlyMap<PlatformId, ChatPlatform>;
  store: MediaStore;
  fetcher: MediaFetcher;
  /** Extend on fal: the last frame of our stored clip (src/media/last-frame.ts). */
  lastFramePng: LastFrameReader;
  prefilter: Prefilter;
  settings: EngineSettings;
  newId?: () => string;
  observer?: EngineObserver;
  /** PROVIDER_FALLBACK: provider health, and moving jobs no provider accepted yet off a provider that is down. */
  health?: ProviderHealth;
}

export interface SubmitResult {
  job: Job;
  duplicate: boolean;
  position: number | undefined;
}

export class Engine {
  private readonly db: Store;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly settings: EngineSettings;
  private readonly runners = new Map<string, Promise<void>>();
  private readonly signals: JobSignals;
  /** Jobs at a provider between status looks: tracked, but with no runner. */
  private readonly parked: ParkedJobs;
  private readonly status: StatusMessages;
  private readonly runner: JobRunner;
  private readonly intake: VideoIntake;
  private readonly quotes: VideoQuotes;
  private readonly events = new EventEmitter();
  private readonly abort = new AbortController();
  private stopping = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private stopHearingNudges: (() => Promise<void>) | undefined;
  /** This process's id in the store's `workers`, new at every start: the jobs it runs carry it. */
  readonly workerId: string;
  private readonly leaseMs: number;

  constructor(private readonly deps: EngineDeps) {
    this.db = deps.db;
    this.log = deps.logger.child({ component: 'engine' });
    this.clock = deps.clock;
    this.settings = deps.settings;
    this.workerId = randomUUID();
    this.leaseMs = deps.settings.leaseMs ?? 30_000;
    this.parked = new ParkedJobs({
      clock: deps.clock,
      logger: this.log,
      looksPerSecond: deps.settings.statusChecksPerSecond ?? 20,
      onDue: (job) => this.launch({ id: job.jobId, epoch: job.epoch }, false, job),
    });
    this.signals = new JobSignals(deps.clock, deps.settings.callbackWakeIntervalMs ?? 5000, this.parked);
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
    const images = new InputImages({
      store: deps.store,
      fetcher: deps.fetcher,
      logger: this.log,
      maxInputImageBytes: deps.settings.maxInputImageBytes,
      mediaIsPublic: deps.settings.mediaIsPublic,
      lastFramePng: deps.lastFramePng,
      signal: this.abort.signal,
    });
    const isStopping = () => this.stopping;
    this.runner = new JobRunner({
      ...deps,
      log: this.log,
      status: this.status,
      signals: this.signals,
      images,
      signal: this.abort.signal,
      isStopping,
      onFinal: (job) => this.afterFinal(job),
    });
    this.intake = new VideoIntake({
      ...deps,
      log: this.log,
      status: this.status,
      images,
      isStopping,
      pump: () => this.pump(),
    });
    this.quotes = new VideoQuotes({ db: deps.db, clock: deps.clock, settings: deps.settings, intake: this.intake });
  }

  private get tickMs(): number {
    return Math.max(1000, this.settings.statusEditIntervalMs);
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Joins the workers on the store, settles anything a crash left unsettled, resumes the jobs of workers that are gone
   * (after a restart: this process's own earlier life), and starts scheduling.
   */
  async start(): Promise<void> {
    await this.renewLease();
    // Every start adds a worker row; those of processes long gone would pile up.
    await this.db.workers.forgetGone(this.clock.now() - this.leaseMs);
    // A provider callback that reached another process, for a job this one runs.
    this.stopHearingNudges = await this.db.nudges.subscribe((jobId) => {
      if (this.isTracking(jobId)) this.signals.callback(jobId, undefined);
    });
    const settled = await settleOrphanedHolds(this.db, this.clock);
    if (settled) this.log.warn({ settled }, 'settled holds left open by a crash');
    await this.takeOverOrphans();
    await this.pump();
    // Renews this worker's lease, and takes over the jobs of workers whose lease ran out (a process that died).
    this.leaseTimer = setInterval(
      () => {
        this.renewLease()
          .then(() => this.takeOverOrphans())
          .catch((error: unknown) =>
            this.log.error({ err: error }, 'could not renew the job lease or take over orphaned jobs'),
          );
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    this.leaseTimer.unref();
    // Refreshes elapsed time / ETA on running jobs' status messages; the coalescer keeps edits rare.
    this.tickTimer = setInterval(() => {
      this.status
        .refreshRunningViews([...this.runners.keys(), ...this.parked.ids()], this.tickMs)
        .catch((error: unknown) =>
          this.log.warn({ err: error }, 'could not refresh the status messages of running jobs'),
        );
    }, this.tickMs);
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
    clearInterval(this.leaseTimer);
    await this.stopHearingNudges?.();
    this.status.stopRefreshes();
    this.parked.clear();
    this.signals.stop();
    const settled = Promise.allSettled([...this.runners.values()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.abort.abort();
    await settled;
    await this.status.close();
    // Leaving hands this worker's unfinished jobs to the next start (or another process) at once, not after the lease.
    await this.db.workers
      .leave(this.workerId)
      .catch((error: unknown) => this.log.warn({ err: error }, 'could not leave the workers'));
  }

  private async renewLease(): Promise<void> {
    const now = this.clock.now();
    await this.db.workers.renew(this.workerId, now, now + this.leaseMs);
  }

  /** Resumes the started jobs of workers that are gone, in batches, each with the new epoch this worker holds it by. */
  private async takeOverOrphans(): Promise<void> {
    let resumed = 0;
    for (;;) {
      if (this.stopping) break;
      const taken = await this.db.jobs.takeOver(this.workerId, this.clock.now(), 500);
      for (const { id, leaseEpoch } of taken) this.launch({ id, epoch: leaseEpoch }, true);
      resumed += taken.length;
      if (taken.length < 500) break;
    }
    if (resumed) this.log.info({ resumed }, 'resumed unfinished jobs');
  }

  /** Resolves with the job once it is final (succeeded, failed or cancelled). */
  waitForJob(jobId: string): Promise<Job> {
    return new Promise((resolve, reject) => {
      const check = () => {
        getJob(this.db, jobId).then((job) => {
          if (job && isFinal(job.status)) {
            this.events.off('final', check);
            resolve(job);
          }
        }, reject);
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
  submitVideo(request: VideoRequest): Promise<SubmitResult> {
    return this.intake.submitVideo(request);
  }

  /**
   * The Retry button: the same prompt, model, options and image as a finished job, with a new seed.
   * Only the job's requester may retry it, and it is charged as a new job.
   */
  retry(
    jobId: string,
    request: Pick<VideoRequest, 'identity' | 'dest' | 'intakeKey' | 'guildId' | 'locale'>,
  ): Promise<SubmitResult> {
    return this.intake.retry(jobId, request);
  }

  // ------------------------------------------------------------------ quote and confirm (quotes.ts)

  /** `/video` as members send it: a job at once, or above CONFIRM_ABOVE_CREDITS a quote to confirm first. */
  requestVideo(request: VideoRequest): Promise<RequestOutcome> {
    return this.quotes.request(request);
  }

  /** The Retry button as members press it: charged again, so above the threshold it is quoted first too. */
  async requestRetry(
    jobId: string,
    request: Pick<VideoRequest, 'identity' | 'dest' | 'intakeKey' | 'guildId' | 'locale'>,
  ): Promise<RequestOutcome> {
    return this.quotes.request(await this.intake.retryRequest(jobId, request));
  }

  getQuote(id: string): Promise<QuoteRow | undefined> {
    return this.quotes.get(id);
  }

  /** Confirm: the quoted request becomes a job, at the quoted price or not at all. */
  confirmQuote(id: string, by: Identity, press: ConfirmPress): Promise<ConfirmOutcome> {
    return this.quotes.confirm(id, by, press);
  }

  /** Cancel on a quote: nothing was held, the quote is closed. */
  dropQuote(id: string, by: Identity): Promise<QuoteRow> {
    return this.quotes.drop(id, by);
  }

  // ------------------------------------------------------------------ follow-ups (followups.ts)

  /** Extend or Upscale a delivered job (followups.ts): a new job, charged to the parent's requester, who alone may ask. */
  followup(order: FollowupOrder): Promise<SubmitResult> {
    return this.intake.followup(order);
  }

  /** Extend or Upscale as members press it: above CONFIRM_ABOVE_CREDITS a quote to confirm first, like `/video`. */
  requestFollowup(order: FollowupOrder): Promise<RequestOutcome> {
    return this.quotes.requestFollowup(order);
  }

  /** Models whose provider is configured. */
  availableModels(): ModelSpec[] {
    return this.intake.availableModels();
  }

  // ------------------------------------------------------------------ cancellation

  /**
   * Cancels a queued or running job for its owner (or a moderator) and refunds it.
   * A job already at the provider is cancelled there too, best-effort.
   */
  async cancel(jobId: string, by: { userId: number; moderator: boolean }): Promise<Job> {
    const job = await getJob(this.db, jobId);
    if (!job || (job.userId !== by.userId && !by.moderator)) {
      throw new UserError('no_such_job', `You have no job ${jobId.slice(0, 20)}.`);
    }
    if (isFinal(job.status)) throw new UserError('job_final', `Job ${job.id} has already ${job.status}.`);
    const ok = await finishJob(this.db, this.clock, job.id, CANCELLABLE_STATUSES, {
      status: 'cancelled',
      errorKind: 'cancelled',
      errorMessage: by.userId === job.userId ? 'Cancelled by you.' : 'Cancelled by a moderator.',
    });
    if (!ok) throw new UserError('too_late', 'The video is already being delivered and can no longer be cancelled.');
    const fresh = (await getJob(this.db, job.id))!;
    if (fresh.providerTaskId) await this.cancelAtProvider(fresh);
    await this.afterFinal(fresh);
    this.signals.wakeNow(job.id);
    await this.pump();
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
    const job = await jobOfProviderTask(this.db, providerId, event.taskId);
    if (!job) {
      this.log.debug({ provider: providerId, taskId: event.taskId }, 'webhook for an unknown task (ignored)');
      return { status: 200, body: { ok: true, ignored: 'unknown task' } };
    }
    if (isFinal(job.status)) return { status: 200, body: { ok: true, ignored: 'job finished' } };
    if (event.progressOnly) return { status: 200, body: { ok: true } };
    if (
      event.deliveryId !== undefined &&
      !(await recordWebhookDelivery(this.db, this.clock, {
        provider: providerId,
        deliveryId: event.deliveryId,
        jobId: job.id,
      }))
    ) {
      return { status: 200, body: { ok: true, duplicate: true } };
    }
    // Only a job whose runner is tracking it can use the news (and only a runner forgets its wake state again). When
    // another process runs it, that process is nudged to look at the provider itself.
    if (this.isTracking(job.id)) this.signals.callback(job.id, event.status);
    else await this.db.nudges.publish(job.id);
    return { status: 200, body: { ok: true } };
  }

  // ------------------------------------------------------------------ scheduling

  /**
   * Starts whatever may start now. Cheap; called on every event that frees or fills a slot. Never rejects (a
   * scheduler failure is logged), so callers that need not wait for it may drop the promise.
   */
  async pump(): Promise<void> {
    if (this.stopping) return;
    let started: StartedJob[] = [];
    try {
      started = await startEligibleJobs(this.db, this.clock, this.settings, this.workerId);
    } catch (error) {
      this.log.error({ err: error }, 'scheduler failed');
    }
    for (const job of started) this.launch(job);
    this.status.scheduleQueuedRefresh();
  }

  /**
   * Runs the job until it ends or parks to wait for its next status look. `resumed`: the job was left unfinished by
   * an earlier run, so what happened meanwhile is unknown; `memo`: what a parked job's next look needs.
   */
  private launch({ id: jobId, epoch }: StartedJob, resumed = false, memo?: TrackMemo): void {
    if (this.isTracking(jobId) || this.stopping) return;
    const run = this.runner
      .run(jobId, resumed, epoch, memo)
      .then((park) => {
        if (!park || this.stopping) return;
        const { delayMs, ...rest } = park;
        this.parked.park({ ...rest, jobId, epoch, dueAt: this.clock.now() + delayMs });
      })
      .finally(() => {
        this.runners.delete(jobId);
        if (this.parked.has(jobId)) return;
        this.signals.forget(jobId);
        void this.pump();
      });
    this.runners.set(jobId, run);
  }

  /** A runner of this process has the job, or will have it at its next status look. */
  private isTracking(jobId: string): boolean {
    return this.runners.has(jobId) || this.parked.has(jobId);
  }

  // ------------------------------------------------------------------ final news

  private async afterFinal(job: Job): Promise<void> {
    this.deps.observer?.jobFinished({
      provider: job.provider,
      model: job.model,
      status: job.status,
      errorKind: job.errorKind,
      seconds: ((job.finishedAt ?? this.clock.now()) - job.createdAt) / 1000,
    });
    await this.status.show(job, job.status);
    // The notice is handed to the platform, and the final status has gone out, before 'final' is emitted: whoever
    // waits for the job (the console's one-shot loop, a test) sees both in the chat before the job counts as done.
    // Only the event waits for the status edit (a round trip to the chat platform): the runner's slot and a cancel's
    // answer do not.
    const platform = job.status === 'succeeded' ? undefined : this.deps.platforms.get(job.platform);
    if (platform) {
      const text =
        job.status === 'cancelled'
          ? `Job ${job.id} was cancelled. ${job.price} credits refunded.`
          : `Job ${job.id} failed: ${sentence(job.errorMessage ?? 'unknown error')} ${job.price} credits refunded.`;
      const dest = await destinationOf(this.db, job);
      platform
        .notify(dest, text)
        .catch((error: unknown) => this.log.warn({ jobId: job.id, err: error }, 'notify failed'));
    }
    void this.status.flush(job.id).then(() => this.events.emit('final', job));
  }

  // ------------------------------------------------------------------ queries for commands

  async userIdOf(platform: PlatformId, platformUserId: string): Promise<number | undefined> {
    return (await findUser(this.db, platform, platformUserId))?.id;
  }
}

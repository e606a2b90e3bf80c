import { clip } from '../../clip.js';
import { findModel } from '../catalog.js';
import { describeProviderError, MediaError, newCorrelationId, ProviderError } from '../errors.js';
import type { FollowupRequest, TaskRef, VideoProvider } from '../ports.js';
import type { Job, JobStatus } from '../store.js';
import type { EngineDeps } from './engine.js';
import { followupOffer } from './followups.js';
import type { InputImages } from './input-images.js';
import type { SleepKind } from './callback-wakes.js';
import type { JobSignals } from './job-signals.js';
import { finishJob, getJob, isFinal, moveJob, patchJob, statusOf } from './job-state.js';
import type { TrackMemo } from './parked-jobs.js';
import { nextPollDelayMs } from './poll-schedule.js';
import { backoffMs, DEFAULT_RETRY, isRetryable, retryAfterOf, type RetryPolicy } from './retry.js';
import { destinationOf, type StatusMessages } from './status-messages.js';

/**
 * One runner per started job walks it through submitting → running → fetching → delivering → succeeded, persisting
 * each step before the next, so a restart resumes every job from where it was (design.md §2–3). Each provider or
 * network operation is retried within bounds; what cannot be retried fails the job and refunds it. While the provider
 * generates, the runner ends after each status look and the job waits parked (parked-jobs.ts) until the next.
 */

export interface RunnerDeps extends Pick<
  EngineDeps,
  'db' | 'clock' | 'models' | 'providers' | 'platforms' | 'store' | 'fetcher' | 'observer' | 'settings' | 'health'
> {
  /** The engine's logger. */
  log: EngineDeps['logger'];
  status: StatusMessages;
  signals: JobSignals;
  images: InputImages;
  /** Shutdown: aborts provider calls and downloads in flight. */
  signal: AbortSignal;
  isStopping: () => boolean;
  /** Told of every job the runner ends (succeeded or failed); awaited, so the news is out before the runner returns. */
  onFinal: (job: Job) => Promise<void>;
}

/** A job waiting at its provider until its next status look, which a relaunched runner makes. */
export interface Park extends TrackMemo {
  provider: string;
  delayMs: number;
  kind: SleepKind;
}

export class JobRunner {
  private readonly db: RunnerDeps['db'];
  private readonly clock: RunnerDeps['clock'];
  private readonly log: RunnerDeps['log'];
  private readonly retryPolicy: RetryPolicy;

  constructor(private readonly deps: RunnerDeps) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.log = deps.log;
    this.retryPolicy = deps.settings.retry ?? DEFAULT_RETRY;
  }

  /**
   * `resumed`: the job was left unfinished by an earlier run, so what happened meanwhile is unknown. `epoch`: the lease
   * epoch this worker started or took the job over with; every move is fenced by it, and once the job carries
   * another, a worker that took it over runs it and this runner stands down. Resolves with a `Park` when the job
   * waits at its provider for the next status look (`memo` carries what that look needs from the last one).
   */
  async run(jobId: string, resumed: boolean, epoch: number, memo?: TrackMemo): Promise<Park | undefined> {
    for (;;) {
      if (this.deps.isStopping()) return undefined;
      const job = await getJob(this.db, jobId);
      if (!job) return undefined;
      if (isFinal(job.status)) return undefined;
      if (job.leaseEpoch !== epoch) {
        this.log.warn(
          { jobId, epoch, now: job.leaseEpoch },
          'job taken over by another worker; this runner stands down',
        );
        return undefined;
      }
      try {
        switch (job.status) {
          case 'queued':
            return undefined;
          case 'submitting':
            await this.submitStep(job);
            break;
          case 'running': {
            const park = await this.trackStep(job, resumed, memo);
            if (park) return park;
            memo = undefined;
            break;
          }
          case 'fetching':
            await this.fetchStep(job);
            break;
          case 'delivering':
            await this.deliverStep(job);
            break;
        }
      } catch (error) {
        if (this.deps.isStopping()) return undefined;
        await this.failUnexpectedly(jobId, error, epoch);
      }
      // Only the step a resumed runner starts with picks up after an unknown gap; later ones follow this run's own.
      resumed = false;
    }
  }

  private async submitStep(job: Job): Promise<void> {
    if (job.providerTaskId) {
      await moveJob(this.db, this.clock, job.id, 'submitting', 'running', {}, job.leaseEpoch);
      return;
    }
    if (!this.deps.providers.get(job.provider)) {
      await this.fail(job, 'submitting', 'internal', `The ${job.provider} provider is not configured any more.`);
      return;
    }
    await this.deps.status.show(job, 'submitting');
    const followup = await this.followupOf(job);
    if (followup === null) {
      await this.fail(job, 'submitting', 'internal', 'The video this follow-up continues is gone.');
      return;
    }
    const imageUrl = job.inputMediaKey ? await this.deps.images.providerImageUrl(job.inputMediaKey) : undefined;
    // A follow-up continues a task at its own provider: it never moves to a twin.
    const health = followup ? undefined : this.deps.health;
    let attempts = job.attempts;
    // With PROVIDER_FALLBACK, each attempt may go to the model's twin on another provider when the job's own is down:
    // until a provider accepts the job (and its task id is saved below), it is at no provider.
    // Moved in place, so the retry loop's failure reports name the provider the job is at now.
    const target: Job = { ...job };
    const submitted = await this.withRetries(target, 'submitting', async () => {
      // Fenced: once another worker holds the job (its lease was taken as run out) or the job moved on, this runner
      // must not reach the provider, or the job would be submitted twice.
      if (!(await patchJob(this.db, this.clock, job.id, 'submitting', { attempts: ++attempts }, job.leaseEpoch)))
        return undefined;
      if (health) Object.assign(target, await health.route(target));
      for (;;) {
        const provider = this.deps.providers.get(target.provider)!;
        try {
          return { task: await this.submitTo(provider, target, imageUrl, followup), provider };
        } catch (error) {
          if (!health || this.deps.isStopping()) throw error;
          await health
            .submitFailed(provider.id, error)
            .catch((e: unknown) => this.log.warn({ err: e }, 'could not record a provider failure'));
          // The failure may have marked the provider down (at once for a refused key, which is not retried): the
          // twin then gets this attempt. Only a provider not down is moved to, so this ends.
          const moved = await health.route(target);
          if (moved.provider === target.provider) throw error;
          Object.assign(target, moved);
        }
      }
    });
    if (!submitted) return;
    const { task, provider } = submitted;
    // The task id is saved in the same statement that moves the job on: after this, a crash resumes
    // tracking this task and never submits again.
    const moved = await moveJob(
      this.db,
      this.clock,
      job.id,
      'submitting',
      'running',
      { providerTaskId: task.taskId },
      job.leaseEpoch,
    );
    if (!moved) {
      // Cancelled while we were submitting: the provider has a task nobody wants.
      await patchJob(this.db, this.clock, job.id, 'cancelled', { providerTaskId: task.taskId }, job.leaseEpoch);
      await provider.cancel(task).catch(() => false);
      return;
    }
    this.log.info({ jobId: job.id, taskId: task.taskId }, 'submitted');
    await health
      ?.submitAccepted(provider.id)
      .catch((error: unknown) => this.log.warn({ err: error }, 'could not record a provider success'));
  }

  private submitTo(
    provider: VideoProvider,
    job: Job,
    imageUrl: string | undefined,
    followup: FollowupRequest | undefined,
  ): Promise<TaskRef> {
    const webhookUrl = this.deps.settings.webhookBaseUrl
      ? `${this.deps.settings.webhookBaseUrl}/webhooks/${provider.id}`
      : undefined;
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
        ...(followup ? { followup } : {}),
      },
      this.deps.signal,
    );
  }

  /** A follow-up's parent task (undefined: not a follow-up; null: its parent has no task any more). */
  private async followupOf(job: Job): Promise<FollowupRequest | null | undefined> {
    if (!job.parentJobId || !job.followup) return undefined;
    // Extend from our clip's last frame (fal) is plain image-to-video from the job's own input image: no parent task.
    if (job.inputMediaKey) return undefined;
    const parent = await getJob(this.db, job.parentJobId);
    return parent?.providerTaskId ? { kind: job.followup, parentTaskId: parent.providerTaskId } : null;
  }

  /**
   * One look at the provider (or at the status a callback pushed): moves the job on when the provider is done, else
   * says when to look again. Between looks the job is parked outside any runner (parked-jobs.ts). A job this run
   * just submitted is not done yet, so its first look waits for the schedule; a resumed job is looked at at once
   * (callbacks may have been missed while the bot was down), in turn with the provider's other looks.
   */
  private async trackStep(job: Job, resumed: boolean, memo: TrackMemo | undefined): Promise<Park | undefined> {
    const provider = this.deps.providers.get(job.provider);
    const model = findModel(job.model, this.deps.models);
    if (!provider || !model || !job.providerTaskId) {
      await this.fail(job, 'running', 'internal', 'This job can no longer be tracked.');
      return undefined;
    }
    const task: TaskRef = { taskId: job.providerTaskId, providerModel: job.providerModel, params: job.params };
    const startedAt = job.submittedAt ?? job.createdAt;
    const deadline = startedAt + model.timeoutSeconds * 1000;
    if (this.clock.now() >= deadline) {
      await provider.cancel(task).catch(() => false);
      await this.fail(job, 'running', 'timeout', 'The provider took too long to generate the video.');
      return undefined;
    }
    const expectedMs = (await this.deps.status.expectedSeconds(job, model)) * 1000;
    const webhooks = !!this.deps.settings.webhookBaseUrl;
    const nextPoll = () =>
      Math.min(
        deadline - this.clock.now(),
        nextPollDelayMs({ elapsedMs: this.clock.now() - startedAt, expectedMs, webhooks }),
      );
    const park = (
      delayMs: number,
      kind: SleepKind,
      shownPosition: TrackMemo['shownPosition'],
      failures: number,
    ): Park => ({ provider: job.provider, delayMs, kind, shownPosition, failures });
    let status = this.deps.signals.takePushedStatus(job.id);
    if (!status && !memo) {
      if (resumed) return park(0, 'poll', null, 0);
      await this.deps.status.show(job, 'running');
      return park(nextPoll(), 'poll', undefined, 0);
    }
    let { shownPosition, failures } = memo ?? { shownPosition: null, failures: 0 };
    if (!status) {
      try {
        status = await provider.status(task, this.deps.signal);
        failures = 0;
      } catch (error) {
        if (this.deps.isStopping()) return undefined;
        failures++;
        // An outage is waited out until the model's deadline; a provider that keeps answering nonsense is not.
        const malformed = error instanceof ProviderError && error.kind === 'malformed';
        if (
          error instanceof ProviderError &&
          (!error.retryable || (malformed && failures >= this.retryPolicy.maxAttempts))
        ) {
          await this.failWithProviderError(job, 'running', error);
          return undefined;
        }
        if (!isRetryable(error)) throw error;
        this.log.warn({ jobId: job.id, err: error, failures }, 'status check failed; will retry');
        if (error instanceof ProviderError) this.deps.observer?.providerError(job.provider, error.kind);
        return park(backoffMs(failures, this.retryPolicy, retryAfterOf(error)), 'backoff', shownPosition, failures);
      }
    }
    if ((await statusOf(this.db, job.id)) !== 'running') return undefined;
    if (status.state === 'succeeded') {
      // Guarded: if the job was cancelled since the status read, this moves nothing and the run loop sees why.
      await moveJob(
        this.db,
        this.clock,
        job.id,
        'running',
        'fetching',
        {
          resultUrl: status.videoUrl,
          providerDoneAt: this.clock.now(),
        },
        job.leaseEpoch,
      );
      return undefined;
    }
    if (status.state === 'failed') {
      await this.failWithProviderError(job, 'running', status.error);
      return undefined;
    }
    // The view changes only with the provider's queue position; elapsed time is the tick's job.
    const position = status.state === 'queued' ? status.queuePosition : undefined;
    if (position !== shownPosition) await this.deps.status.show(job, 'running', position);
    return park(nextPoll(), 'poll', position, failures);
  }

  private async fetchStep(job: Job): Promise<void> {
    if (job.mediaKey) {
      await moveJob(this.db, this.clock, job.id, 'fetching', 'delivering', {}, job.leaseEpoch);
      return;
    }
    await this.deps.status.show(job, 'fetching');
    // Download and store as one retried unit: a failed store has already consumed the downloaded file.
    const stored = await this.withRetries(job, 'fetching', async () => {
      const temp = this.deps.store.tempPath(`${job.id}.part`);
      const got = await this.deps.fetcher.fetchToFile(job.resultUrl!, temp, {
        kind: 'video',
        maxBytes: this.deps.settings.maxResultBytes,
        trust: 'operator',
        signal: this.deps.signal,
      });
      return this.deps.store.putFile(`results/${job.id}.${got.ext}`, temp, got.contentType);
    });
    if (!stored) return;
    await moveJob(
      this.db,
      this.clock,
      job.id,
      'fetching',
      'delivering',
      {
        mediaKey: stored.key,
        mediaBytes: stored.bytes,
        mediaUrl: stored.url,
      },
      job.leaseEpoch,
    );
  }

  private async deliverStep(job: Job): Promise<void> {
    const platform = this.deps.platforms.get(job.platform);
    if (!job.deliveredAt && platform) {
      await this.deps.status.show(job, 'delivering');
      const store = this.deps.store;
      const media = {
        key: job.mediaKey!,
        bytes: job.mediaBytes ?? 0,
        contentType: job.mediaKey!.endsWith('.webm') ? 'video/webm' : 'video/mp4',
        url: job.mediaUrl ?? store.url(job.mediaKey!),
      };
      const localPath = store.localPath(media.key);
      const receipt = await this.withRetries(job, 'delivering', async () =>
        platform.deliver(await destinationOf(this.db, job), {
          jobId: job.id,
          text: `Your video is ready: ${clip(job.prompt, 200)}`,
          media,
          followups: followupOffer({ ...job, status: 'succeeded' }, this.deps.models),
          ...(localPath ? { localPath } : {}),
          openRead: () => store.openRead(media.key),
        }),
      );
      if (!receipt) return;
      await patchJob(
        this.db,
        this.clock,
        job.id,
        'delivering',
        { deliveredAt: this.clock.now(), deliveryRef: receipt.ref },
        job.leaseEpoch,
      );
    } else if (!platform) {
      this.log.warn({ jobId: job.id, platform: job.platform }, 'platform not running; result kept in storage only');
    }
    if (await finishJob(this.db, this.clock, job.id, 'delivering', { status: 'succeeded' }, job.leaseEpoch)) {
      this.log.info({ jobId: job.id }, 'job succeeded');
      await this.deps.onFinal((await getJob(this.db, job.id))!);
    }
  }

  // ------------------------------------------------------------------ failures and retries

  /**
   * Runs one provider / network operation with bounded retries. Returns undefined when the job was failed
   * (non-retryable error, or attempts used up), moved by someone else or taken over by another worker; the runner
   * then re-reads the job.
   */
  private async withRetries<T>(job: Job, status: JobStatus, operation: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation();
      } catch (error) {
        if (this.deps.isStopping()) return undefined;
        if (!(await this.stillHeld(job, status))) return undefined;
        if (isRetryable(error) && attempt < this.retryPolicy.maxAttempts) {
          const delay = backoffMs(attempt, this.retryPolicy, retryAfterOf(error));
          this.log.warn({ jobId: job.id, step: status, attempt, delay, err: error }, 'transient failure; retrying');
          if (error instanceof ProviderError) this.deps.observer?.providerError(job.provider, error.kind);
          await this.deps.signals.sleep(job.id, delay, 'backoff');
          // A backoff is long enough for another worker to take the job over: retrying then would submit or post twice.
          if (!(await this.stillHeld(job, status))) return undefined;
          continue;
        }
        if (error instanceof ProviderError) await this.failWithProviderError(job, status, error);
        else if (error instanceof MediaError) {
          // Our storage failing is the owner's to fix (disk full, permissions, S3 credentials), not the member's.
          if (error.kind === 'storage')
            this.log.error({ jobId: job.id, err: error }, 'media storage failed: check DATA_DIR or the S3 settings');
          await this.fail(job, status, `media_${error.kind}`, mediaFailureText(error, status));
        } else throw error;
        return undefined;
      }
    }
  }

  /** The job is still in `status` and still held by this runner's lease epoch. */
  private async stillHeld(job: Job, status: JobStatus): Promise<boolean> {
    const current = await getJob(this.db, job.id);
    return !!current && current.status === status && current.leaseEpoch === job.leaseEpoch;
  }

  private async failWithProviderError(job: Job, from: JobStatus, error: ProviderError): Promise<void> {
    this.deps.observer?.providerError(job.provider, error.kind);
    this.log.info(
      { jobId: job.id, kind: error.kind, stage: error.stage, reason: error.message },
      'provider rejected job',
    );
    if (error.kind === 'auth' || error.kind === 'insufficient_funds') {
      this.log.error({ provider: job.provider, kind: error.kind }, 'provider account problem: owners must act');
    }
    await this.fail(
      job,
      from,
      error.kind === 'content_policy' ? `content_policy_${error.stage ?? 'input'}` : error.kind,
      describeProviderError(error),
    );
  }

  private async fail(job: Job, from: JobStatus, kind: string, message: string, ref?: string): Promise<void> {
    const done = await finishJob(
      this.db,
      this.clock,
      job.id,
      from,
      {
        status: 'failed',
        errorKind: kind,
        errorMessage: message,
        ...(ref ? { errorRef: ref } : {}),
      },
      job.leaseEpoch,
    );
    if (done) await this.deps.onFinal((await getJob(this.db, job.id))!);
  }

  /** Our bug: log with a correlation id, fail the job, refund; the member sees only the id. */
  private async failUnexpectedly(jobId: string, error: unknown, epoch: number): Promise<void> {
    const ref = newCorrelationId();
    this.log.error({ jobId, ref, err: error }, 'job step crashed');
    const job = await getJob(this.db, jobId);
    if (!job || isFinal(job.status) || job.leaseEpoch !== epoch) return;
    await this.fail(job, job.status, 'internal', `Something went wrong on our side (ref ${ref}).`, ref);
  }
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

import { findModel, type ModelSpec } from '../catalog.js';
import { createCoalescer, type Coalescer } from '../progress/coalescer.js';
import { estimateJobSeconds } from '../progress/eta.js';
import { renderStatus, type StatusInput } from '../progress/progress-text.js';
import type { ChatPlatform, Clock, JobDestination, Logger, PlatformId, StatusView } from '../ports.js';
import type { Job, JobStatus, Store, StoreTx } from '../store.js';
import { requesterOf } from '../users.js';
import { CANCELLABLE_STATUSES, getJob, isFinal } from './job-state.js';
import { queuePositions } from './scheduler.js';

/**
 * Each job's status message: posted once at intake, then edited in place as the job moves, at most once per
 * interval and only when the text changes (the coalescer). Where it lives is stored on the job, so after a
 * restart the same message is edited on; if it is gone, a fresh one is posted and remembered.
 */

export interface StatusMessagesDeps {
  db: Store;
  clock: Clock;
  logger: Logger;
  models: readonly ModelSpec[];
  platforms: ReadonlyMap<PlatformId, ChatPlatform>;
  intervalMs: number;
}

const ETA_CACHE_MS = 60_000;
/** Running-job status refreshes per second across all jobs: a share of a platform's global rate limit. */
const RUNNING_VIEW_REFRESHES_PER_S = 10;

/** Where the job's messages go; `requesterPlatformUserId` when the caller knows it already (intake), else read. */
export async function destinationOf(db: StoreTx, job: Job, requesterPlatformUserId?: string): Promise<JobDestination> {
  const userId = requesterPlatformUserId ?? (await requesterOf(db, job))?.platformUserId;
  return {
    platform: job.platform,
    chatId: job.chatId,
    userId: userId ?? '',
    requestMessageId: job.requestMessageId,
    uploadLimitBytes: job.uploadLimitBytes,
    locale: job.locale,
  };
}

const isCancellable = (status: JobStatus) => (CANCELLABLE_STATUSES as readonly JobStatus[]).includes(status);

export class StatusMessages {
  private readonly coalescer: Coalescer;
  private readonly etaCache = new Map<string, { at: number; seconds: number }>();
  private queuedRefreshTimer: NodeJS.Timeout | undefined;
  private refreshesStopped = false;
  private nextViewIndex = 0;

  constructor(private readonly deps: StatusMessagesDeps) {
    this.coalescer = createCoalescer({
      intervalMs: deps.intervalMs,
      clock: deps.clock,
      send: (jobId, text, final) => this.send(jobId, text, final),
      logger: deps.logger,
    });
  }

  /** Posts the first status message of a new job (price, queue position, Cancel); intake knows its requester's id. */
  async post(job: Job, queuePosition: number | undefined, requesterPlatformUserId?: string): Promise<void> {
    const platform = this.deps.platforms.get(job.platform);
    if (!platform) return;
    const view = await this.viewOf(job, 'queued', queuePosition);
    try {
      const ref = await platform.postStatus(await destinationOf(this.deps.db, job, requesterPlatformUserId), view);
      await this.remember(job.id, ref.chatId, ref.messageId);
      this.coalescer.seed(job.id, view.text);
    } catch (error) {
      this.deps.logger.warn({ jobId: job.id, err: error }, 'could not post the status message');
    }
  }

  /**
   * Shows the job in `phase`; intermediate views may be coalesced away, final ones never are. Resolves once the
   * view is handed to the coalescer (after the ETA lookup), so views awaited one after another keep their order.
   */
  async show(job: Job, phase: JobStatus, queuePosition?: number): Promise<void> {
    const view = await this.viewOf(job, phase, queuePosition);
    this.coalescer.update(job.id, view.text, view.final);
  }

  /** Resolves once the views of `jobId` shown so far have gone out (or failed: a failed edit is logged, not thrown). */
  flush(jobId: string): Promise<void> {
    return this.coalescer.flush(jobId);
  }

  /** Median of recent similar jobs (cached for a minute), else the catalog's figure. */
  async expectedSeconds(job: Job, model: ModelSpec): Promise<number> {
    const params = job.params;
    const key = `${model.id}|${params.resolution}|${params.durationS}`;
    const cached = this.etaCache.get(key);
    if (cached && this.deps.clock.now() - cached.at < ETA_CACHE_MS) return cached.seconds;
    const seconds = await estimateJobSeconds(this.deps.db, model, params);
    this.etaCache.set(key, { at: this.deps.clock.now(), seconds });
    return seconds;
  }

  /**
   * Queue positions shift whenever a job starts or a fair-order newcomer slots in; re-rendering every queued
   * job on each of those would make intake O(queue length). One refresh per interval is enough for a human.
   */
  scheduleQueuedRefresh(): void {
    if (this.queuedRefreshTimer || this.refreshesStopped) return;
    this.queuedRefreshTimer = setTimeout(
      () => {
        this.queuedRefreshTimer = undefined;
        this.refreshQueuedViews().catch((error: unknown) =>
          this.deps.logger.warn({ err: error }, 'could not refresh the status messages of queued jobs'),
        );
      },
      Math.max(250, this.deps.intervalMs),
    );
    this.queuedRefreshTimer.unref();
  }

  /**
   * Elapsed time and the bar move on running jobs' status messages. A chat platform throttles a bot as a whole
   * (Discord: 50 requests/s), so the ticks share a budget: with thousands of jobs running, each tick (every
   * `tickMs`) refreshes the next slice of `runningJobIds` in turn instead of all at once (which would also stall
   * the event loop). The slice is taken before any await, so a slow tick and the next one refresh different jobs.
   */
  async refreshRunningViews(runningJobIds: readonly string[], tickMs: number): Promise<void> {
    const ids = runningJobIds;
    const count = Math.min(ids.length, Math.ceil((tickMs / 1000) * RUNNING_VIEW_REFRESHES_PER_S));
    const slice = Array.from({ length: count }, (_, i) => ids[(this.nextViewIndex + i) % ids.length]!);
    this.nextViewIndex = ids.length ? (this.nextViewIndex + count) % ids.length : 0;
    for (const jobId of slice) {
      const job = await getJob(this.deps.db, jobId);
      if (job?.status === 'running') await this.show(job, 'running');
    }
  }

  /** Shutdown begins: no more scheduled refreshes (edits already asked for still go out until `close`). */
  stopRefreshes(): void {
    this.refreshesStopped = true;
    clearTimeout(this.queuedRefreshTimer);
  }

  close(): Promise<void> {
    return this.coalescer.close();
  }

  private async refreshQueuedViews(): Promise<void> {
    for (const [jobId, position] of await queuePositions(this.deps.db)) {
      const job = await getJob(this.deps.db, jobId);
      if (job?.statusMessageId) await this.show(job, 'queued', position);
    }
  }

  private async viewOf(job: Job, phase: JobStatus, queuePosition?: number): Promise<StatusView> {
    const model = findModel(job.model, this.deps.models);
    const now = this.deps.clock.now();
    const startedAt = job.submittedAt ?? now;
    const endedAt = job.providerDoneAt ?? now;
    const input: StatusInput = {
      phase,
      prompt: job.prompt,
      price: job.price,
      ...(queuePosition !== undefined ? { queuePosition } : {}),
      elapsedS: Math.max(0, Math.round(((phase === 'running' ? now : endedAt) - startedAt) / 1000)),
      ...(model ? { etaS: await this.expectedSeconds(job, model) } : {}),
      ...(job.errorMessage ? { reason: job.errorMessage } : {}),
      ...(phase === 'failed' || phase === 'cancelled' ? { refunded: job.price } : {}),
      ...(job.errorRef ? { errorRef: job.errorRef } : {}),
    };
    return {
      jobId: job.id,
      text: renderStatus(input),
      final: isFinal(phase),
      cancellable: isCancellable(phase),
      locale: job.locale,
    };
  }

  private async send(jobId: string, text: string, final: boolean): Promise<void> {
    const job = await getJob(this.deps.db, jobId);
    if (!job) return;
    const platform = this.deps.platforms.get(job.platform);
    if (!platform) return;
    const view: StatusView = { jobId, text, final, cancellable: isCancellable(job.status), locale: job.locale };
    if (job.statusChatId && job.statusMessageId) {
      const ref = { platform: job.platform, chatId: job.statusChatId, messageId: job.statusMessageId };
      if (await platform.editStatus(ref, view)) return;
    }
    // No status message yet, or it is gone: post a fresh one and remember where it lives.
    const ref = await platform.postStatus(await destinationOf(this.deps.db, job), view);
    await this.remember(jobId, ref.chatId, ref.messageId);
  }

  private async remember(jobId: string, chatId: string, messageId: string): Promise<void> {
    await this.deps.db.jobs.setStatusMessage(jobId, chatId, messageId);
  }
}

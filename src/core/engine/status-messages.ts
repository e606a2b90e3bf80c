import { eq, sql } from 'drizzle-orm';
import { preparedPerDb, slot, type Db } from '../../../db/client.js';
import { jobs, type Job, type JobStatus } from '../../../db/schema.js';
import { findModel, type ModelSpec } from '../catalog.js';
import { createCoalescer, type Coalescer } from '../progress/coalescer.js';
import { estimateJobSeconds } from '../progress/eta.js';
import { renderStatus, type StatusInput } from '../progress/progress-text.js';
import type { ChatPlatform, Clock, JobDestination, Logger, PlatformId, StatusView } from '../ports.js';
import { requesterOf } from '../users.js';
import { CANCELLABLE_STATUSES, getJob, isFinal } from './job-state.js';
import { queuePositions } from './scheduler.js';

/**
 * Each job's status message: posted once at intake, then edited in place as the job moves, at most once per
 * interval and only when the text changes (the coalescer). Where it lives is stored on the job, so after a
 * restart the same message is edited on; if it is gone, a fresh one is posted and remembered.
 */

export interface StatusMessagesDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  models: readonly ModelSpec[];
  platforms: ReadonlyMap<PlatformId, ChatPlatform>;
  intervalMs: number;
}

const ETA_CACHE_MS = 60_000;
/** Running-job status refreshes per second across all jobs: a share of a platform's global rate limit. */
const RUNNING_VIEW_REFRESHES_PER_S = 10;

const setStatusMessage = preparedPerDb((db) =>
  db
    .update(jobs)
    .set({ statusChatId: slot<string>('chatId'), statusMessageId: slot<string>('messageId') })
    .where(eq(jobs.id, sql.placeholder('jobId')))
    .prepare(),
);

export function destinationOf(db: Db, job: Job): JobDestination {
  const owner = requesterOf(db, job);
  return {
    platform: job.platform,
    chatId: job.chatId,
    userId: owner?.platformUserId ?? '',
    requestMessageId: job.requestMessageId,
    uploadLimitBytes: job.uploadLimitBytes,
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

  /** Posts the first status message of a new job (price, queue position, Cancel). */
  async post(job: Job, queuePosition: number | undefined): Promise<void> {
    const platform = this.deps.platforms.get(job.platform);
    if (!platform) return;
    const view = this.viewOf(job, 'queued', queuePosition);
    try {
      const ref = await platform.postStatus(destinationOf(this.deps.db, job), view);
      this.remember(job.id, ref.chatId, ref.messageId);
      this.coalescer.seed(job.id, view.text);
    } catch (error) {
      this.deps.logger.warn({ jobId: job.id, err: error }, 'could not post the status message');
    }
  }

  /** Shows the job in `phase`; intermediate views may be coalesced away, final ones never are. */
  show(job: Job, phase: JobStatus, queuePosition?: number): void {
    const view = this.viewOf(job, phase, queuePosition);
    this.coalescer.update(job.id, view.text, view.final);
  }

  /** Median of recent similar jobs (cached for a minute), else the catalog's figure. */
  expectedSeconds(job: Job, model: ModelSpec): number {
    const params = job.params;
    const key = `${model.id}|${params.resolution}|${params.durationS}`;
    const cached = this.etaCache.get(key);
    if (cached && this.deps.clock.now() - cached.at < ETA_CACHE_MS) return cached.seconds;
    const seconds = estimateJobSeconds(this.deps.db, model, params);
    this.etaCache.set(key, { at: this.deps.clock.now(), seconds });
    return seconds;
  }

  /**
   * Queue positions shift whenever a job starts or a fair-order newcomer slots in; re-rendering every queued
   * job on each of those would make intake O(queue length). One refresh per interval is enough for a human.
   */
  scheduleQueuedRefresh(): void {
    if (this.queuedRefreshTimer || this.refreshesStopped) return;
    this.queuedRefreshTimer = setTimeout(() => {
      this.queuedRefreshTimer = undefined;
      this.refreshQueuedViews();
    }, Math.max(250, this.deps.intervalMs));
    this.queuedRefreshTimer.unref();
  }

  /**
   * Elapsed time and the bar move on running jobs' status messages. A chat platform throttles a bot as a whole
   * (Discord: 50 requests/s), so the ticks share a budget: with thousands of jobs running, each tick (every
   * `tickMs`) refreshes the next slice of `runningJobIds` in turn instead of all at once (which would also stall
   * the event loop).
   */
  refreshRunningViews(runningJobIds: readonly string[], tickMs: number): void {
    const ids = runningJobIds;
    const count = Math.min(ids.length, Math.ceil((tickMs / 1000) * RUNNING_VIEW_REFRESHES_PER_S));
    for (let i = 0; i < count; i++) {
      const job = getJob(this.deps.db, ids[(this.nextViewIndex + i) % ids.length]!);
      if (job?.status === 'running') this.show(job, 'running');
    }
    this.nextViewIndex = ids.length ? (this.nextViewIndex + count) % ids.length : 0;
  }

  /** Shutdown begins: no more scheduled refreshes (edits already asked for still go out until `close`). */
  stopRefreshes(): void {
    this.refreshesStopped = true;
    clearTimeout(this.queuedRefreshTimer);
  }

  close(): Promise<void> {
    return this.coalescer.close();
  }

  private refreshQueuedViews(): void {
    for (const [jobId, position] of queuePositions(this.deps.db)) {
      const job = getJob(this.deps.db, jobId);
      if (job?.statusMessageId) this.show(job, 'queued', position);
    }
  }

  private viewOf(job: Job, phase: JobStatus, queuePosition?: number): StatusView {
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
      ...(model ? { etaS: this.expectedSeconds(job, model) } : {}),
      ...(job.errorMessage ? { reason: job.errorMessage } : {}),
      ...(phase === 'failed' || phase === 'cancelled' ? { refunded: job.price } : {}),
      ...(job.errorRef ? { errorRef: job.errorRef } : {}),
    };
    return { jobId: job.id, text: renderStatus(input), final: isFinal(phase), cancellable: isCancellable(phase) };
  }

  private async send(jobId: string, text: string, final: boolean): Promise<void> {
    const job = getJob(this.deps.db, jobId);
    if (!job) return;
    const platform = this.deps.platforms.get(job.platform);
    if (!platform) return;
    const view: StatusView = { jobId, text, final, cancellable: isCancellable(job.status) };
    if (job.statusChatId && job.statusMessageId) {
      const ref = { platform: job.platform, chatId: job.statusChatId, messageId: job.statusMessageId };
      if (await platform.editStatus(ref, view)) return;
    }
    // No status message yet, or it is gone: post a fresh one and remember where it lives.
    const ref = await platform.postStatus(destinationOf(this.deps.db, job), view);
    this.remember(jobId, ref.chatId, ref.messageId);
  }

  private remember(jobId: string, chatId: string, messageId: string): void {
    setStatusMessage(this.deps.db).run({ jobId, chatId, messageId });
  }
}

import type { Clock, Logger } from '../ports.js';
import type { SleepKind } from './callback-wakes.js';

/**
 * Jobs at a provider between two status looks. A clip takes minutes and a look takes milliseconds, so nearly every
 * job in flight is waiting; a waiting job holds no runner, promise or timer, only an entry here (about 200 bytes,
 * against about 4 KB for a suspended runner and its sleep): 100,000 jobs in flight fit in one process.
 *
 * One timer serves them all, armed for the earliest entry. Each provider's looks are paced by a token bucket of
 * `looksPerSecond` (a burst of a second's worth): with thousands of jobs polled densely near their expected end, the
 * provider's status rate limit, and our event loop, would otherwise decide how many calls fail. When looks are due
 * faster than the budget allows, they go out in due order, later than planned; a warning (at most once a minute per
 * provider) says how far behind.
 */

/** What a runner carries from one look to the next. */
export interface TrackMemo {
  /** The provider queue position last shown; null when nothing was shown yet. */
  shownPosition: number | undefined | null;
  /** Status looks in a row that failed. */
  failures: number;
}

export interface ParkedJob extends TrackMemo {
  jobId: string;
  provider: string;
  /** The lease epoch the job is held by: a relaunch is fenced by it. */
  epoch: number;
  dueAt: number;
  kind: SleepKind;
}

export interface ParkedJobsOptions {
  clock: Clock;
  logger: Logger;
  /** Status looks per second per provider; Infinity for no pacing. */
  looksPerSecond: number;
  /** A parked job's time has come (or it was woken): relaunch its runner. */
  onDue: (job: ParkedJob) => void;
}

const LAG_WARNING_MS = 10_000;
const LAG_WARNING_EVERY_MS = 60_000;
/** setTimeout's longest delay; a later due time is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One provider's parked jobs: a min-heap by due time (stale entries are skipped when they surface) and its bucket. */
interface Lane {
  heap: ParkedJob[];
  tokens: number;
  refilledAt: number;
  warnedAt: number;
}

export class ParkedJobs {
  private readonly byId = new Map<string, ParkedJob>();
  private readonly lanes = new Map<string, Lane>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(private readonly options: ParkedJobsOptions) {}

  get size(): number {
    return this.byId.size;
  }

  has(jobId: string): boolean {
    return this.byId.has(jobId);
  }

  kindOf(jobId: string): SleepKind | undefined {
    return this.byId.get(jobId)?.kind;
  }

  ids(): IterableIterator<string> {
    return this.byId.keys();
  }

  /** Parks a job until `job.dueAt` (replacing an earlier parking of it). */
  park(job: ParkedJob): void {
    this.byId.set(job.jobId, job);
    const lane = this.laneOf(job.provider);
    heapPush(lane.heap, job);
    this.arm(this.nextFireAt(lane));
  }

  /**
   * Brings a parked job forward. `now`: relaunch at once, outside the budget (a cancellation, or a callback that
   * brought the status itself: no provider call follows). `due`: due now, in turn with the other due looks.
   */
  wake(jobId: string, how: 'now' | 'due'): void {
    const job = this.byId.get(jobId);
    if (!job) return;
    if (how === 'now') {
      this.byId.delete(jobId);
      this.options.onDue(job);
      return;
    }
    this.park({ ...job, dueAt: Math.min(job.dueAt, this.options.clock.now()) });
  }

  /** Shutdown: nothing parked is relaunched (every job resumes from the store at the next start). */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    this.byId.clear();
    this.lanes.clear();
  }

  private laneOf(provider: string): Lane {
    let lane = this.lanes.get(provider);
    if (!lane) {
      lane = {
        heap: [],
        tokens: this.burst(),
        refilledAt: this.options.clock.now(),
        warnedAt: Number.NEGATIVE_INFINITY,
      };
      this.lanes.set(provider, lane);
    }
    return lane;
  }

  private burst(): number {
    return Math.max(1, this.options.looksPerSecond);
  }

  private refill(lane: Lane, now: number): void {
    if (now <= lane.refilledAt) return;
    lane.tokens = Math.min(this.burst(), lane.tokens + ((now - lane.refilledAt) / 1000) * this.options.looksPerSecond);
    lane.refilledAt = now;
  }

  /** Drops entries at the top of the heap that a later parking (or a wake) replaced. */
  private top(lane: Lane): ParkedJob | undefined {
    while (lane.heap.length && this.byId.get(lane.heap[0]!.jobId) !== lane.heap[0]) heapPop(lane.heap);
    return lane.heap[0];
  }

  /** When this lane next has something to relaunch: its earliest entry's due time, or when a token is back. */
  private nextFireAt(lane: Lane): number {
    const first = this.top(lane);
    if (!first) return Number.POSITIVE_INFINITY;
    if (lane.tokens >= 1) return first.dueAt;
    return Math.max(first.dueAt, lane.refilledAt + ((1 - lane.tokens) / this.options.looksPerSecond) * 1000);
  }

  private arm(at: number): void {
    if (at >= this.armedFor) return;
    clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, at - this.options.clock.now())));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.options.clock.now();
    const due: ParkedJob[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [provider, lane] of this.lanes) {
      this.refill(lane, now);
      for (let first = this.top(lane); first && first.dueAt <= now && lane.tokens >= 1; first = this.top(lane)) {
        heapPop(lane.heap);
        this.byId.delete(first.jobId);
        lane.tokens -= 1;
        due.push(first);
      }
      this.warnIfBehind(provider, lane, now);
      next = Math.min(next, this.nextFireAt(lane));
    }
    this.arm(next);
    for (const job of due) this.options.onDue(job);
  }

  private warnIfBehind(provider: string, lane: Lane, now: number): void {
    const first = this.top(lane);
    const behindMs = first ? now - first.dueAt : 0;
    if (behindMs < LAG_WARNING_MS || now - lane.warnedAt < LAG_WARNING_EVERY_MS) return;
    lane.warnedAt = now;
    this.options.logger.warn(
      {
        provider,
        behindS: Math.round(behindMs / 1000),
        parked: lane.heap.length,
        looksPerSecond: this.options.looksPerSecond,
      },
      'status checks are behind schedule: raise PROVIDER_STATUS_CHECKS_PER_S, or set PUBLIC_URL so the provider calls back',
    );
  }
}

// A binary min-heap on dueAt, in place in an array.

function heapPush(heap: ParkedJob[], job: ParkedJob): void {
  heap.push(job);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]!.dueAt <= job.dueAt) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = job;
}

function heapPop(heap: ParkedJob[]): void {
  const last = heap.pop()!;
  if (!heap.length) return;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heap.length) break;
    const right = left + 1;
    const child = right < heap.length && heap[right]!.dueAt < heap[left]!.dueAt ? right : left;
    if (heap[child]!.dueAt >= last.dueAt) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
}

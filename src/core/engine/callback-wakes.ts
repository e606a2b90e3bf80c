import type { Clock } from '../ports.js';

/** What a runner is sleeping for: a callback may end a wait for the next poll, never a backoff. */
export type SleepKind = 'poll' | 'backoff';

interface Sleeper {
  wake: () => void;
  kind: SleepKind;
}

/**
 * The runners' sleeps, and the rule for waking them from a provider callback.
 *
 * An unsigned callback (Ark, kie without an HMAC key) proves nothing, so all it may cause is one status read, and
 * anyone can send thousands. So callbacks wake a job at most once per `intervalMs`: the first at once, later ones
 * folded into one wake at the end of the interval (a genuine "finished" that follows a "started" is still seen within
 * seconds). A runner backing off after a 429 or an outage is never woken by a callback: that would cut the backoff
 * short with the operator's key. Cancellation and shutdown still wake every sleeper (`wakeNow`).
 */
export class CallbackWakes {
  private readonly sleepers = new Map<string, Sleeper>();
  private readonly lastWakeAt = new Map<string, number>();
  private readonly deferred = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    /** Parked jobs (between status looks, no runner asleep): a wake relaunches them. */
    private readonly parked: {
      kindOf(jobId: string): SleepKind | undefined;
      wake(jobId: string, cause: 'cancel' | 'callback'): void;
    },
  ) {}

  /** Sleeps `ms`; ends early on `wakeNow`, or on a callback when `kind` is 'poll'. */
  sleep(jobId: string, ms: number, kind: SleepKind): Promise<void> {
    return new Promise((resolve) => {
      const sleeper: Sleeper = {
        kind,
        wake: () => {
          clearTimeout(timer);
          if (this.sleepers.get(jobId) === sleeper) this.sleepers.delete(jobId);
          resolve();
        },
      };
      const timer = setTimeout(sleeper.wake, Math.max(0, ms));
      this.sleepers.set(jobId, sleeper);
    });
  }

  /** Cancellation: ends whatever sleep the job is in. */
  wakeNow(jobId: string): void {
    this.sleepers.get(jobId)?.wake();
    this.parked.wake(jobId, 'cancel');
  }

  wakeAll(): void {
    for (const sleeper of [...this.sleepers.values()]) sleeper.wake();
    for (const timer of this.deferred.values()) clearTimeout(timer);
    this.deferred.clear();
  }

  /** A callback about the job: wakes its poll sleep now, or once at the end of the current interval. */
  onCallback(jobId: string): void {
    if (this.deferred.has(jobId)) return;
    const since = this.clock.now() - (this.lastWakeAt.get(jobId) ?? Number.NEGATIVE_INFINITY);
    if (since >= this.intervalMs) {
      this.wakeForCallback(jobId);
      return;
    }
    const timer = setTimeout(() => {
      this.deferred.delete(jobId);
      this.wakeForCallback(jobId);
    }, this.intervalMs - since);
    timer.unref();
    this.deferred.set(jobId, timer);
  }

  /** The job's runner ended: nothing more to wake. */
  forget(jobId: string): void {
    clearTimeout(this.deferred.get(jobId));
    this.deferred.delete(jobId);
    this.lastWakeAt.delete(jobId);
  }

  private wakeForCallback(jobId: string): void {
    const sleeper = this.sleepers.get(jobId);
    // Counted even when nothing sleeps (the runner is mid-call): the interval bounds status reads, not wakes.
    this.lastWakeAt.set(jobId, this.clock.now());
    if (sleeper?.kind === 'poll') sleeper.wake();
    else if (this.parked.kindOf(jobId) === 'poll') this.parked.wake(jobId, 'callback');
  }
}

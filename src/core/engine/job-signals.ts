import type { Clock, TaskStatus } from '../ports.js';
import { CallbackWakes, type SleepKind } from './callback-wakes.js';
import type { ParkedJobs } from './parked-jobs.js';

/**
 * What reaches a job from outside while it waits, asleep in its runner (a backoff) or parked between status looks: a
 * wake (cancellation, shutdown, a provider callback) and the status a callback pushed, which the runner uses instead
 * of asking the provider again.
 */
export class JobSignals {
  private readonly wakes: CallbackWakes;
  private readonly pushed = new Map<string, TaskStatus>();
  private stopped = false;

  constructor(clock: Clock, callbackWakeIntervalMs: number, parked: ParkedJobs) {
    this.wakes = new CallbackWakes(clock, callbackWakeIntervalMs, {
      kindOf: (jobId) => parked.kindOf(jobId),
      // A cancellation, or a callback that brought the status itself, costs no status call: relaunched at once.
      // Otherwise the look the callback asks for waits its turn in the provider's budget.
      wake: (jobId, cause) => parked.wake(jobId, cause === 'cancel' || this.pushed.has(jobId) ? 'now' : 'due'),
    });
  }

  /** Sleeps, but wakes early on a cancellation or shutdown, and from a poll wait on a callback for this job. */
  sleep(jobId: string, ms: number, kind: SleepKind): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.wakes.sleep(jobId, ms, kind);
  }

  /** Cancellation: ends whatever wait the job is in. */
  wakeNow(jobId: string): void {
    this.wakes.wakeNow(jobId);
  }

  /** Shutdown: every sleeper returns now, and later sleeps return at once. */
  stop(): void {
    this.stopped = true;
    this.wakes.wakeAll();
  }

  /** A provider callback about the job, with the status it reported if it carried one. */
  callback(jobId: string, status: TaskStatus | undefined): void {
    if (status) this.pushed.set(jobId, status);
    this.wakes.onCallback(jobId);
  }

  /** The status a callback pushed since the last look, if any (taken: each one is used once). */
  takePushedStatus(jobId: string): TaskStatus | undefined {
    const status = this.pushed.get(jobId);
    this.pushed.delete(jobId);
    return status;
  }

  /** The job's runner ended: nothing more to wake or hand over. */
  forget(jobId: string): void {
    this.pushed.delete(jobId);
    this.wakes.forget(jobId);
  }
}

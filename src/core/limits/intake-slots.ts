import { UserError } from '../errors.js';

/**
 * Bounds the intake work in progress: requests between their first slow step (an image download, a moderation
 * call) and their job row. Rate limits and pending-job caps count job rows, which exist only once that work is
 * done, so without this one member's 40 concurrent `/video --image` would run 40 downloads at once.
 *
 * Counted in memory, per process: what is bounded is this process's own sockets, disk and time.
 */

export interface IntakeSlotLimits {
  /** Requests being prepared at once, across all members. */
  total: number;
  /** Requests being prepared at once for one member. */
  perUser: number;
}

/** The defaults of MAX_INTAKE_IN_PROGRESS and USER_MAX_INTAKE_IN_PROGRESS. */
export const DEFAULT_INTAKE_SLOT_LIMITS: IntakeSlotLimits = { total: 16, perUser: 2 };

export class IntakeSlots {
  private readonly perUser = new Map<number, number>();
  private total = 0;

  constructor(private readonly limits: IntakeSlotLimits) {}

  /**
   * Takes a slot for `userId`, or throws a UserError saying plainly why not. The returned function gives the
   * slot back; calling it more than once is harmless.
   */
  take(userId: number): () => void {
    const mine = this.perUser.get(userId) ?? 0;
    if (mine >= this.limits.perUser) {
      throw new UserError(
        'intake_busy_user',
        `I am still preparing your other ${mine === 1 ? 'request' : `${mine} requests`} (downloading the image, checking the prompt). Wait for ${mine === 1 ? 'it' : 'them'} to be queued, then try again.`,
        { inProgress: mine },
      );
    }
    if (this.total >= this.limits.total) {
      throw new UserError(
        'intake_busy',
        'Too many requests are being prepared right now. Please try again in a minute.',
      );
    }
    this.perUser.set(userId, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perUser.get(userId) ?? 1) - 1;
      if (left > 0) this.perUser.set(userId, left);
      else this.perUser.delete(userId);
    };
  }

  /** Requests being prepared now (for metrics and tests). */
  get inProgress(): number {
    return this.total;
  }
}

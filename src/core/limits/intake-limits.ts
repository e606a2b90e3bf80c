import type { StoreTx, User } from '../store.js';
import { UserError } from '../errors.js';
import { formatDuration } from '../progress/progress-text.js';
import type { Clock } from '../ports.js';

/**
 * Per-user and global checks made at intake, inside the intake transaction (so two commands racing
 * cannot both squeeze under a limit). All counts come from the jobs table: they survive restarts.
 */

export interface LimitSettings {
  rateLimitJobs: number;
  rateLimitWindowS: number;
  userMaxPendingJobs: number;
  dailyJobQuota: number;
  budgetDailyUsd?: number | undefined;
  budgetMonthlyUsd?: number | undefined;
}

export class BudgetExceededError extends UserError {
  constructor(
    readonly period: 'daily' | 'monthly',
    readonly spentUsd: number,
    readonly capUsd: number,
  ) {
    super('budget_exceeded', 'The bot has reached its spending limit for now. Please try again later.', {
      period,
    });
  }
}

const DAY_MS = 86_400_000;

function startOfUtcDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

function startOfUtcMonth(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

export async function checkUserLimits(db: StoreTx, clock: Clock, user: User, settings: LimitSettings): Promise<void> {
  const now = clock.now();

  const pending = await db.jobs.pendingCountOf(user.id);
  if (pending >= settings.userMaxPendingJobs) {
    throw new UserError(
      'too_many_pending',
      `You already have ${pending} video${pending === 1 ? '' : 's'} in progress. Wait for one to finish, or /cancel one.`,
    );
  }

  // Jobs that failed or were cancelled before reaching a provider do not count (see JobRepo.countedSince).
  const counted = await db.jobs.countedSince(user.id, {
    windowStart: now - settings.rateLimitWindowS * 1000,
    dayStart: startOfUtcDay(now),
  });
  if (counted.inWindow >= settings.rateLimitJobs) {
    const waitS = Math.max(
      1,
      Math.ceil(((counted.oldestInWindow ?? now) + settings.rateLimitWindowS * 1000 - now) / 1000),
    );
    throw new UserError(
      'rate_limited',
      `You can start ${settings.rateLimitJobs} videos every ${formatDuration(settings.rateLimitWindowS)}. Try again in ${formatDuration(waitS)}.`,
      { waitS },
    );
  }

  const quota = user.dailyJobQuota ?? settings.dailyJobQuota;
  if (counted.today >= quota) {
    throw new UserError(
      'daily_quota',
      quota === 0
        ? 'Video generation is not enabled for your account.'
        : `You have used your ${quota} videos for today. The quota resets at 00:00 UTC.`,
      { quota },
    );
  }
}

/** Estimated provider spend since `since` (jobs that reached a provider or may still). */
export async function spentUsdSince(db: StoreTx, since: number): Promise<number> {
  return db.jobs.spentUsdSince(since);
}

/** Spend so far against one of the owner's caps, in the current UTC day or month. */
export interface BudgetUsage {
  period: 'daily' | 'monthly';
  spentUsd: number;
  capUsd: number;
}

/** The current spend against each configured cap (none when no cap is set). */
export async function budgetUsage(
  db: StoreTx,
  now: number,
  caps: Pick<LimitSettings, 'budgetDailyUsd' | 'budgetMonthlyUsd'>,
): Promise<BudgetUsage[]> {
  const usage: BudgetUsage[] = [];
  if (caps.budgetDailyUsd !== undefined)
    usage.push({ period: 'daily', spentUsd: await spentUsdSince(db, startOfUtcDay(now)), capUsd: caps.budgetDailyUsd });
  if (caps.budgetMonthlyUsd !== undefined)
    usage.push({
      period: 'monthly',
      spentUsd: await spentUsdSince(db, startOfUtcMonth(now)),
      capUsd: caps.budgetMonthlyUsd,
    });
  return usage;
}

/** Refuses a job that would take provider spend past the owner's daily or monthly cap. */
export async function checkBudget(db: StoreTx, clock: Clock, costUsd: number, settings: LimitSettings): Promise<void> {
  for (const { period, spentUsd, capUsd } of await budgetUsage(db, clock.now(), settings)) {
    if (spentUsd + costUsd > capUsd) throw new BudgetExceededError(period, spentUsd, capUsd);
  }
}

import { and, count, eq, gte, inArray, isNotNull, notInArray, or, sql } from 'drizzle-orm';
import { preparedPerDb, type DbLike } from '../../../db/client.js';
import { jobs, type User } from '../../../db/schema.js';
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
  constructor(readonly period: 'daily' | 'monthly', readonly spentUsd: number, readonly capUsd: number) {
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

/** Jobs that count against quotas: everything except those that failed or were cancelled before reaching a provider. */
const countsAgainstUser = or(
  notInArray(jobs.status, ['failed', 'cancelled']),
  isNotNull(jobs.providerTaskId),
);

const userId = sql.placeholder('userId');
const since = sql.placeholder('since');
const pendingCount = preparedPerDb((db) =>
  db
    .select({ n: count() })
    .from(jobs)
    .where(and(eq(jobs.userId, userId), notInArray(jobs.status, ['succeeded', 'failed', 'cancelled'])))
    .prepare(),
);
const countedSince = preparedPerDb((db) =>
  db
    .select({ n: count(), oldest: sql<number>`min(${jobs.createdAt})` })
    .from(jobs)
    .where(and(eq(jobs.userId, userId), gte(jobs.createdAt, since), countsAgainstUser))
    .prepare(),
);

export function checkUserLimits(db: DbLike, clock: Clock, user: User, settings: LimitSettings): void {
  const now = clock.now();

  const pending = pendingCount(db).get({ userId: user.id })!.n;
  if (pending >= settings.userMaxPendingJobs) {
    throw new UserError(
      'too_many_pending',
      `You already have ${pending} video${pending === 1 ? '' : 's'} in progress. Wait for one to finish, or /cancel one.`,
    );
  }

  const windowStart = now - settings.rateLimitWindowS * 1000;
  const recent = countedSince(db).get({ userId: user.id, since: windowStart })!;
  if (recent.n >= settings.rateLimitJobs) {
    const waitS = Math.max(1, Math.ceil((recent.oldest + settings.rateLimitWindowS * 1000 - now) / 1000));
    throw new UserError(
      'rate_limited',
      `You can start ${settings.rateLimitJobs} videos every ${formatDuration(settings.rateLimitWindowS)}. Try again in ${formatDuration(waitS)}.`,
      { waitS },
    );
  }

  const quota = user.dailyJobQuota ?? settings.dailyJobQuota;
  const today = countedSince(db).get({ userId: user.id, since: startOfUtcDay(now) })!.n;
  if (today >= quota) {
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
export function spentUsdSince(db: DbLike, since: number): number {
  const row = db
    .select({ usd: sql<number>`coalesce(sum(${jobs.costUsd}), 0)` })
    .from(jobs)
    .where(and(gte(jobs.createdAt, since), or(inArray(jobs.status, ['queued', 'submitting', 'running', 'fetching', 'delivering', 'succeeded']), isNotNull(jobs.providerTaskId))))
    .get();
  return row?.usd ?? 0;
}

/** Spend so far against one of the owner's caps, in the current UTC day or month. */
export interface BudgetUsage {
  period: 'daily' | 'monthly';
  spentUsd: number;
  capUsd: number;
}

/** The current spend against each configured cap (none when no cap is set). */
export function budgetUsage(db: DbLike, now: number, caps: Pick<LimitSettings, 'budgetDailyUsd' | 'budgetMonthlyUsd'>): BudgetUsage[] {
  const usage: BudgetUsage[] = [];
  if (caps.budgetDailyUsd !== undefined) usage.push({ period: 'daily', spentUsd: spentUsdSince(db, startOfUtcDay(now)), capUsd: caps.budgetDailyUsd });
  if (caps.budgetMonthlyUsd !== undefined) usage.push({ period: 'monthly', spentUsd: spentUsdSince(db, startOfUtcMonth(now)), capUsd: caps.budgetMonthlyUsd });
  return usage;
}

/** Refuses a job that would take provider spend past the owner's daily or monthly cap. */
export function checkBudget(db: DbLike, clock: Clock, costUsd: number, settings: LimitSettings): void {
  for (const { period, spentUsd, capUsd } of budgetUsage(db, clock.now(), settings)) {
    if (spentUsd + costUsd > capUsd) throw new BudgetExceededError(period, spentUsd, capUsd);
  }
}

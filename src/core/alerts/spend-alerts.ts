import { claimIntakeKey } from '../engine/intake.js';
import { budgetUsage, type BudgetUsage } from '../limits/intake-limits.js';
import type { Clock, EngineObserver } from '../ports.js';
import type { Store } from '../store.js';
import type { OwnerNotifier } from './owner-notifier.js';

/**
 * Tells the owners when estimated provider spend nears a cap (BUDGET_WARN_PERCENT of it) and when the cap is
 * reached (spend at the cap, or a job refused for it): each at most once per cap and period (UTC day / month).
 * "Once" survives restarts: the alert claims a key in `intake_keys`, the table that already makes actions
 * happen once, so no second table or migration is needed. The checks read the store, so they run in the background
 * (`OwnerNotifier.inBackground`), each with the time of the event that raised it.
 */

export interface SpendAlertSettings {
  budgetDailyUsd?: number | undefined;
  budgetMonthlyUsd?: number | undefined;
  /** BUDGET_WARN_PERCENT: "near" starts at this share of a cap. */
  warnPercent: number;
}

export interface SpendAlertDeps {
  db: Store;
  clock: Clock;
  notifier: OwnerNotifier;
  settings: SpendAlertSettings;
}

type Level = 'near' | 'reached';

export function createSpendAlerts({
  db,
  clock,
  notifier,
  settings,
}: SpendAlertDeps): Pick<EngineObserver, 'jobQueued' | 'budgetRefused'> {
  // Keys already claimed by this process: spares a write per job once a period has been alerted.
  const claimed = new Set<string>();
  const keyOf = (now: number, period: BudgetUsage['period'], level: Level) => {
    const day = new Date(now).toISOString();
    return `owner-alert:budget:${period}:${period === 'daily' ? day.slice(0, 10) : day.slice(0, 7)}:${level}`;
  };
  const once = async (key: string) => {
    if (claimed.has(key)) return false;
    claimed.add(key);
    return claimIntakeKey(db, clock, key, 'owner-alert');
  };

  const raise = async (now: number, usage: BudgetUsage, level: Level) => {
    if (!(await once(keyOf(now, usage.period, level)))) return;
    // Spend can fall back under the warning line (queued jobs cancelled): "near" after "reached" would say nothing new.
    if (level === 'reached') await once(keyOf(now, usage.period, 'near'));
    notifier.alert({
      kind: `budget_${level}`,
      text: spendText(usage, level),
      fields: {
        period: usage.period,
        spentUsd: round(usage.spentUsd),
        capUsd: usage.capUsd,
        percent: percentOf(usage),
      },
    });
  };

  const checkSpend = async (now: number) => {
    for (const summed of await budgetUsage(db, now, settings)) {
      // SQLite sums floats: $0.15 × 6 comes back as 0.8999…; figures are compared and shown as rounded.
      const usage = { ...summed, spentUsd: round(summed.spentUsd) };
      if (usage.spentUsd >= usage.capUsd) await raise(now, usage, 'reached');
      else if (usage.spentUsd * 100 >= usage.capUsd * settings.warnPercent) await raise(now, usage, 'near');
    }
  };

  return {
    jobQueued() {
      if (settings.budgetDailyUsd === undefined && settings.budgetMonthlyUsd === undefined) return;
      const now = clock.now();
      notifier.inBackground('spend', () => checkSpend(now));
    },
    budgetRefused(refusal) {
      const now = clock.now();
      notifier.inBackground('spend', () => raise(now, refusal, 'reached'));
    },
  };
}

function spendText(usage: BudgetUsage, level: Level): string {
  const when = usage.period === 'daily' ? 'today' : 'this month';
  const figures = `$${usage.spentUsd.toFixed(2)} of the $${usage.capUsd.toFixed(2)} ${usage.period} cap spent ${when} (${percentOf(usage)}%, estimated)`;
  const variable = usage.period === 'daily' ? 'BUDGET_DAILY_USD' : 'BUDGET_MONTHLY_USD';
  if (level === 'near')
    return `⚠️ Provider spend is nearing its cap: ${figures}. New videos will be refused at the cap (${variable}).`;
  const until = usage.period === 'daily' ? '00:00 UTC' : 'the 1st of next month (UTC)';
  return `🛑 Provider spend cap reached: ${figures}. New videos are refused until ${until}; raise ${variable} to allow more.`;
}

const percentOf = (usage: BudgetUsage) => Math.round((usage.spentUsd / usage.capUsd) * 100);
const round = (usd: number) => Math.round(usd * 10_000) / 10_000;

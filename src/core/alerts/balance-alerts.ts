import { claimIntakeKey, releaseIntakeKey } from '../engine/intake.js';
import type { Clock, EngineObserver, Logger } from '../ports.js';
import type { Store } from '../store.js';
import type { OwnerNotifier } from './owner-notifier.js';

/**
 * Tells the owners when a provider account's balance runs low (kie.ai's credits: the one provider with a balance API),
 * once per low spell: not at every check, and not once per process. The spell is a key claimed in `intake_keys`, as
 * the spend alerts do; a check that finds the balance back above the line (a top-up) gives the key back, so the next
 * drop is told again. Checked after each of the provider's jobs ends (at most every `minIntervalMs`) and on a timer.
 */

export interface BalanceAlertDeps {
  db: Store;
  clock: Clock;
  logger: Logger;
  notifier: OwnerNotifier;
  provider: string;
  /** What the balance is counted in, for the alert text. */
  unit: string;
  /** Alert below this; KIE_LOW_CREDITS. */
  threshold: number;
  readBalance: () => Promise<number>;
  /** Checks after jobs are at least this far apart; default 5 minutes. */
  minIntervalMs?: number;
}

export interface BalanceAlerts extends Pick<EngineObserver, 'jobFinished'> {
  /** Reads the balance now and alerts if it just went low. */
  check(): Promise<void>;
}

export function createBalanceAlerts(deps: BalanceAlertDeps): BalanceAlerts {
  const { db, clock, notifier, provider, threshold } = deps;
  const minIntervalMs = deps.minIntervalMs ?? 300_000;
  const key = `owner-alert:balance-low:${provider}`;
  let lastCheck = -Infinity;
  /** What this process last found, so a steady balance costs no write. */
  let known: 'low' | 'ok' | undefined;

  const check = async () => {
    lastCheck = clock.now();
    const balance = await deps.readBalance();
    if (balance < threshold) {
      if (known === 'low') return;
      known = 'low';
      if (!(await claimIntakeKey(db, clock, key, 'owner-alert'))) return;
      notifier.alert({
        kind: 'provider_balance_low',
        text: `⚠️ Provider ${provider} account is low: ${balance} ${deps.unit} left (alert below ${threshold}). Top it up, or its jobs will fail.`,
        fields: { provider, balance, threshold },
      });
    } else if (known !== 'ok') {
      known = 'ok';
      await releaseIntakeKey(db, key);
    }
  };

  return {
    check,
    jobFinished(job) {
      if (job.provider !== provider || clock.now() - lastCheck < minIntervalMs) return;
      lastCheck = clock.now();
      notifier.inBackground(`${provider} balance`, check);
    },
  };
}

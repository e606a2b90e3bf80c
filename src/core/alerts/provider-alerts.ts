import type { Clock, EngineObserver } from '../ports.js';
import type { OwnerNotifier } from './owner-notifier.js';

/**
 * Tells the owners when a provider keeps failing: PROVIDER_ALERT_ERRORS errors in a row with no successful job in
 * between, or at once when it refuses our account (bad key, no funds), since every job will fail until an owner
 * acts. Each kind of trouble is told once, then again only after the provider recovered (a job succeeded, which is
 * told too) or after the cool-down. State lives in memory: after a restart the count starts afresh.
 */

export interface ProviderAlertSettings {
  /** PROVIDER_ALERT_ERRORS. */
  errorsInARow: number;
  /** Before the same trouble is told again without a recovery in between; default 1 h. */
  cooldownMs?: number;
}

export interface ProviderAlertDeps {
  clock: Clock;
  notifier: OwnerNotifier;
  settings: ProviderAlertSettings;
}

/** The member's input was refused: says nothing about the provider's health. */
const NOT_THE_PROVIDER = new Set(['validation', 'content_policy']);
const ACCOUNT_PROBLEMS = new Set(['auth', 'insufficient_funds']);

interface Health {
  inARow: number;
  /** When each kind of trouble was last told. */
  told: Map<'failing' | 'account', number>;
}

export function createProviderAlerts({
  clock,
  notifier,
  settings,
}: ProviderAlertDeps): Pick<EngineObserver, 'providerError' | 'jobFinished'> {
  const cooldownMs = settings.cooldownMs ?? 3_600_000;
  const health = new Map<string, Health>();

  const tell = (state: Health, trouble: 'failing' | 'account', alert: Parameters<OwnerNotifier['alert']>[0]) => {
    const last = state.told.get(trouble);
    if (last !== undefined && clock.now() - last < cooldownMs) return;
    state.told.set(trouble, clock.now());
    notifier.alert(alert);
  };

  const failed = (provider: string, kind: string) => {
    let state = health.get(provider);
    if (!state) health.set(provider, (state = { inARow: 0, told: new Map() }));
    if (ACCOUNT_PROBLEMS.has(kind)) {
      const what = kind === 'auth' ? 'refuses our API key' : 'says our account is out of funds';
      tell(state, 'account', {
        kind: 'provider_account',
        text: `🛑 Provider ${provider} ${what} (${kind}): its jobs fail until an owner fixes the account or key.`,
        fields: { provider, errorKind: kind },
      });
      return;
    }
    state.inARow++;
    if (state.inARow < settings.errorsInARow) return;
    tell(state, 'failing', {
      kind: 'provider_failing',
      text: `⚠️ Provider ${provider} keeps failing: ${state.inARow} errors in a row (last: ${kind}) with no successful video in between.`,
      fields: { provider, errorsInARow: state.inARow, errorKind: kind },
    });
  };

  return {
    providerError(provider, kind) {
      // A provider's own "timeout" always fails its job, and is counted there with the engine's timeouts.
      if (!NOT_THE_PROVIDER.has(kind) && kind !== 'timeout') failed(provider, kind);
    },
    jobFinished(job) {
      if (job.status === 'succeeded') {
        const state = health.get(job.provider);
        health.delete(job.provider);
        if (state?.told.size) {
          notifier.alert({
            kind: 'provider_recovered',
            level: 'info',
            text: `✅ Provider ${job.provider} has recovered: a video succeeded again.`,
            fields: { provider: job.provider },
          });
        }
      } else if (job.status === 'failed' && job.errorKind === 'timeout') {
        // A provider that takes jobs and never finishes them raises no error: only its jobs time out.
        failed(job.provider, 'timeout');
      }
    },
  };
}

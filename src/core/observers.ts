import type { EngineObserver, Logger } from './ports.js';

/**
 * One observer that passes every engine event to each of `observers` (metrics, owner alerts). It is also their
 * error boundary: the engine calls observers in the middle of intake and settlement, where a throw must not land.
 */
export function combineObservers(logger: Logger, ...observers: Partial<EngineObserver>[]): EngineObserver {
  const each = (event: keyof EngineObserver, call: (observer: Partial<EngineObserver>) => void) => {
    for (const observer of observers) {
      try {
        call(observer);
      } catch (error) {
        logger.error({ err: error, event }, 'engine observer failed');
      }
    }
  };
  return {
    jobFinished: (job) => each('jobFinished', (o) => o.jobFinished?.(job)),
    providerError: (provider, kind) => each('providerError', (o) => o.providerError?.(provider, kind)),
    jobQueued: (job) => each('jobQueued', (o) => o.jobQueued?.(job)),
    budgetRefused: (refusal) => each('budgetRefused', (o) => o.budgetRefused?.(refusal)),
  };
}

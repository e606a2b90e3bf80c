import { describe, expect, it } from 'vitest';
import { combineObservers } from '../../src/core/observers.js';
import { createLogger } from '../../src/logger.js';

describe('combineObservers', () => {
  describe('when one observer throws', () => {
    it('still tells the others, and logs the failure instead of throwing into the engine', () => {
      const lines: { level: number; msg: string; event?: string }[] = [];
      const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
      const seen: string[] = [];
      const observer = combineObservers(
        logger,
        {
          jobQueued: () => {
            throw new Error('database is locked');
          },
        },
        {
          jobQueued: (job) => seen.push(`queued ${job.provider}`),
          providerError: (provider, kind) => seen.push(`${provider} ${kind}`),
        },
      );
      expect(() => observer.jobQueued!({ provider: 'fal', costUsd: 0.15 })).not.toThrow();
      observer.providerError('fal', 'transient');
      observer.budgetRefused!({ period: 'daily', spentUsd: 1, capUsd: 1 });
      expect(seen).toEqual(['queued fal', 'fal transient']);
      expect(lines).toEqual([
        expect.objectContaining({ level: 50, event: 'jobQueued', msg: 'engine observer failed' }),
      ]);
    });
  });
});

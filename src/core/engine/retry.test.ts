import { describe, expect, it } from 'vitest';
import { MediaError, ProviderError } from '../errors.js';
import { backoffMs, isRetryable } from './retry.js';

const policy = { maxAttempts: 5, baseMs: 1000, maxMs: 8000 };

describe('backoff', () => {
  it('doubles per attempt, jittered within the upper half, and stops growing at the cap', () => {
    expect(backoffMs(1, policy, undefined, () => 0)).toBe(500);
    expect(backoffMs(1, policy, undefined, () => 1)).toBe(1000);
    expect(backoffMs(3, policy, undefined, () => 1)).toBe(4000);
    expect(backoffMs(10, policy, undefined, () => 1)).toBe(8000);
  });

  describe('when the provider said Retry-After', () => {
    it('never retries sooner than it asked', () => {
      expect(backoffMs(1, policy, 30, () => 0)).toBe(30_000);
    });
  });
});

describe('isRetryable', () => {
  it('retries rate limits, transient provider errors and flaky downloads only', () => {
    expect(isRetryable(new ProviderError('rate_limit', 'x'))).toBe(true);
    expect(isRetryable(new ProviderError('transient', 'x'))).toBe(true);
    expect(isRetryable(new ProviderError('content_policy', 'x'))).toBe(false);
    expect(isRetryable(new ProviderError('validation', 'x'))).toBe(false);
    expect(isRetryable(new MediaError('network', 'x'))).toBe(true);
    expect(isRetryable(new MediaError('bad_type', 'x'))).toBe(false);
    expect(isRetryable(new MediaError('http_status', 'x', { status: 503 }))).toBe(true);
    expect(isRetryable(new MediaError('http_status', 'gone', { status: 404 }))).toBe(false);
    expect(isRetryable(new Error('bug'))).toBe(false);
  });
});

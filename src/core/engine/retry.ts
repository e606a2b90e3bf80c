import { MediaError, ProviderError } from '../errors.js';

/** Exponential backoff with full jitter, honouring a provider's Retry-After when it gave one. */
export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseMs: 1000, maxMs: 60_000 };

export function backoffMs(attempt: number, policy: RetryPolicy, retryAfterS?: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.max(jittered, retryAfterS !== undefined ? retryAfterS * 1000 : 0);
}

/** True for failures worth another try: provider 429/5xx/network, and transient media download problems. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof ProviderError) return error.retryable;
  if (error instanceof MediaError) {
    if (error.kind === 'http_status')
      return error.status === undefined || error.status >= 500 || error.status === 408 || error.status === 429;
    return ['network', 'timeout', 'storage'].includes(error.kind);
  }
  return false;
}

export function retryAfterOf(error: unknown): number | undefined {
  return error instanceof ProviderError ? error.retryAfterS : undefined;
}

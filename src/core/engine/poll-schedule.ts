/**
 * When to ask a provider again. Polling every few seconds for a job expected to take minutes wastes calls
 * and rate limit; polling rarely delays delivery. So: one look at 60 % of the expected time (where the fastest
 * jobs end), then every few seconds until twice the expected time (where nearly all end), then backing off
 * gently for the stragglers. The dense spacing is absolute (at most 5 s, a mean detection delay of about 2.5 s)
 * rather than a share of the expected time: how late a member hears about a finished video should not grow with
 * the clip. With webhooks on, polling is only a safety net for a lost callback.
 */
export interface PollContext {
  elapsedMs: number;
  expectedMs: number;
  webhooks: boolean;
}

export const MIN_POLL_MS = 1000;
const MAX_POLL_MS = 30_000;
const DENSE_POLL_MS = 5000;
const WEBHOOK_SAFETY_NET_MS = 60_000;

export function nextPollDelayMs({ elapsedMs, expectedMs, webhooks }: PollContext, random = Math.random): number {
  const expected = Math.max(expectedMs, 1000);
  if (webhooks) {
    // First look when the job should long be done (twice the expected time), then once a minute or so.
    const firstCheckMs = 2 * expected - elapsedMs;
    return Math.round(
      firstCheckMs > 0 ? Math.max(MIN_POLL_MS, firstCheckMs) : Math.max(WEBHOOK_SAFETY_NET_MS, expected / 2),
    );
  }
  const fraction = elapsedMs / expected;
  let delay: number;
  if (fraction < 0.6) {
    delay = Math.max(expected * 0.6 - elapsedMs, expected * 0.05);
  } else if (fraction < 2) {
    delay = Math.min(DENSE_POLL_MS, expected * 0.05);
  } else {
    delay = expected * 0.1;
  }
  const jitter = 0.9 + random() * 0.2;
  return Math.round(Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, delay * jitter)));
}

import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { startDeadline } from './deadline.js';

describe('a call deadline', () => {
  it('aborts when the time is up, and says so', async () => {
    const deadline = startDeadline(10, undefined, () => new Error('too slow'));
    await new Promise((resolve) => deadline.signal.addEventListener('abort', resolve));
    expect(deadline.expired).toBe(true);
    expect((deadline.signal.reason as Error).message).toBe('too slow');
    deadline.dispose();
  });

  it("aborts with the caller's reason when the caller aborts, without calling it expired", () => {
    const caller = new AbortController();
    const deadline = startDeadline(60_000, caller.signal);
    caller.abort(new Error('shutting down'));
    expect(deadline.signal.aborted).toBe(true);
    expect((deadline.signal.reason as Error).message).toBe('shutting down');
    expect(deadline.expired).toBe(false);
    deadline.dispose();
  });

  it("lets go of the caller's long-lived signal once disposed, however many calls it served", () => {
    const shutdown = new AbortController();
    for (let i = 0; i < 1000; i++) startDeadline(60_000, shutdown.signal).dispose();
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });
});

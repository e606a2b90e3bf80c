import type { Clock, Logger } from '../ports.js';

/**
 * Rate-limits status edits per message (Discord and Telegram both throttle edits, and a bar ticking every
 * second would burn the bot's rate limit for nothing).
 *
 * Per key:
 * - at most one send starts per `intervalMs` (measured from the start of the previous send), and never while
 *   the previous one is still in flight;
 * - only the latest text is kept while waiting: intermediate texts are dropped;
 * - a text identical to the last one sent (same text, same `final`) is not sent again;
 * - a final update is sent at once (after the in-flight send) and never dropped; once a key has had a final
 *   update, later non-final ones for it are ignored, since they are stale by definition;
 * - a failed send is logged, not thrown, and not retried (the next update, or the same text again, goes out).
 */
export interface Coalescer {
  update(key: string, text: string, final?: boolean): void;
  /**
   * Records that `text` was just shown for `key` by other means (the status message was posted directly):
   * the next update waits out the interval from now, and an identical one is not sent.
   */
  seed(key: string, text: string): void;
  /** Sends what is waiting for `key` now, ignoring the interval, and resolves when nothing is left in flight. */
  flush(key: string): Promise<void>;
  /** Stops taking updates and flushes every key. */
  close(): Promise<void>;
}

export interface CoalescerOptions {
  intervalMs: number;
  clock: Clock;
  send: (key: string, text: string, final: boolean) => Promise<void>;
  logger: Logger;
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

interface Update {
  text: string;
  final: boolean;
}

interface KeyState {
  pending?: Update | undefined;
  /** The last update that was sent successfully. */
  last?: Update;
  lastStartedAt?: number;
  inFlight?: Promise<void> | undefined;
  timer?: unknown;
  sawFinal: boolean;
}

// Finished keys are remembered (to ignore stale updates) up to this many, oldest forgotten first.
const MAX_FINISHED_KEYS = 1000;

export function createCoalescer(options: CoalescerOptions): Coalescer {
  const { intervalMs, clock, send, logger } = options;
  const setTimer =
    options.setTimer ??
    ((callback: () => void, ms: number) => {
      const handle = setTimeout(callback, ms);
      handle.unref();
      return handle;
    });
  const clearTimer = options.clearTimer ?? ((handle: unknown) => clearTimeout(handle as NodeJS.Timeout));
  const states = new Map<string, KeyState>();
  const finished = new Set<string>();
  let closed = false;

  function stateOf(key: string): KeyState {
    let state = states.get(key);
    if (!state) {
      state = { sawFinal: false };
      states.set(key, state);
    }
    return state;
  }

  function pump(key: string, state: KeyState, force = false): void {
    if (state.inFlight) return;
    const next = state.pending;
    if (!next) return settle(key, state);
    if (state.last && state.last.text === next.text && state.last.final === next.final) {
      state.pending = undefined;
      return settle(key, state);
    }
    if (!next.final && !force && state.lastStartedAt !== undefined) {
      const wait = state.lastStartedAt + intervalMs - clock.now();
      if (wait > 0) {
        state.timer ??= setTimer(() => {
          state.timer = undefined;
          pump(key, state);
        }, wait);
        return;
      }
    }
    if (state.timer !== undefined) {
      clearTimer(state.timer);
      state.timer = undefined;
    }
    state.pending = undefined;
    state.lastStartedAt = clock.now();
    state.inFlight = deliver(key, state, next).then(() => {
      state.inFlight = undefined;
      pump(key, state);
    });
  }

  async function deliver(key: string, state: KeyState, update: Update): Promise<void> {
    try {
      await send(key, update.text, update.final);
      state.last = update;
    } catch (err) {
      logger.warn({ err, key, final: update.final }, 'status update failed');
    }
  }

  function settle(key: string, state: KeyState): void {
    if (!state.sawFinal || state.timer !== undefined) return;
    finished.delete(key);
    finished.add(key);
    for (const oldest of finished) {
      if (finished.size <= MAX_FINISHED_KEYS) break;
      finished.delete(oldest);
      const old = states.get(oldest);
      if (old && !old.inFlight && !old.pending) states.delete(oldest);
    }
  }

  async function flushState(key: string, state: KeyState): Promise<void> {
    while (state.inFlight || state.pending) {
      if (!state.inFlight) pump(key, state, true);
      if (!state.inFlight) return;
      await state.inFlight;
    }
  }

  return {
    update(key, text, final = false) {
      if (closed) {
        logger.debug({ key, final }, 'status update after close ignored');
        return;
      }
      const state = stateOf(key);
      if (state.sawFinal && !final) return;
      if (final) state.sawFinal = true;
      state.pending = { text, final };
      pump(key, state);
    },
    seed(key, text) {
      const state = stateOf(key);
      if (state.sawFinal || state.inFlight) return;
      state.last = { text, final: false };
      state.lastStartedAt = clock.now();
    },
    async flush(key) {
      const state = states.get(key);
      if (state) await flushState(key, state);
    },
    async close() {
      closed = true;
      await Promise.all([...states].map(([key, state]) => flushState(key, state)));
      for (const state of states.values()) {
        if (state.timer !== undefined) clearTimer(state.timer);
        state.timer = undefined;
      }
    },
  };
}

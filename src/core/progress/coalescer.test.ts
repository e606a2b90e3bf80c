import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../logger.js';
import { createCoalescer, type Coalescer } from './coalescer.js';

const INTERVAL = 3000;

/** Time that only moves when the test says so: the clock and the timers the coalescer is given. */
function manualTime() {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    clock: { now: () => now },
    setTimer: (fn: () => void, ms: number) => {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimer: (handle: unknown) => void timers.delete(handle as number),
    /** Moves time forward, firing due timers in order and letting their sends run. */
    async advance(ms: number) {
      const target = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= target).sort(([, a], [, b]) => a.at - b.at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
        await settle();
      }
      now = target;
      await settle();
    },
    get timerCount() {
      return timers.size;
    },
  };
}

/** Lets every promise callback that is ready run (no time passes). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Sent {
  key: string;
  text: string;
  final: boolean;
  at: number;
}

/** A send that records calls; by default each call completes at once, or the test completes them one by one. */
function recordingSend(time: ReturnType<typeof manualTime>) {
  const sent: Sent[] = [];
  const waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const inFlight = new Map<string, number>();
  let maxInFlightPerKey = 0;
  let manual = false;
  let failNext = 0;
  return {
    sent,
    get maxInFlightPerKey() {
      return maxInFlightPerKey;
    },
    holdSends() {
      manual = true;
    },
    failNextSends(n: number) {
      failNext = n;
    },
    async completeNext() {
      waiting.shift()?.resolve();
      await settle();
    },
    async completeAll() {
      manual = false;
      while (waiting.length) await this.completeNext();
    },
    get waitingCount() {
      return waiting.length;
    },
    send: (key: string, text: string, final: boolean): Promise<void> => {
      sent.push({ key, text, final, at: time.clock.now() });
      const count = (inFlight.get(key) ?? 0) + 1;
      inFlight.set(key, count);
      maxInFlightPerKey = Math.max(maxInFlightPerKey, count);
      const done = () => inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
      if (failNext > 0) {
        failNext--;
        done();
        return Promise.reject(new Error('429 Too Many Requests'));
      }
      if (!manual) {
        done();
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        waiting.push({
          resolve: () => {
            done();
            resolve();
          },
          reject,
        });
      });
    },
  };
}

function setup() {
  const time = manualTime();
  const transport = recordingSend(time);
  const logs: { level: number; msg: string }[] = [];
  const logger = createLogger('debug', {
    write: (line: string) => void logs.push(JSON.parse(line) as { level: number; msg: string }),
  });
  const coalescer: Coalescer = createCoalescer({
    intervalMs: INTERVAL,
    clock: time.clock,
    send: transport.send,
    logger,
    setTimer: time.setTimer,
    clearTimer: time.clearTimer,
  });
  const texts = (key = 'm1') => transport.sent.filter((s) => s.key === key).map((s) => s.text);
  return { time, transport, logs, coalescer, texts };
}

describe('createCoalescer', () => {
  describe('when the first update for a message arrives', () => {
    it('sends it at once', async () => {
      const { coalescer, texts } = setup();
      coalescer.update('m1', 'queued');
      await settle();
      expect(texts()).toEqual(['queued']);
    });
  });

  describe('when updates arrive faster than the interval', () => {
    it('sends at most one per interval, and the latest text wins', async () => {
      const { coalescer, time, texts, transport } = setup();
      coalescer.update('m1', '10%');
      await time.advance(500);
      coalescer.update('m1', '20%');
      coalescer.update('m1', '30%');
      await time.advance(1000);
      coalescer.update('m1', '40%');
      await time.advance(1499);
      expect(texts()).toEqual(['10%']);

      await time.advance(1);
      expect(texts()).toEqual(['10%', '40%']);
      expect(transport.sent.map((s) => s.at)).toEqual([0, INTERVAL]);
    });

    it('sends a late update at once when the interval has already passed', async () => {
      const { coalescer, time, texts } = setup();
      coalescer.update('m1', 'a');
      await time.advance(INTERVAL * 2);
      coalescer.update('m1', 'b');
      await settle();
      expect(texts()).toEqual(['a', 'b']);
    });
  });

  describe('when the text has not changed', () => {
    it('does not send it again', async () => {
      const { coalescer, time, texts } = setup();
      coalescer.update('m1', 'running 0:10');
      await time.advance(INTERVAL);
      coalescer.update('m1', 'running 0:10');
      await time.advance(INTERVAL);
      expect(texts()).toEqual(['running 0:10']);
      expect(time.timerCount).toBe(0);
    });

    it('drops a change that was changed back before it was sent', async () => {
      const { coalescer, time, texts } = setup();
      coalescer.update('m1', 'a');
      coalescer.update('m1', 'b');
      coalescer.update('m1', 'a');
      await time.advance(INTERVAL);
      expect(texts()).toEqual(['a']);
    });
  });

  describe('when a final update arrives', () => {
    it('sends it at once, without waiting for the interval', async () => {
      const { coalescer, time, transport } = setup();
      coalescer.update('m1', 'running');
      await time.advance(10);
      coalescer.update('m1', 'done', true);
      await settle();
      expect(transport.sent.map(({ text, final, at }) => ({ text, final, at }))).toEqual([
        { text: 'running', final: false, at: 0 },
        { text: 'done', final: true, at: 10 },
      ]);
    });

    it('waits for the send in flight, then sends the final, never overlapping', async () => {
      const { coalescer, transport, texts } = setup();
      transport.holdSends();
      coalescer.update('m1', 'running');
      coalescer.update('m1', 'fetching');
      coalescer.update('m1', 'done', true);
      await settle();
      expect(texts()).toEqual(['running']);

      await transport.completeNext();
      expect(texts()).toEqual(['running', 'done']);
      expect(transport.maxInFlightPerKey).toBe(1);
    });

    it('ignores non-final updates that come after it', async () => {
      const { coalescer, time, texts } = setup();
      coalescer.update('m1', 'done', true);
      coalescer.update('m1', 'running');
      await time.advance(INTERVAL * 2);
      expect(texts()).toEqual(['done']);
    });

    it('still sends a final whose text was already shown, so the platform can drop the Cancel button', async () => {
      const { coalescer, transport } = setup();
      coalescer.update('m1', 'cancelled');
      coalescer.update('m1', 'cancelled', true);
      await settle();
      expect(transport.sent.map((s) => s.final)).toEqual([false, true]);
    });
  });

  describe('when a send fails', () => {
    it('logs the error instead of throwing, and sends the next update', async () => {
      const { coalescer, time, transport, texts, logs } = setup();
      transport.failNextSends(1);
      coalescer.update('m1', 'a');
      await time.advance(INTERVAL);
      coalescer.update('m1', 'b');
      await settle();
      expect(texts()).toEqual(['a', 'b']);
      expect(logs.find((l) => l.level === 40)?.msg).toBe('status update failed');
    });

    it('sends the same text again later, since it never arrived', async () => {
      const { coalescer, time, transport, texts } = setup();
      transport.failNextSends(1);
      coalescer.update('m1', 'a');
      await time.advance(INTERVAL);
      coalescer.update('m1', 'a');
      await settle();
      expect(texts()).toEqual(['a', 'a']);
    });
  });

  describe('when several messages are updated', () => {
    it('paces each one on its own', async () => {
      const { coalescer, transport } = setup();
      coalescer.update('m1', 'a');
      coalescer.update('m2', 'a');
      coalescer.update('m1', 'b');
      await settle();
      expect(transport.sent.map((s) => `${s.key}:${s.text}`)).toEqual(['m1:a', 'm2:a']);
    });
  });

  describe('when the status message was posted directly and seeded', () => {
    it('waits out the interval from the seed and skips an identical text', async () => {
      const { coalescer, time, texts } = setup();
      coalescer.seed('m1', 'queued #2');
      coalescer.update('m1', 'queued #2');
      coalescer.update('m1', 'queued #1');
      await time.advance(INTERVAL - 1);
      expect(texts()).toEqual([]);
      await time.advance(1);
      expect(texts()).toEqual(['queued #1']);
    });
  });

  describe('when a message is flushed', () => {
    it('sends what is waiting now and resolves once it was sent', async () => {
      const { coalescer, time, texts } = setup();
      coalescer.update('m1', 'a');
      await time.advance(10);
      coalescer.update('m1', 'b');
      await coalescer.flush('m1');
      expect(texts()).toEqual(['a', 'b']);
      expect(time.timerCount).toBe(0);
    });

    it('resolves at once for an unknown message', async () => {
      const { coalescer } = setup();
      await expect(coalescer.flush('nope')).resolves.toBeUndefined();
    });
  });

  describe('when it is closed', () => {
    it('flushes every message, waits for sends in flight, then ignores updates', async () => {
      const { coalescer, time, transport } = setup();
      transport.holdSends();
      coalescer.update('m1', 'a');
      coalescer.update('m1', 'b');
      coalescer.update('m2', 'x');
      const closing = coalescer.close();
      await transport.completeAll();
      await closing;
      coalescer.update('m1', 'late', true);
      await time.advance(INTERVAL);
      expect(transport.sent.map((s) => `${s.key}:${s.text}`)).toEqual(['m1:a', 'm2:x', 'm1:b']);
      expect(time.timerCount).toBe(0);
    });
  });

  describe('for any sequence of updates, time and slow sends', () => {
    type Op =
      | { kind: 'update'; key: string; text: string; final: boolean }
      | { kind: 'advance'; ms: number }
      | { kind: 'complete' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant('update' as const),
          key: fc.constantFrom('m1', 'm2'),
          text: fc.constantFrom('a', 'b', 'c'),
          final: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 5000 }) }),
      },
      { weight: 2, arbitrary: fc.constant({ kind: 'complete' as const }) },
    );

    it('never overlaps or repeats sends, keeps the pace, and ends with the latest text or the final', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
          const { coalescer, time, transport } = setup();
          transport.holdSends();
          const latest = new Map<string, { text: string; final: boolean }>();
          for (const o of ops) {
            if (o.kind === 'update') {
              coalescer.update(o.key, o.text, o.final);
              const prev = latest.get(o.key);
              if (o.final || !prev?.final) latest.set(o.key, { text: o.text, final: o.final });
              await settle();
            } else if (o.kind === 'advance') {
              await time.advance(o.ms);
            } else {
              await transport.completeNext();
            }
          }
          // close() flushes without waiting for the interval, so the pace only holds for sends before it.
          const pacedCount = transport.sent.length;
          const closing = coalescer.close();
          await transport.completeAll();
          await closing;

          expect(transport.maxInFlightPerKey).toBeLessThanOrEqual(1);
          for (const [key, expected] of latest) {
            const sends = transport.sent
              .map((s, index) => ({ ...s, paced: index < pacedCount }))
              .filter((s) => s.key === key);
            sends.slice(1).forEach((s, i) => {
              const before = sends[i]!;
              expect({ text: s.text, final: s.final }).not.toEqual({ text: before.text, final: before.final });
              if (s.paced && !s.final) expect(s.at - before.at).toBeGreaterThanOrEqual(INTERVAL);
            });
            expect(sends.at(-1)).toMatchObject(expected);
          }
        }),
        { numRuns: 200 },
      );
    });
  });
});

import { describe, expect, it } from 'vitest';
import { MIN_POLL_MS, nextPollDelayMs } from './poll-schedule.js';

const noJitter = () => 0.5;

/** Polls a job of `expectedMs` that really takes `actualMs`; returns the number of polls and the detection delay. */
function simulate(expectedMs: number, actualMs: number) {
  let t = 0;
  let polls = 0;
  while (t < actualMs) {
    t += nextPollDelayMs({ elapsedMs: t, expectedMs, webhooks: false }, noJitter);
    polls++;
  }
  return { polls, delayMs: t - actualMs };
}

describe('adaptive polling', () => {
  describe('when a job takes about as long as expected', () => {
    it('asks far less often than fixed 3 s polling and notices within a few seconds', () => {
      const { polls, delayMs } = simulate(120_000, 125_000);
      expect(polls).toBeLessThan(125_000 / 3000 / 2.5);
      expect(delayMs).toBeLessThanOrEqual(5000);
    });
  });

  describe('when a job runs long', () => {
    it('backs off but keeps polling', () => {
      expect(nextPollDelayMs({ elapsedMs: 150_000, expectedMs: 100_000, webhooks: false }, noJitter)).toBe(5000);
      expect(nextPollDelayMs({ elapsedMs: 400_000, expectedMs: 100_000, webhooks: false }, noJitter)).toBe(10_000);
      expect(nextPollDelayMs({ elapsedMs: 900_000, expectedMs: 400_000, webhooks: false }, noJitter)).toBe(30_000);
    });
  });

  describe('when webhooks are on', () => {
    it('polls only as a safety net: first at twice the expected time, then once a minute', () => {
      expect(nextPollDelayMs({ elapsedMs: 0, expectedMs: 60_000, webhooks: true }, noJitter)).toBe(120_000);
      expect(nextPollDelayMs({ elapsedMs: 130_000, expectedMs: 60_000, webhooks: true }, noJitter)).toBe(60_000);
    });
  });

  it('never polls faster than once a second', () => {
    expect(nextPollDelayMs({ elapsedMs: 900, expectedMs: 1000, webhooks: false }, () => 0)).toBe(MIN_POLL_MS);
  });
});

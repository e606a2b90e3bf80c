import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../ports.js';
import { ParkedJobs, type ParkedJob } from './parked-jobs.js';

const clock = { now: () => Date.now() };

function setup(looksPerSecond: number) {
  const relaunched: string[] = [];
  const warnings: unknown[] = [];
  const logger = {
    warn: (fields: unknown) => warnings.push(fields),
    info() {},
    error() {},
    debug() {},
    child: () => logger,
  } as unknown as Logger;
  const parked = new ParkedJobs({ clock, logger, looksPerSecond, onDue: (job) => relaunched.push(job.jobId) });
  const park = (jobId: string, inMs: number, extra: Partial<ParkedJob> = {}) =>
    parked.park({
      jobId,
      provider: 'fal',
      epoch: 1,
      dueAt: Date.now() + inMs,
      kind: 'poll',
      shownPosition: null,
      failures: 0,
      ...extra,
    });
  return { parked, park, relaunched, warnings };
}

describe('ParkedJobs', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('relaunches each job when it is due, earliest first, and forgets it then', () => {
    const { parked, park, relaunched } = setup(Infinity);
    park('c', 3000);
    park('a', 1000);
    park('b', 2000);
    vi.advanceTimersByTime(999);
    expect(relaunched).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(relaunched).toEqual(['a']);
    expect(parked.has('a')).toBe(false);
    vi.advanceTimersByTime(2000);
    expect(relaunched).toEqual(['a', 'b', 'c']);
    expect(parked.size).toBe(0);
  });

  it('keeps only the latest parking of a job', () => {
    const { park, relaunched } = setup(Infinity);
    park('a', 1000);
    park('a', 5000);
    vi.advanceTimersByTime(4999);
    expect(relaunched).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(relaunched).toEqual(['a']);
  });

  it("paces each provider's looks by its budget, in due order, without holding up another provider", () => {
    const { park, relaunched } = setup(10);
    for (let i = 0; i < 35; i++) park(`fal-${String(i).padStart(2, '0')}`, i);
    park('kie-1', 40, { provider: 'kie' });
    vi.advanceTimersByTime(40);
    // A second's burst of fal, and kie's own.
    expect(relaunched.filter((id) => id.startsWith('fal'))).toHaveLength(10);
    expect(relaunched).toContain('kie-1');
    vi.advanceTimersByTime(1000);
    expect(relaunched.filter((id) => id.startsWith('fal'))).toHaveLength(20);
    vi.advanceTimersByTime(2000);
    const fal = relaunched.filter((id) => id.startsWith('fal'));
    expect(fal).toHaveLength(35);
    expect(fal).toEqual([...fal].sort());
  });

  it('wakes a job at once outside the budget, or makes it due in turn', () => {
    const { parked, park, relaunched } = setup(1);
    park('first', 0);
    park('second', 0);
    park('cancelled', 60_000);
    park('called-back', 60_000);
    vi.advanceTimersByTime(0);
    expect(relaunched).toEqual(['first']);
    parked.wake('cancelled', 'now');
    expect(relaunched).toEqual(['first', 'cancelled']);
    parked.wake('called-back', 'due');
    vi.advanceTimersByTime(1000);
    expect(relaunched).toEqual(['first', 'cancelled', 'second']);
    vi.advanceTimersByTime(1000);
    expect(relaunched).toEqual(['first', 'cancelled', 'second', 'called-back']);
    vi.advanceTimersByTime(120_000);
    expect(relaunched).toHaveLength(4);
  });

  it('says when looks fall behind, at most once a minute', () => {
    const { park, warnings } = setup(1);
    for (let i = 0; i < 200; i++) park(`job-${i}`, 0);
    vi.advanceTimersByTime(30_000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ provider: 'fal', looksPerSecond: 1 });
    vi.advanceTimersByTime(60_000);
    expect(warnings).toHaveLength(2);
  });

  it('relaunches nothing once cleared', () => {
    const { parked, park, relaunched } = setup(Infinity);
    park('a', 10);
    parked.clear();
    vi.advanceTimersByTime(1000);
    expect(relaunched).toEqual([]);
    expect(parked.has('a')).toBe(false);
  });
});

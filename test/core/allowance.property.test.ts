import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODELS, priceCredits, priceUsd, type GenerationParams } from '../../src/core/catalog.js';
import { applyDailyAllowance, balanceOf, grantCredits, heldOf } from '../../src/core/credits/ledger.js';
import { acceptVideo, type IntakeSettings } from '../../src/core/engine/intake.js';
import { finishJob, moveJob } from '../../src/core/engine/job-state.js';
import { UserError } from '../../src/core/errors.js';
import type { Store } from '../../src/core/store.js';
import { ensureUser } from '../../src/core/users.js';
import { expectLedgerBalanced } from '../helpers/ledger.js';
import { manualClock, tempDb } from '../helpers/db.js';
import { PROPERTY_TIMEOUT_MS } from '../helpers/test-store.js';

/**
 * The free daily allowance (issue 11, finding 5): it tops a member up to FREE_DAILY_CREDITS counting the credits
 * held by their unfinished jobs, so jobs kept queued over midnight and cancelled afterwards cannot stack the
 * allowance day after day.
 */

const model = MODELS[0]!;
const FREE = 80;
const DAY_MS = 86_400_000;
const SETTINGS: IntakeSettings = {
  defaultModel: model.id,
  startingCredits: 0,
  freeDailyCredits: FREE,
  rateLimitJobs: 1000,
  rateLimitWindowS: 60,
  userMaxPendingJobs: 1000,
  dailyJobQuota: 1000,
};
const LEDGER = { freeDailyCredits: FREE };
const PARAMS: GenerationParams = { durationS: 5, resolution: '480p', aspectRatio: '16:9' };
const PRICE = priceCredits(model, PARAMS);

type Op =
  | { op: 'submit' }
  | { op: 'balance' }
  | { op: 'succeed' | 'cancel'; job: number }
  | { op: 'grant'; amount: number }
  | { op: 'midnight'; intoDayMs: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ op: 'submit' as const }),
  fc.constant({ op: 'balance' as const }),
  fc.record({ op: fc.constantFrom('succeed' as const, 'cancel' as const), job: fc.nat(20) }),
  fc.record({ op: fc.constant('grant' as const), amount: fc.integer({ min: 1, max: 100 }) }),
  // Often just past midnight, the moment an evader would pick.
  fc.record({
    op: fc.constant('midnight' as const),
    intoDayMs: fc.oneof(fc.constant(0), fc.constant(1), fc.nat(DAY_MS - 1)),
  }),
);

let seq = 0;
async function submit(db: Store, clock: ReturnType<typeof manualClock>): Promise<string> {
  const id = `job${++seq}`;
  const request = {
    identity: { platform: 'console' as const, platformUserId: 'ann' },
    dest: { platform: 'console' as const, chatId: 'c', userId: 'ann' },
    intakeKey: `k${id}`,
    prompt: 'p',
    options: {},
  };
  await acceptVideo(
    db,
    clock,
    request,
    { prompt: 'p', model, params: PARAMS, price: PRICE, costUsd: priceUsd(model, PARAMS) },
    SETTINGS,
    id,
    undefined,
  );
  return id;
}

/** What /balance does: the allowance in its own transaction. */
function checkBalance(db: Store, clock: ReturnType<typeof manualClock>, userId: number): Promise<number> {
  return db.transaction((tx) => applyDailyAllowance(tx, clock, userId, LEDGER));
}

function cancel(db: Store, clock: ReturnType<typeof manualClock>, id: string): Promise<boolean> {
  return finishJob(db, clock, id, ['queued', 'submitting', 'running'], {
    status: 'cancelled',
    errorKind: 'cancelled',
    errorMessage: 'cancelled',
  });
}

async function succeed(db: Store, clock: ReturnType<typeof manualClock>, id: string): Promise<boolean> {
  if (!(await moveJob(db, clock, id, 'queued', 'submitting'))) return false;
  await moveJob(db, clock, id, 'submitting', 'running');
  await moveJob(db, clock, id, 'running', 'fetching');
  await moveJob(db, clock, id, 'fetching', 'delivering');
  return finishJob(db, clock, id, 'delivering', { status: 'succeeded' });
}

function nextMidnight(now: number): number {
  return Math.floor(now / DAY_MS) * DAY_MS + DAY_MS;
}

describe('the free daily allowance', () => {
  describe('when a member keeps jobs queued over midnight, checks /balance, then cancels', () => {
    it('tops them up to the allowance once, instead of 80 → 120 → 160 → 200 on consecutive days', async () => {
      const t = await tempDb();
      try {
        const clock = manualClock();
        const userId = (await ensureUser(t.store, clock, { platform: 'console', platformUserId: 'ann' }, 0)).id;
        expect(await checkBalance(t.store, clock, userId)).toBe(FREE);
        const totals: number[] = [];
        for (let day = 0; day < 4; day++) {
          // Spend the whole allowance on jobs that stay queued.
          const queued = [await submit(t.store, clock), await submit(t.store, clock)];
          expect(await balanceOf(t.store, userId)).toBe(0);
          clock.set(nextMidnight(clock.now()) + 1);
          // Nothing to top up: the 80 credits are all still the member's, held by the queued jobs.
          expect(await checkBalance(t.store, clock, userId)).toBe(0);
          for (const id of queued) expect(await cancel(t.store, clock, id)).toBe(true);
          totals.push(await balanceOf(t.store, userId));
        }
        expect(totals).toEqual([FREE, FREE, FREE, FREE]);
        await expectLedgerBalanced(t.rows);
      } finally {
        await t.cleanup();
      }
    });
  });

  describe('when part of the allowance is held and part was spent', () => {
    it('tops up only what was spent', async () => {
      const t = await tempDb();
      try {
        const clock = manualClock();
        const userId = (await ensureUser(t.store, clock, { platform: 'console', platformUserId: 'ann' }, 0)).id;
        await checkBalance(t.store, clock, userId);
        const [kept, done] = [await submit(t.store, clock), await submit(t.store, clock)];
        expect(await succeed(t.store, clock, done)).toBe(true);
        clock.set(nextMidnight(clock.now()));
        expect(await checkBalance(t.store, clock, userId)).toBe(PRICE);
        expect([await balanceOf(t.store, userId), await heldOf(t.store, userId)]).toEqual([PRICE, PRICE]);
        expect(await cancel(t.store, clock, kept)).toBe(true);
        expect(await balanceOf(t.store, userId)).toBe(FREE);
      } finally {
        await t.cleanup();
      }
    });
  });

  it(
    'never gives more than it would to a member with nothing held, through random days, jobs and grants',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 50 }), async (ops) => {
          const t = await tempDb();
          try {
            const clock = manualClock();
            const db = t.store;
            const userId = (await ensureUser(db, clock, { platform: 'console', platformUserId: 'ann' }, 0)).id;
            // The model: credits the member owns (free or held) and credits an owner gave them on top.
            const m = {
              balance: 0,
              held: 0,
              granted: 0,
              toppedUpOn: new Set<number>(),
              jobs: [] as { id: string; final: boolean }[],
            };
            const allowance = () => {
              const day = Math.floor(clock.now() / DAY_MS);
              if (m.toppedUpOn.has(day)) return 0;
              m.toppedUpOn.add(day);
              const topUp = Math.max(0, FREE - (m.balance + m.held));
              m.balance += topUp;
              return topUp;
            };
            for (const op of ops) {
              clock.advance(1000);
              switch (op.op) {
                case 'submit': {
                  const day = Math.floor(clock.now() / DAY_MS);
                  const firstToday = !m.toppedUpOn.has(day);
                  const topUp = allowance();
                  try {
                    const id = await submit(db, clock);
                    m.balance -= PRICE;
                    m.held += PRICE;
                    m.jobs.push({ id, final: false });
                  } catch (error) {
                    expect(error).toBeInstanceOf(UserError);
                    expect(m.balance).toBeLessThan(PRICE);
                    // The refused intake's transaction rolled back, allowance included (even a top-up of nothing):
                    // the day's allowance is looked at again next time.
                    if (firstToday) {
                      m.balance -= topUp;
                      m.toppedUpOn.delete(day);
                    }
                  }
                  break;
                }
                case 'balance':
                  expect(await checkBalance(db, clock, userId)).toBe(allowance());
                  break;
                case 'succeed':
                case 'cancel': {
                  const job = m.jobs[op.job % Math.max(1, m.jobs.length)];
                  if (!job) break;
                  const moved =
                    op.op === 'succeed' ? await succeed(db, clock, job.id) : await cancel(db, clock, job.id);
                  expect(moved).toBe(!job.final);
                  if (!moved) break;
                  job.final = true;
                  m.held -= PRICE;
                  if (op.op === 'cancel') m.balance += PRICE;
                  break;
                }
                case 'grant':
                  await grantCredits(db, clock, { userId, amount: op.amount, actorUserId: userId, reason: 'test' });
                  m.balance += op.amount;
                  m.granted += op.amount;
                  break;
                case 'midnight':
                  clock.set(nextMidnight(clock.now()) + op.intoDayMs);
                  break;
              }
              expect([await balanceOf(db, userId), await heldOf(db, userId)]).toEqual([m.balance, m.held]);
              // The point of the fix: free credits never pile up. Without grants a member never owns more than one day's
              // allowance; with them, never more than the allowance plus what they were given.
              expect(m.balance + m.held).toBeLessThanOrEqual(FREE + m.granted);
            }
            await expectLedgerBalanced(t.rows);
          } finally {
            await t.cleanup();
          }
        }),
        { numRuns: 60 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});

import fc from 'fast-check';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODELS, priceCredits, priceUsd, type GenerationParams } from '../../src/core/catalog.js';
import { balanceOf, deductCredits, grantCredits, settleOrphanedHolds } from '../../src/core/credits/ledger.js';
import { acceptVideo, type IntakeSettings } from '../../src/core/engine/intake.js';
import { finishJob, getJob, isFinal, moveJob } from '../../src/core/engine/job-state.js';
import { UserError } from '../../src/core/errors.js';
import { ensureUser } from '../../src/core/users.js';
import type { Store } from '../../src/core/store.js';
import { expectLedgerBalanced } from '../helpers/ledger.js';
import { PROPERTY_TIMEOUT_MS, type StoreRows } from '../helpers/test-store.js';
import { manualClock, tempDb } from '../helpers/db.js';

const model = MODELS[0]!;
const SETTINGS: IntakeSettings = {
  defaultModel: model.id,
  startingCredits: 120,
  freeDailyCredits: 0,
  rateLimitJobs: 1000,
  rateLimitWindowS: 60,
  userMaxPendingJobs: 1000,
  dailyJobQuota: 1000,
};
const USERS = ['a', 'b', 'c'];

type Op =
  | { op: 'submit'; user: number; resolution: '480p' | '720p' | '1080p' }
  | { op: 'succeed' | 'fail' | 'cancel'; job: number }
  | { op: 'grant' | 'take'; user: number; amount: number }
  | { op: 'crash'; job: number; midSettle: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('submit' as const),
    user: fc.nat(2),
    resolution: fc.constantFrom('480p' as const, '720p' as const, '1080p' as const),
  }),
  fc.record({ op: fc.constantFrom('succeed' as const, 'fail' as const, 'cancel' as const), job: fc.nat(30) }),
  fc.record({
    op: fc.constantFrom('grant' as const, 'take' as const),
    user: fc.nat(2),
    amount: fc.integer({ min: 1, max: 200 }),
  }),
  fc.record({ op: fc.constant('crash' as const), job: fc.nat(30), midSettle: fc.boolean() }),
);

/** What the balances must be, computed without the ledger. */
interface Model {
  balance: number[];
  jobs: { id: string; user: number; price: number; final: boolean }[];
}

async function checkInvariants(store: Store, rows: StoreRows, m: Model, userIds: number[]): Promise<void> {
  for (let u = 0; u < USERS.length; u++) {
    const balance = await balanceOf(store, userIds[u]!);
    expect(balance).toBeGreaterThanOrEqual(0);
    expect(balance).toBe(m.balance[u]);
  }
  // One hold per job, settled exactly once when final.
  await expectLedgerBalanced(rows);
}

describe('the credit ledger', () => {
  it(
    'keeps its invariants through random submits, outcomes, grants and crashes',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
          const t = await tempDb();
          try {
            const clock = manualClock();
            let db = t.store;
            const userIds: number[] = [];
            for (const u of USERS)
              userIds.push(
                (await ensureUser(db, clock, { platform: 'console', platformUserId: u }, SETTINGS.startingCredits)).id,
              );
            const owner = (await ensureUser(db, clock, { platform: 'console', platformUserId: 'owner' }, 0)).id;
            const m: Model = { balance: USERS.map(() => SETTINGS.startingCredits), jobs: [] };
            let seq = 0;
            for (const op of ops) {
              clock.advance(1000);
              switch (op.op) {
                case 'submit': {
                  const params: GenerationParams = { durationS: 5, resolution: op.resolution, aspectRatio: '16:9' };
                  const price = priceCredits(model, params);
                  const id = `job${seq++}`;
                  const request = {
                    identity: { platform: 'console' as const, platformUserId: USERS[op.user]! },
                    dest: { platform: 'console' as const, chatId: 'c', userId: USERS[op.user]! },
                    intakeKey: `k${id}`,
                    prompt: 'p',
                    options: {},
                  };
                  try {
                    await acceptVideo(
                      db,
                      clock,
                      request,
                      { prompt: 'p', model, params, price, costUsd: priceUsd(model, params) },
                      SETTINGS,
                      id,
                      undefined,
                    );
                    m.balance[op.user]! -= price;
                    m.jobs.push({ id, user: op.user, price, final: false });
                  } catch (error) {
                    expect(error).toBeInstanceOf(UserError);
                    expect(m.balance[op.user]!).toBeLessThan(price);
                  }
                  break;
                }
                case 'succeed':
                case 'fail':
                case 'cancel': {
                  const job = m.jobs[op.job % Math.max(1, m.jobs.length)];
                  if (!job) break;
                  let moved: boolean;
                  if (op.op === 'succeed') {
                    await moveJob(db, clock, job.id, 'queued', 'submitting');
                    await moveJob(db, clock, job.id, 'submitting', 'running');
                    await moveJob(db, clock, job.id, 'running', 'fetching');
                    await moveJob(db, clock, job.id, 'fetching', 'delivering');
                    moved = await finishJob(db, clock, job.id, 'delivering', { status: 'succeeded' });
                  } else {
                    moved = await finishJob(db, clock, job.id, ['queued', 'submitting', 'running'], {
                      status: op.op === 'fail' ? 'failed' : 'cancelled',
                      errorKind: op.op,
                      errorMessage: op.op,
                    });
                    if (moved) m.balance[job.user]! += job.price;
                  }
                  expect(moved).toBe(!job.final);
                  if (moved) job.final = true;
                  break;
                }
                case 'grant':
                  await grantCredits(db, clock, {
                    userId: userIds[op.user]!,
                    amount: op.amount,
                    actorUserId: owner,
                    reason: 'test',
                  });
                  m.balance[op.user]! += op.amount;
                  break;
                case 'take':
                  try {
                    await deductCredits(db, clock, {
                      userId: userIds[op.user]!,
                      amount: op.amount,
                      actorUserId: owner,
                      reason: 'test',
                    });
                    m.balance[op.user]! -= op.amount;
                  } catch (error) {
                    expect(error).toBeInstanceOf(UserError);
                    expect(m.balance[op.user]!).toBeLessThan(op.amount);
                  }
                  break;
                case 'crash': {
                  // A process killed in the middle of settling: the transaction never commits.
                  const job = m.jobs[op.job % Math.max(1, m.jobs.length)];
                  if (job && op.midSettle) {
                    await expect(
                      db.transaction(async (tx) => {
                        await finishJob(tx, clock, job.id, ['queued', 'submitting', 'running'], {
                          status: 'failed',
                          errorKind: 'x',
                          errorMessage: 'x',
                        });
                        throw new Error('killed');
                      }),
                    ).rejects.toThrow('killed');
                  }
                  db = await t.reopen();
                  expect(await settleOrphanedHolds(db, clock)).toBe(0);
                  break;
                }
              }
              await checkInvariants(db, t.rows, m, userIds);
            }
            // Every job that reached the end settled exactly once; the rest settle when they end.
            for (const job of m.jobs) expect(isFinal((await getJob(db, job.id))!.status)).toBe(job.final);
          } finally {
            await t.cleanup();
          }
        }),
        { numRuns: 60 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  describe('when a final job somehow has an unsettled hold', () => {
    it('settles it on recovery, once', async () => {
      const t = await tempDb();
      onTestFinished(() => t.cleanup());
      const clock = manualClock();
      const params: GenerationParams = { durationS: 5, resolution: '480p', aspectRatio: '16:9' };
      const request = {
        identity: { platform: 'console' as const, platformUserId: 'a' },
        dest: { platform: 'console' as const, chatId: 'c', userId: 'a' },
        intakeKey: 'k1',
        prompt: 'p',
        options: {},
      };
      await acceptVideo(
        t.store,
        clock,
        request,
        { prompt: 'p', model, params, price: 40, costUsd: 0.1 },
        SETTINGS,
        'j1',
        undefined,
      );
      // Simulates data written by an older build that set the status without settling.
      await t.store.jobs.update('j1', ['queued'], { status: 'failed' });
      const userId = (await getJob(t.store, 'j1'))!.userId;
      expect(await balanceOf(t.store, userId)).toBe(80);
      expect(await settleOrphanedHolds(t.store, clock)).toBe(1);
      expect(await settleOrphanedHolds(t.store, clock)).toBe(0);
      expect(await balanceOf(t.store, userId)).toBe(120);
    });
  });
});

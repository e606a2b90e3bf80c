import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adjustBudget, adjustCredits, refundJob, type AdminContext } from '../../src/core/admin.js';
import { budgetOf } from '../../src/core/communities.js';
import { MODELS, priceCredits, priceUsd, type GenerationParams } from '../../src/core/catalog.js';
import { balanceOf, heldOf, settleOrphanedHolds } from '../../src/core/credits/ledger.js';
import { acceptVideo, type IntakeSettings } from '../../src/core/engine/intake.js';
import { finishJob, moveJob } from '../../src/core/engine/job-state.js';
import { UserError } from '../../src/core/errors.js';
import type { Clock } from '../../src/core/ports.js';
import type { Role } from '../../src/core/roles.js';
import { ensureUser } from '../../src/core/users.js';
import type { Store } from '../../src/core/store.js';
import { PROPERTY_TIMEOUT_MS, type StoreRows } from '../helpers/test-store.js';
import { expectLedgerBalanced } from '../helpers/ledger.js';
import { manualClock, tempDb } from '../helpers/db.js';

/**
 * design.md §4 with community budgets: for any sequence of owner grants, budget gifts, moderator grants, holds,
 * captures, releases, refunds and crashes, member balances + community budgets + held credits = everything owners
 * created − everything captured (less what refunds gave back), nothing is ever negative, and no moderator moves a
 * credit beyond their community's budget or touches a job made in another community.
 */

const model = MODELS[0]!;
const STARTING = 100;
const SETTINGS: IntakeSettings = {
  defaultModel: model.id,
  startingCredits: STARTING,
  freeDailyCredits: 0,
  rateLimitJobs: 1000,
  rateLimitWindowS: 60,
  userMaxPendingJobs: 1000,
  dailyJobQuota: 1000,
};
const MEMBERS = ['m0', 'm1', 'm2'];
const GROUPS = ['-1001', '-1002'];
const COMMUNITIES = GROUPS.map((g) => `telegram:${g}`);
/** Who acts: the owner, or the moderator of community 0 or 1. */
const ACTORS = ['owner', 'mod0', 'mod1'] as const;

type Op =
  | { op: 'ownerGrant'; member: number; amount: number }
  | { op: 'budgetGive'; community: number; amount: number }
  | { op: 'modGrant'; actor: number; member: number; amount: number }
  | { op: 'submit'; member: number; community: number; resolution: '480p' | '720p' }
  | { op: 'succeed' | 'fail'; job: number }
  | { op: 'refund'; actor: number; job: number }
  | { op: 'crash' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('ownerGrant' as const), member: fc.nat(2), amount: fc.integer({ min: 1, max: 150 }) }),
  fc.record({ op: fc.constant('budgetGive' as const), community: fc.nat(1), amount: fc.integer({ min: 1, max: 150 }) }),
  fc.record({
    op: fc.constant('modGrant' as const),
    actor: fc.nat(2),
    member: fc.nat(2),
    amount: fc.integer({ min: 1, max: 120 }),
  }),
  fc.record({
    op: fc.constant('submit' as const),
    member: fc.nat(2),
    community: fc.nat(1),
    resolution: fc.constantFrom('480p' as const, '720p' as const),
  }),
  fc.record({ op: fc.constantFrom('succeed' as const, 'fail' as const), job: fc.nat(30) }),
  fc.record({ op: fc.constant('refund' as const), actor: fc.nat(2), job: fc.nat(30) }),
  fc.record({ op: fc.constant('crash' as const) }),
);

interface Money {
  created: number;
  capturedNet: number;
  budgets: number[];
  jobs: {
    id: string;
    member: number;
    community: number;
    price: number;
    state: 'held' | 'captured' | 'released' | 'refunded';
  }[];
}

async function adminAs(db: Store, clock: Clock, actor: (typeof ACTORS)[number]): Promise<AdminContext> {
  const role: Role = actor === 'owner' ? 'owner' : 'moderator';
  const community = actor === 'owner' ? undefined : COMMUNITIES[Number(actor.slice(3))];
  return {
    db,
    clock,
    actor: await ensureUser(db, clock, { platform: 'telegram', platformUserId: actor }, 0),
    startingCredits: STARTING,
    role,
    community,
  };
}

async function checkMoney(store: Store, rows: StoreRows, m: Money): Promise<void> {
  // Sums over every member, which the port has no operation for: read from the raw rows.
  const members = new Set((await rows.users()).filter((u) => u.platform !== 'community').map((u) => u.id));
  const memberTotal = sum((await rows.ledger()).filter((e) => members.has(e.userId)).map((e) => e.amount));
  const budgets = await Promise.all(COMMUNITIES.map((c) => budgetOf(store, c)));
  const held = await Promise.all([...members].map((id) => heldOf(store, id)));
  // Member balances already exclude what is held, so the held credits are added back.
  expect(memberTotal + sum(budgets) + sum(held)).toBe(m.created - m.capturedNet);
  expect(budgets).toEqual(m.budgets);
  await expectLedgerBalanced(rows);
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

describe('the credit ledger with community budgets', () => {
  it(
    'conserves credits and keeps every moderator inside their community and budget',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
          const t = await tempDb();
          try {
            const clock = manualClock();
            let db = t.store;
            const memberIds: number[] = [];
            for (const u of MEMBERS)
              memberIds.push((await ensureUser(db, clock, { platform: 'telegram', platformUserId: u }, STARTING)).id);
            const m: Money = { created: STARTING * MEMBERS.length, capturedNet: 0, budgets: [0, 0], jobs: [] };
            let seq = 0;
            for (const op of ops) {
              clock.advance(1000);
              switch (op.op) {
                case 'ownerGrant': {
                  const target = (await db.users.byId(memberIds[op.member]!))!;
                  await adjustCredits(await adminAs(db, clock, 'owner'), target, 'grant', op.amount, 'gift');
                  m.created += op.amount;
                  break;
                }
                case 'budgetGive':
                  expect(
                    await adjustBudget(
                      await adminAs(db, clock, 'owner'),
                      COMMUNITIES[op.community]!,
                      'give',
                      op.amount,
                      '',
                    ),
                  ).toBe((m.budgets[op.community]! += op.amount));
                  m.created += op.amount;
                  break;
                case 'modGrant': {
                  const actor = ACTORS[op.actor]!;
                  const target = (await db.users.byId(memberIds[op.member]!))!;
                  const before = await balanceOf(db, target.id);
                  if (actor === 'owner') break;
                  const c = Number(actor.slice(3));
                  try {
                    await adjustCredits(await adminAs(db, clock, actor), target, 'grant', op.amount, 'prize');
                    expect(op.amount).toBeLessThanOrEqual(m.budgets[c]!);
                    m.budgets[c]! -= op.amount;
                    expect(await balanceOf(db, target.id)).toBe(before + op.amount);
                  } catch (error) {
                    expect((error as UserError).identifier).toBe('budget_too_small');
                    expect(op.amount).toBeGreaterThan(m.budgets[c]!);
                    expect(await balanceOf(db, target.id)).toBe(before);
                  }
                  // A moderator can never take credits away (that would move a member's money into a budget).
                  const moderator = await adminAs(db, clock, actor);
                  await expect(adjustCredits(moderator, target, 'take', 1, '')).rejects.toThrow(/Only the bot owner/);
                  break;
                }
                case 'submit': {
                  const params: GenerationParams = { durationS: 5, resolution: op.resolution, aspectRatio: '16:9' };
                  const price = priceCredits(model, params);
                  const id = `job${seq++}`;
                  const who = MEMBERS[op.member]!;
                  const request = {
                    identity: { platform: 'telegram' as const, platformUserId: who },
                    dest: { platform: 'telegram' as const, chatId: GROUPS[op.community]!, userId: who },
                    guildId: GROUPS[op.community]!,
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
                    m.jobs.push({ id, member: op.member, community: op.community, price, state: 'held' });
                  } catch (error) {
                    expect((error as UserError).identifier).toBe('insufficient_credits');
                  }
                  break;
                }
                case 'succeed':
                case 'fail': {
                  const job = m.jobs[op.job % Math.max(1, m.jobs.length)];
                  if (!job || job.state !== 'held') break;
                  if (op.op === 'succeed') {
                    for (const [from, to] of [
                      ['queued', 'submitting'],
                      ['submitting', 'running'],
                      ['running', 'fetching'],
                      ['fetching', 'delivering'],
                    ] as const)
                      await moveJob(db, clock, job.id, from, to);
                    expect(await finishJob(db, clock, job.id, 'delivering', { status: 'succeeded' })).toBe(true);
                    job.state = 'captured';
                    m.capturedNet += job.price;
                  } else {
                    expect(
                      await finishJob(db, clock, job.id, ['queued'], {
                        status: 'failed',
                        errorKind: 'x',
                        errorMessage: 'x',
                      }),
                    ).toBe(true);
                    job.state = 'released';
                  }
                  break;
                }
                case 'refund': {
                  const job = m.jobs[op.job % Math.max(1, m.jobs.length)];
                  if (!job) break;
                  const actor = ACTORS[op.actor]!;
                  const reaches = actor === 'owner' || Number(actor.slice(3)) === job.community;
                  try {
                    await refundJob(await adminAs(db, clock, actor), job.id, '');
                    expect(reaches && job.state === 'captured').toBe(true);
                    job.state = 'refunded';
                    m.capturedNet -= job.price;
                  } catch (error) {
                    const id = (error as UserError).identifier;
                    if (!reaches) expect(id).toBe('other_community');
                    else expect(['already_refunded', 'not_final']).toContain(id);
                  }
                  break;
                }
                case 'crash':
                  db = await t.reopen();
                  expect(await settleOrphanedHolds(db, clock)).toBe(0);
                  break;
              }
              await checkMoney(db, t.rows, m);
            }
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

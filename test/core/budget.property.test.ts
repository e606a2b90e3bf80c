import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../db/client.js';
import { ledgerEntries, users } from '../../db/schema.js';
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
  fc.record({ op: fc.constant('modGrant' as const), actor: fc.nat(2), member: fc.nat(2), amount: fc.integer({ min: 1, max: 120 }) }),
  fc.record({ op: fc.constant('submit' as const), member: fc.nat(2), community: fc.nat(1), resolution: fc.constantFrom('480p' as const, '720p' as const) }),
  fc.record({ op: fc.constantFrom('succeed' as const, 'fail' as const), job: fc.nat(30) }),
  fc.record({ op: fc.constant('refund' as const), actor: fc.nat(2), job: fc.nat(30) }),
  fc.record({ op: fc.constant('crash' as const) }),
);

interface Money {
  created: number;
  capturedNet: number;
  budgets: number[];
  jobs: { id: string; member: number; community: number; price: number; state: 'held' | 'captured' | 'released' | 'refunded' }[];
}

function adminAs(db: Db, clock: Clock, actor: (typeof ACTORS)[number]): AdminContext {
  const role: Role = actor === 'owner' ? 'owner' : 'moderator';
  const community = actor === 'owner' ? undefined : COMMUNITIES[Number(actor.slice(3))];
  return { db, clock, actor: ensureUser(db, clock, { platform: 'telegram', platformUserId: actor }, 0), startingCredits: STARTING, role, community };
}

function checkMoney(db: Db, m: Money): void {
  const members = db.select({ total: sql<number>`coalesce(sum(${ledgerEntries.amount}), 0)` }).from(ledgerEntries).innerJoin(users, sql`${users.id} = ${ledgerEntries.userId}`).where(sql`${users.platform} <> 'community'`).get()!.total;
  const budgets = COMMUNITIES.reduce((sum, c) => sum + budgetOf(db, c), 0);
  const memberIds = db.select({ id: users.id }).from(users).where(sql`${users.platform} <> 'community'`).all();
  const held = memberIds.reduce((sum, u) => sum + heldOf(db, u.id), 0);
  // Member balances already exclude what is held, so the held credits are added back.
  expect(members + budgets + held).toBe(m.created - m.capturedNet);
  COMMUNITIES.forEach((c, i) => expect(budgetOf(db, c)).toBe(m.budgets[i]));
  expectLedgerBalanced(db);
}

describe('the credit ledger with community budgets', () => {
  it('conserves credits and keeps every moderator inside their community and budget', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const t = tempDb();
        try {
          const clock = manualClock();
          let db = t.db;
          const memberIds = MEMBERS.map((u) => ensureUser(db, clock, { platform: 'telegram', platformUserId: u }, STARTING).id);
          const m: Money = { created: STARTING * MEMBERS.length, capturedNet: 0, budgets: [0, 0], jobs: [] };
          let seq = 0;
          for (const op of ops) {
            clock.advance(1000);
            switch (op.op) {
              case 'ownerGrant': {
                const target = db.select().from(users).where(sql`${users.id} = ${memberIds[op.member]!}`).get()!;
                adjustCredits(adminAs(db, clock, 'owner'), target, 'grant', op.amount, 'gift');
                m.created += op.amount;
                break;
              }
              case 'budgetGive':
                expect(adjustBudget(adminAs(db, clock, 'owner'), COMMUNITIES[op.community]!, 'give', op.amount, '')).toBe((m.budgets[op.community]! += op.amount));
                m.created += op.amount;
                break;
              case 'modGrant': {
                const actor = ACTORS[op.actor]!;
                const target = db.select().from(users).where(sql`${users.id} = ${memberIds[op.member]!}`).get()!;
                const before = balanceOf(db, target.id);
                if (actor === 'owner') break;
                const c = Number(actor.slice(3));
                try {
                  adjustCredits(adminAs(db, clock, actor), target, 'grant', op.amount, 'prize');
                  expect(op.amount).toBeLessThanOrEqual(m.budgets[c]!);
                  m.budgets[c]! -= op.amount;
                  expect(balanceOf(db, target.id)).toBe(before + op.amount);
                } catch (error) {
                  expect((error as UserError).identifier).toBe('budget_too_small');
                  expect(op.amount).toBeGreaterThan(m.budgets[c]!);
                  expect(balanceOf(db, target.id)).toBe(before);
                }
                // A moderator can never take credits away (that would move a member's money into a budget).
                expect(() => adjustCredits(adminAs(db, clock, actor), target, 'take', 1, '')).toThrow(/Only the bot owner/);
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
                  acceptVideo(db, clock, request, { prompt: 'p', model, params, price, costUsd: priceUsd(model, params) }, SETTINGS, id, undefined);
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
                  for (const [from, to] of [['queued', 'submitting'], ['submitting', 'running'], ['running', 'fetching'], ['fetching', 'delivering']] as const) moveJob(db, clock, job.id, from, to);
                  expect(finishJob(db, clock, job.id, 'delivering', { status: 'succeeded' })).toBe(true);
                  job.state = 'captured';
                  m.capturedNet += job.price;
                } else {
                  expect(finishJob(db, clock, job.id, ['queued'], { status: 'failed', errorKind: 'x', errorMessage: 'x' })).toBe(true);
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
                  refundJob(adminAs(db, clock, actor), job.id, '');
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
                db = t.reopen();
                expect(settleOrphanedHolds(db, clock)).toBe(0);
                break;
            }
            checkMoney(db, m);
          }
        } finally {
          t.cleanup();
        }
      }),
      { numRuns: 60 },
    );
  });
});

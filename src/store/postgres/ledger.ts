import { and, desc, eq, exists, inArray, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { jobs, ledgerEntries } from '../../../db/pg/schema.js';
import { FINAL_STATUSES } from '../../core/engine/job-state.js';
import { purchaseRecord, type LedgerEntryRow, type LedgerRepo } from '../../core/store.js';
import { sumOf, tookEffect, type Pg } from './pg.js';

/** The hold of the job in `jobId` has no capture or release yet. */
/** A purchase's refund, if any (for /history): what it took back, and whether the platform made it (no actor). */
const refundColumns = {
  refundTaken: sql<
    number | null
  >`(select -r.amount from ledger_entries r where r.kind = 'purchase_refund' and r.payment_id = ledger_entries.payment_id)`,
  refundByPlatform: sql<
    number | null
  >`(select case when r.actor_user_id is null then 1 else 0 end from ledger_entries r where r.kind = 'purchase_refund' and r.payment_id = ledger_entries.payment_id)`,
};

export function unsettled(jobId: PgColumn): SQL {
  return sql`not exists (select 1 from ledger_entries s where s.job_id = ${jobId} and s.kind in ('capture', 'release'))`;
}

/** Holds whose job is still unsettled: the credits the ledger has set aside. */
export const unsettledHold = and(eq(ledgerEntries.kind, 'hold'), unsettled(ledgerEntries.jobId))!;

function entry(row: LedgerEntryRow): typeof ledgerEntries.$inferInsert {
  const { jobId = null, actorUserId = null, reason = null, day = null, paymentId = null } = row;
  return {
    userId: row.userId,
    kind: row.kind,
    amount: row.amount,
    jobId,
    actorUserId,
    reason,
    day,
    paymentId,
    createdAt: row.createdAt,
  };
}

export function ledgerRepo(db: Pg): LedgerRepo {
  async function total(expression: SQL<number>, where: SQL): Promise<number> {
    const [row] = await db.select({ n: expression }).from(ledgerEntries).where(where);
    return row!.n;
  }

  return {
    balanceOf: (userId) => total(sumOf(ledgerEntries.amount), eq(ledgerEntries.userId, userId)),

    heldOf: (userId) =>
      total(sumOf(sql`-${ledgerEntries.amount}`), and(eq(ledgerEntries.userId, userId), unsettledHold)!),

    async append(row) {
      await db.insert(ledgerEntries).values(entry(row));
    },

    // No conflict target: any of the partial unique indexes (one hold, one settlement, one daily allowance, one purchase
    // per payment id) refuses it.
    async appendOnce(row) {
      return tookEffect(await db.insert(ledgerEntries).values(entry(row)).onConflictDoNothing());
    },

    async holdOf(jobId) {
      const [hold] = await db
        .select({ userId: ledgerEntries.userId, amount: ledgerEntries.amount })
        .from(ledgerEntries)
        .where(and(eq(ledgerEntries.jobId, jobId), eq(ledgerEntries.kind, 'hold')));
      return hold;
    },

    async hasEntryOfJob(jobId, kinds) {
      if (kinds.length === 0) return false;
      const rows = await db
        .select({ id: ledgerEntries.id })
        .from(ledgerEntries)
        .where(and(eq(ledgerEntries.jobId, jobId), inArray(ledgerEntries.kind, kinds)))
        .limit(1);
      return rows.length > 0;
    },

    async orphanedHolds() {
      return db
        .select({ id: jobs.id, status: jobs.status })
        .from(jobs)
        .where(
          and(
            inArray(jobs.status, FINAL_STATUSES),
            exists(
              db
                .select({ one: sql`1` })
                .from(ledgerEntries)
                .where(and(eq(ledgerEntries.jobId, jobs.id), unsettledHold)),
            ),
          ),
        )
        .orderBy(jobs.id);
    },

    async totals() {
      const [row] = await db
        .select({
          held: sumOf(sql`case when ${unsettledHold} then -${ledgerEntries.amount} else 0 end`),
          // A capture is written with amount 0: what it spent is its hold's amount.
          captured: sumOf(
            sql`case when ${ledgerEntries.kind} = 'capture' then (select -h.amount from ledger_entries h where h.job_id = ${ledgerEntries.jobId} and h.kind = 'hold') else 0 end`,
          ),
          released: sumOf(sql`case when ${ledgerEntries.kind} = 'release' then ${ledgerEntries.amount} else 0 end`),
        })
        .from(ledgerEntries);
      return row!;
    },

    async purchasesOf(userId, limit) {
      const rows = await db
        .select({
          amount: ledgerEntries.amount,
          paymentId: ledgerEntries.paymentId,
          reason: ledgerEntries.reason,
          createdAt: ledgerEntries.createdAt,
          ...refundColumns,
        })
        .from(ledgerEntries)
        .where(and(eq(ledgerEntries.userId, userId), eq(ledgerEntries.kind, 'purchase')))
        .orderBy(desc(ledgerEntries.id))
        .limit(limit);
      return rows.map(({ refundTaken, refundByPlatform, ...r }) => ({
        ...r,
        paymentId: r.paymentId ?? '',
        ...(refundTaken === null
          ? {}
          : { refund: { taken: Number(refundTaken), byPlatform: Number(refundByPlatform) === 1 } }),
      }));
    },
    async purchaseByPayment(paymentId) {
      const rows = await db
        .select({
          kind: ledgerEntries.kind,
          userId: ledgerEntries.userId,
          amount: ledgerEntries.amount,
          reason: ledgerEntries.reason,
          actorUserId: ledgerEntries.actorUserId,
          createdAt: ledgerEntries.createdAt,
        })
        .from(ledgerEntries)
        .where(
          and(eq(ledgerEntries.paymentId, paymentId), inArray(ledgerEntries.kind, ['purchase', 'purchase_refund'])),
        );
      return purchaseRecord(rows);
    },
  };
}

import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { preparedPerDb, type DbLike } from '../../../db/client.js';
import { jobs, ledgerEntries } from '../../../db/schema.js';
import { purchaseRecord, type LedgerEntryRow, type LedgerRepo } from '../../core/store.js';

const balanceQuery = preparedPerDb((db) =>
  db
    .select({ total: sql<number>`coalesce(sum(${ledgerEntries.amount}), 0)` })
    .from(ledgerEntries)
    .where(eq(ledgerEntries.userId, sql.placeholder('userId')))
    .prepare(),
);

/** Every column of an entry as a placeholder: ledger writes are prepared once (see preparedPerDb). */
const ENTRY = {
  userId: sql.placeholder('userId'),
  kind: sql.placeholder('kind'),
  amount: sql.placeholder('amount'),
  jobId: sql.placeholder('jobId'),
  actorUserId: sql.placeholder('actorUserId'),
  reason: sql.placeholder('reason'),
  day: sql.placeholder('day'),
  paymentId: sql.placeholder('paymentId'),
  createdAt: sql.placeholder('createdAt'),
};
const insertEntry = preparedPerDb((db) => db.insert(ledgerEntries).values(ENTRY).prepare());
// A second hold, settlement or daily allowance is a no-op (unique indexes): what makes them idempotent.
const insertEntryOnce = preparedPerDb((db) => db.insert(ledgerEntries).values(ENTRY).onConflictDoNothing().prepare());
const holdOfJob = preparedPerDb((db) =>
  db
    .select({ userId: ledgerEntries.userId, amount: ledgerEntries.amount })
    .from(ledgerEntries)
    .where(and(eq(ledgerEntries.jobId, sql.placeholder('jobId')), eq(ledgerEntries.kind, 'hold')))
    .prepare(),
);

const unsettled = sql`not exists (select 1 from ${ledgerEntries} s where s.job_id = ${ledgerEntries.jobId} and s.kind in ('capture', 'release'))`;

function values(entry: LedgerEntryRow) {
  const {
    userId,
    kind,
    amount,
    jobId = null,
    actorUserId = null,
    reason = null,
    day = null,
    paymentId = null,
    createdAt,
  } = entry;
  return { userId, kind, amount, jobId, actorUserId, reason, day, paymentId, createdAt };
}

/** A purchase's refund, if any (for /history): what it took back, and whether the platform made it (no actor). */
const refundColumns = {
  refundTaken: sql<
    number | null
  >`(select -r.amount from ledger_entries r where r.kind = 'purchase_refund' and r.payment_id = ledger_entries.payment_id)`,
  refundByPlatform: sql<
    number | null
  >`(select case when r.actor_user_id is null then 1 else 0 end from ledger_entries r where r.kind = 'purchase_refund' and r.payment_id = ledger_entries.payment_id)`,
};

export function sqliteLedger(db: DbLike): LedgerRepo {
  return {
    async balanceOf(userId) {
      return balanceQuery(db).get({ userId })?.total ?? 0;
    },
    async heldOf(userId) {
      return (
        db
          .select({ total: sql<number>`coalesce(sum(-${ledgerEntries.amount}), 0)` })
          .from(ledgerEntries)
          .where(and(eq(ledgerEntries.userId, userId), eq(ledgerEntries.kind, 'hold'), unsettled))
          .get()?.total ?? 0
      );
    },
    async append(entry) {
      insertEntry(db).run(values(entry));
    },
    async appendOnce(entry) {
      return insertEntryOnce(db).run(values(entry)).changes > 0;
    },
    async holdOf(jobId) {
      return holdOfJob(db).get({ jobId });
    },
    async hasEntryOfJob(jobId, kinds) {
      const row = db
        .select({ id: ledgerEntries.id })
        .from(ledgerEntries)
        .where(and(eq(ledgerEntries.jobId, jobId), inArray(ledgerEntries.kind, [...kinds])))
        .get();
      return row !== undefined;
    },
    async orphanedHolds() {
      return db
        .select({ id: jobs.id, status: jobs.status })
        .from(jobs)
        .innerJoin(ledgerEntries, and(eq(ledgerEntries.jobId, jobs.id), eq(ledgerEntries.kind, 'hold')))
        .where(and(inArray(jobs.status, ['succeeded', 'failed', 'cancelled']), unsettled))
        .all();
    },
    async totals() {
      const held =
        db
          .select({ n: sql<number>`coalesce(sum(-${ledgerEntries.amount}), 0)` })
          .from(ledgerEntries)
          .where(and(eq(ledgerEntries.kind, 'hold'), unsettled))
          .get()?.n ?? 0;
      const captured =
        db
          .select({ n: sql<number>`coalesce(sum(-h.amount), 0)` })
          .from(ledgerEntries)
          .innerJoin(sql`ledger_entries h`, sql`h.job_id = ${ledgerEntries.jobId} and h.kind = 'hold'`)
          .where(eq(ledgerEntries.kind, 'capture'))
          .get()?.n ?? 0;
      const released =
        db
          .select({ n: sql<number>`coalesce(sum(${ledgerEntries.amount}), 0)` })
          .from(ledgerEntries)
          .where(eq(ledgerEntries.kind, 'release'))
          .get()?.n ?? 0;
      return { held, captured, released };
    },
    async purchasesOf(userId, limit) {
      const rows = db
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
        .limit(limit)
        .all();
      return rows.map(({ refundTaken, refundByPlatform, ...r }) => ({
        ...r,
        paymentId: r.paymentId ?? '',
        ...(refundTaken === null
          ? {}
          : { refund: { taken: Number(refundTaken), byPlatform: Number(refundByPlatform) === 1 } }),
      }));
    },
    async purchaseByPayment(paymentId) {
      const rows = db
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
        )
        .all();
      return purchaseRecord(rows);
    },
  };
}

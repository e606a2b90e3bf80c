import { and, count, eq, gte, ne, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import type { DbLike } from '../../../db/client.js';
import { jobs, ledgerEntries, users } from '../../../db/schema.js';
import type { ReportRepo } from '../../core/store.js';

export function sqliteReports(db: DbLike): ReportRepo {
  return {
    async stats(dayStart, community) {
      const inCommunity: SQL = community ? sql`${jobs.platform} || ':' || ${jobs.guildId} = ${community}` : sql`1 = 1`;
      const byStatus = db
        .select({ status: jobs.status, n: count() })
        .from(jobs)
        .where(inCommunity)
        .groupBy(jobs.status)
        .all();
      const today = db
        .select({
          n: count(),
          usd: sql<number>`coalesce(sum(case when ${jobs.status} = 'succeeded' then ${jobs.costUsd} else 0 end), 0)`,
        })
        .from(jobs)
        .where(and(gte(jobs.createdAt, dayStart), inCommunity))
        .get()!;
      const spent = db
        .select({ total: sql<number>`coalesce(sum(${jobs.price}), 0)` })
        .from(ledgerEntries)
        .innerJoin(jobs, eq(jobs.id, ledgerEntries.jobId))
        .where(and(eq(ledgerEntries.kind, 'capture'), gte(ledgerEntries.createdAt, dayStart), inCommunity))
        .get()!;
      const held = db
        .select({ total: sql<number>`coalesce(sum(-${ledgerEntries.amount}), 0)` })
        .from(ledgerEntries)
        .innerJoin(jobs, eq(jobs.id, ledgerEntries.jobId))
        .where(
          and(
            eq(ledgerEntries.kind, 'hold'),
            inCommunity,
            sql`not exists (select 1 from ledger_entries s where s.job_id = ${ledgerEntries.jobId} and s.kind in ('capture', 'release'))`,
          ),
        )
        .get()!;
      const usersTotal = community
        ? db
            .select({ n: sql<number>`count(distinct ${jobs.userId})` })
            .from(jobs)
            .where(inCommunity)
            .get()!.n
        : db.select({ n: count() }).from(users).where(ne(users.platform, 'community')).get()!.n;
      return {
        jobsByStatus: Object.fromEntries(byStatus.map((r) => [r.status, r.n])),
        jobsToday: today.n,
        usdToday: today.usd,
        usersTotal,
        creditsHeld: held.total,
        creditsSpentToday: spent.total,
      };
    },
    async revenue() {
      const refund = alias(ledgerEntries, 'r');
      const platform = sql<string>`substr(${ledgerEntries.paymentId}, 1, instr(${ledgerEntries.paymentId}, ':') - 1)`;
      const rows = db
        .select({
          platform,
          reason: ledgerEntries.reason,
          purchases: count(),
          credits: sql<number>`coalesce(sum(${ledgerEntries.amount}), 0)`,
          refunded: count(refund.id),
          refundedCredits: sql<number>`coalesce(sum(case when ${refund.id} is not null then ${ledgerEntries.amount} else 0 end), 0)`,
          takenBack: sql<number>`coalesce(sum(-${refund.amount}), 0)`,
        })
        .from(ledgerEntries)
        .leftJoin(refund, and(eq(refund.paymentId, ledgerEntries.paymentId), eq(refund.kind, 'purchase_refund')))
        .where(eq(ledgerEntries.kind, 'purchase'))
        .groupBy(platform, ledgerEntries.reason)
        .all();
      const spend = db
        .select({
          usd: sql<number>`coalesce(sum(case when ${jobs.status} = 'succeeded' then ${jobs.costUsd} else 0 end), 0)`,
        })
        .from(jobs)
        .get()!;
      return { rows, usdTotal: spend.usd };
    },
  };
}

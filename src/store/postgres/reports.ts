import { and, count, countDistinct, eq, gte, ne, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { jobs, ledgerEntries, users } from '../../../db/pg/schema.js';
import type { ReportRepo } from '../../core/store.js';
import { communityOfJob } from './accounts.js';
import { unsettledHold } from './ledger.js';
import { sumOf, type Pg } from './pg.js';

export function reportRepo(db: Pg): ReportRepo {
  return {
    async stats(dayStart, community) {
      const inCommunity: SQL | undefined = community === undefined ? undefined : sql`${communityOfJob} = ${community}`;
      const [byStatus, [today], [spent], [held], [members]] = await Promise.all([
        db.select({ status: jobs.status, n: count() }).from(jobs).where(inCommunity).groupBy(jobs.status),
        db
          .select({
            n: count(),
            usd: sumOf(sql`case when ${jobs.status} = 'succeeded' then ${jobs.costUsd} else 0 end`),
          })
          .from(jobs)
          .where(and(gte(jobs.createdAt, dayStart), inCommunity)),
        db
          .select({ total: sumOf(jobs.price) })
          .from(ledgerEntries)
          .innerJoin(jobs, eq(jobs.id, ledgerEntries.jobId))
          .where(and(eq(ledgerEntries.kind, 'capture'), gte(ledgerEntries.createdAt, dayStart), inCommunity)),
        db
          .select({ total: sumOf(sql`-${ledgerEntries.amount}`) })
          .from(ledgerEntries)
          .innerJoin(jobs, eq(jobs.id, ledgerEntries.jobId))
          .where(and(unsettledHold, inCommunity)),
        // In a community, the members it served; everywhere, every account but the communities' budgets.
        community === undefined
          ? db.select({ n: count() }).from(users).where(ne(users.platform, 'community'))
          : db
              .select({ n: countDistinct(jobs.userId) })
              .from(jobs)
              .where(inCommunity),
      ]);
      return {
        jobsByStatus: Object.fromEntries(byStatus.map((r) => [r.status, r.n])),
        jobsToday: today!.n,
        usdToday: today!.usd,
        usersTotal: members!.n,
        creditsHeld: held!.total,
        creditsSpentToday: spent!.total,
      };
    },
    async revenue() {
      const refund = alias(ledgerEntries, 'r');
      const platform = sql<string>`split_part(${ledgerEntries.paymentId}, ':', 1)`;
      const [rows, [spend]] = await Promise.all([
        db
          .select({
            platform,
            reason: ledgerEntries.reason,
            purchases: count(),
            credits: sumOf(ledgerEntries.amount),
            refunded: count(refund.id),
            refundedCredits: sumOf(sql`case when ${refund.id} is not null then ${ledgerEntries.amount} else 0 end`),
            takenBack: sumOf(sql`-${refund.amount}`),
          })
          .from(ledgerEntries)
          .leftJoin(refund, and(eq(refund.paymentId, ledgerEntries.paymentId), eq(refund.kind, 'purchase_refund')))
          .where(eq(ledgerEntries.kind, 'purchase'))
          .groupBy(platform, ledgerEntries.reason),
        db
          .select({ usd: sumOf(sql`case when ${jobs.status} = 'succeeded' then ${jobs.costUsd} else 0 end`) })
          .from(jobs),
      ]);
      return { rows, usdTotal: spend!.usd };
    },
  };
}

import { eq, lt } from 'drizzle-orm';
import { intakeKeys, jobs, webhookDeliveries } from '../../../db/pg/schema.js';
import type { IntakeKeyRepo, WebhookDeliveryRepo } from '../../core/store.js';
import { tookEffect, type Pg } from './pg.js';

/** What makes a re-delivered update or webhook act once: keys claimed with ON CONFLICT DO NOTHING. */

export function intakeKeyRepo(db: Pg): IntakeKeyRepo {
  return {
    async claim(key, command, now) {
      return tookEffect(await db.insert(intakeKeys).values({ key, command, createdAt: now }).onConflictDoNothing());
    },

    async link(key, jobId) {
      await db.update(intakeKeys).set({ jobId }).where(eq(intakeKeys.key, key));
    },

    async release(key) {
      await db.delete(intakeKeys).where(eq(intakeKeys.key, key));
    },

    async get(key) {
      const [row] = await db
        .select({ jobId: intakeKeys.jobId, job: jobs })
        .from(intakeKeys)
        .leftJoin(jobs, eq(jobs.id, intakeKeys.jobId))
        .where(eq(intakeKeys.key, key));
      return row && { jobId: row.jobId, job: row.job ?? undefined };
    },
  };
}

export function webhookDeliveryRepo(db: Pg): WebhookDeliveryRepo {
  return {
    async record(delivery, now) {
      return tookEffect(
        await db
          .insert(webhookDeliveries)
          .values({ ...delivery, receivedAt: now })
          .onConflictDoNothing(),
      );
    },

    async prune(before) {
      return (await db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, before))).rowCount ?? 0;
    },
  };
}

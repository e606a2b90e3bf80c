import { eq, lt, sql } from 'drizzle-orm';
import { preparedPerDb, slot, type DbLike } from '../../../db/client.js';
import { intakeKeys, jobs, webhookDeliveries } from '../../../db/schema.js';
import type { IntakeKeyRepo, WebhookDeliveryRepo } from '../../core/store.js';

// Intake's writes, prepared once: building these statements cost more than running them (see preparedPerDb).
const insertIntakeKey = preparedPerDb((db) =>
  db
    .insert(intakeKeys)
    .values({
      key: sql.placeholder('key'),
      command: sql.placeholder('command'),
      createdAt: sql.placeholder('createdAt'),
    })
    .onConflictDoNothing()
    .prepare(),
);
const linkIntakeKey = preparedPerDb((db) =>
  db
    .update(intakeKeys)
    .set({ jobId: slot<string>('jobId') })
    .where(eq(intakeKeys.key, sql.placeholder('key')))
    .prepare(),
);
const intakeKeyWithJob = preparedPerDb((db) =>
  db
    .select({ jobId: intakeKeys.jobId, job: jobs })
    .from(intakeKeys)
    .leftJoin(jobs, eq(jobs.id, intakeKeys.jobId))
    .where(eq(intakeKeys.key, sql.placeholder('key')))
    .prepare(),
);

export function sqliteIntakeKeys(db: DbLike): IntakeKeyRepo {
  return {
    async claim(key, command, now) {
      return insertIntakeKey(db).run({ key, command, createdAt: now }).changes === 1;
    },
    async link(key, jobId) {
      linkIntakeKey(db).run({ key, jobId });
    },
    async release(key) {
      db.delete(intakeKeys).where(eq(intakeKeys.key, key)).run();
    },
    async get(key) {
      const row = intakeKeyWithJob(db).get({ key });
      return row && { jobId: row.jobId, job: row.job ?? undefined };
    },
  };
}

export function sqliteWebhookDeliveries(db: DbLike): WebhookDeliveryRepo {
  return {
    async record(delivery, now) {
      return (
        db
          .insert(webhookDeliveries)
          .values({ ...delivery, receivedAt: now })
          .onConflictDoNothing()
          .run().changes > 0
      );
    },
    async prune(before) {
      return db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, before)).run().changes;
    },
  };
}

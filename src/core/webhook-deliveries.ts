import { lt } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { webhookDeliveries } from '../../db/schema.js';
import type { Clock } from './ports.js';

/** How long a delivery id is remembered: far past any provider's redelivery window (fal and kie retry for hours). */
export const WEBHOOK_DELIVERY_RETENTION_MS = 7 * 86_400_000;

/** Records a signed delivery; false when it was seen before (a redelivery, acknowledged without acting again). */
export function recordWebhookDelivery(db: Db, clock: Clock, delivery: { provider: string; deliveryId: string; jobId: string }): boolean {
  const inserted = db
    .insert(webhookDeliveries)
    .values({ ...delivery, receivedAt: clock.now() })
    .onConflictDoNothing()
    .run();
  return inserted.changes > 0;
}

/** Forgets deliveries older than `maxAgeMs`, so the table stays bounded; returns how many rows went. */
export function pruneWebhookDeliveries(db: Db, clock: Clock, maxAgeMs = WEBHOOK_DELIVERY_RETENTION_MS): number {
  return db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, clock.now() - maxAgeMs)).run().changes;
}

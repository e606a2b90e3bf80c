import type { Clock } from './ports.js';
import type { StoreTx } from './store.js';

/** How long a delivery id is remembered: far past any provider's redelivery window (fal and kie retry for hours). */
export const WEBHOOK_DELIVERY_RETENTION_MS = 7 * 86_400_000;

/** Records a signed delivery; false when it was seen before (a redelivery, acknowledged without acting again). */
export async function recordWebhookDelivery(
  db: StoreTx,
  clock: Clock,
  delivery: { provider: string; deliveryId: string; jobId: string },
): Promise<boolean> {
  return db.webhookDeliveries.record(delivery, clock.now());
}

/** Forgets deliveries older than `maxAgeMs`, so the table stays bounded; returns how many rows went. */
export async function pruneWebhookDeliveries(
  db: StoreTx,
  clock: Clock,
  maxAgeMs = WEBHOOK_DELIVERY_RETENTION_MS,
): Promise<number> {
  return db.webhookDeliveries.prune(clock.now() - maxAgeMs);
}

import { and, eq, gt, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import type { DbLike } from '../../../db/client.js';
import { providerHealth } from '../../../db/schema.js';
import type { ProviderHealthRepo } from '../../core/store.js';

/** Shared provider health: guarded writes, so of two processes marking a provider down (or up) one wins. */
export function sqliteProviderHealth(db: DbLike): ProviderHealthRepo {
  return {
    async get(provider) {
      return db.select().from(providerHealth).where(eq(providerHealth.provider, provider)).get();
    },
    async down() {
      return db.select().from(providerHealth).where(isNotNull(providerHealth.downSince)).all();
    },
    async countFailure(provider) {
      const row = db
        .insert(providerHealth)
        .values({ provider, failuresInARow: 1 })
        .onConflictDoUpdate({
          target: providerHealth.provider,
          set: { failuresInARow: sql`${providerHealth.failuresInARow} + 1` },
        })
        .returning({ n: providerHealth.failuresInARow })
        .get();
      return row.n;
    },
    async clearFailures(provider) {
      db.update(providerHealth)
        .set({ failuresInARow: 0 })
        .where(and(eq(providerHealth.provider, provider), gt(providerHealth.failuresInARow, 0)))
        .run();
    },
    async markDown(provider, reason, now) {
      return (
        db
          .insert(providerHealth)
          .values({ provider, downSince: now, downReason: reason })
          .onConflictDoUpdate({
            target: providerHealth.provider,
            set: { downSince: now, downReason: reason, probedAt: null },
            setWhere: isNull(providerHealth.downSince),
          })
          .run().changes > 0
      );
    },
    async markUp(provider) {
      return (
        db
          .update(providerHealth)
          .set({ downSince: null, downReason: null, failuresInARow: 0 })
          .where(and(eq(providerHealth.provider, provider), isNotNull(providerHealth.downSince)))
          .run().changes > 0
      );
    },
    async claimProbe(provider, now, dueBefore) {
      return (
        db
          .update(providerHealth)
          .set({ probedAt: now })
          .where(
            and(
              eq(providerHealth.provider, provider),
              isNotNull(providerHealth.downSince),
              or(isNull(providerHealth.probedAt), lt(providerHealth.probedAt, dueBefore)),
            ),
          )
          .run().changes > 0
      );
    },
  };
}

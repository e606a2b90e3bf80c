import { and, eq, gt, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import { providerHealth } from '../../../db/pg/schema.js';
import type { ProviderHealthRepo } from '../../core/store.js';
import { tookEffect, type Pg } from './pg.js';

/** Shared provider health: guarded writes, so of two processes marking a provider down (or up) one wins. */
export function providerHealthRepo(db: Pg): ProviderHealthRepo {
  return {
    async get(provider) {
      const [row] = await db.select().from(providerHealth).where(eq(providerHealth.provider, provider));
      return row;
    },
    async down() {
      return db.select().from(providerHealth).where(isNotNull(providerHealth.downSince));
    },
    async countFailure(provider) {
      const [row] = await db
        .insert(providerHealth)
        .values({ provider, failuresInARow: 1 })
        .onConflictDoUpdate({
          target: providerHealth.provider,
          set: { failuresInARow: sql`${providerHealth.failuresInARow} + 1` },
        })
        .returning({ n: providerHealth.failuresInARow });
      return row!.n;
    },
    async clearFailures(provider) {
      await db
        .update(providerHealth)
        .set({ failuresInARow: 0 })
        .where(and(eq(providerHealth.provider, provider), gt(providerHealth.failuresInARow, 0)));
    },
    async markDown(provider, reason, now) {
      return tookEffect(
        await db
          .insert(providerHealth)
          .values({ provider, downSince: now, downReason: reason })
          .onConflictDoUpdate({
            target: providerHealth.provider,
            set: { downSince: now, downReason: reason, probedAt: null },
            setWhere: isNull(providerHealth.downSince),
          }),
      );
    },
    async markUp(provider) {
      return tookEffect(
        await db
          .update(providerHealth)
          .set({ downSince: null, downReason: null, failuresInARow: 0 })
          .where(and(eq(providerHealth.provider, provider), isNotNull(providerHealth.downSince))),
      );
    },
    async claimProbe(provider, now, dueBefore) {
      return tookEffect(
        await db
          .update(providerHealth)
          .set({ probedAt: now })
          .where(
            and(
              eq(providerHealth.provider, provider),
              isNotNull(providerHealth.downSince),
              or(isNull(providerHealth.probedAt), lt(providerHealth.probedAt, dueBefore)),
            ),
          ),
      );
    },
  };
}

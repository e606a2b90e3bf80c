import { and, eq, lt } from 'drizzle-orm';
import { quotes } from '../../../db/pg/schema.js';
import type { QuoteRepo } from '../../core/store.js';
import { tookEffect, type Pg } from './pg.js';

export function quoteRepo(db: Pg): QuoteRepo {
  return {
    async insert(row) {
      await db.insert(quotes).values(row);
    },
    async get(id) {
      const [row] = await db.select().from(quotes).where(eq(quotes.id, id));
      return row;
    },
    async close(id, to, jobId) {
      const set = jobId === undefined ? { status: to } : { status: to, jobId };
      return tookEffect(
        await db
          .update(quotes)
          .set(set)
          .where(and(eq(quotes.id, id), eq(quotes.status, 'open'))),
      );
    },
    async prune(before) {
      return (await db.delete(quotes).where(lt(quotes.createdAt, before))).rowCount ?? 0;
    },
  };
}

import { and, eq, lt } from 'drizzle-orm';
import type { DbLike } from '../../../db/client.js';
import { quotes } from '../../../db/schema.js';
import type { QuoteRepo } from '../../core/store.js';

export function sqliteQuotes(db: DbLike): QuoteRepo {
  return {
    async insert(row) {
      db.insert(quotes).values(row).run();
    },
    async get(id) {
      return db.select().from(quotes).where(eq(quotes.id, id)).get();
    },
    async close(id, to, jobId) {
      const set = jobId === undefined ? { status: to } : { status: to, jobId };
      return (
        db
          .update(quotes)
          .set(set)
          .where(and(eq(quotes.id, id), eq(quotes.status, 'open')))
          .run().changes === 1
      );
    },
    async prune(before) {
      return db.delete(quotes).where(lt(quotes.createdAt, before)).run().changes;
    },
  };
}

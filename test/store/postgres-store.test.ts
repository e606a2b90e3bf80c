import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { ROOT } from '../helpers/child.js';
import {
  emptyPostgresDatabase,
  freshPostgresDatabase,
  postgresAvailable,
  withPostgresClient,
  type TestDatabase,
} from '../helpers/postgres.js';
import { describeStoreContract } from './store-contract.js';

/**
 * The store contract on PostgreSQL, in a database of this file's own (created here, dropped at the end), plus what
 * only PostgreSQL has: several processes migrating at once, and transactions run again after a serialisation failure.
 */

const available = await postgresAvailable();

describe.skipIf(!available)('PostgreSQL store', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await freshPostgresDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  describeStoreContract('postgres', async () => {
    const store = await openPostgresStore(database.url);
    await emptyPostgresDatabase(database.name);
    return store;
  });

  it('carries a nudge published by one process to every process on the database', async () => {
    const [publisher, listener] = await Promise.all([openPostgresStore(database.url), openPostgresStore(database.url)]);
    try {
      const heard = new Promise<string>((resolve) => void listener.nudges.subscribe(resolve));
      // Subscribing is done once its LISTEN ran; wait for that before publishing.
      const stop = await listener.nudges.subscribe(() => {});
      await publisher.nudges.publish('job-42');
      expect(await heard).toBe('job-42');
      await stop();
    } finally {
      await Promise.all([publisher.close(), listener.close()]);
    }
  });

  it("says it is PostgreSQL's", async () => {
    const store = await openPostgresStore(database.url);
    expect(store.kind).toBe('postgres');
    await store.close();
  });

  const PG_MIGRATIONS = (
    JSON.parse(fs.readFileSync(path.join(ROOT, 'db/pg-migrations/meta/_journal.json'), 'utf8')) as {
      entries: unknown[];
    }
  ).entries.length;

  it('migrates a new database once when several processes start at the same time', async () => {
    const fresh = await freshPostgresDatabase();
    try {
      const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(fresh.url, { max: 2 })));
      const [applied] = await withPostgresClient(
        fresh.name,
        async (client) => (await client.query('select count(*)::int as n from drizzle.__drizzle_migrations')).rows,
      );
      expect(applied).toEqual({ n: PG_MIGRATIONS });
      await Promise.all(stores.map((s) => s.close()));
    } finally {
      await fresh.drop();
    }
  });

  it('runs a transaction again after a serialisation failure or a deadlock, a bounded number of times', async () => {
    const store = await openPostgresStore(database.url, { maxAttempts: 3 });
    try {
      let runs = 0;
      const conflict = Object.assign(new Error('could not serialize access'), { code: '40001' });
      await expect(
        store.transaction(async () => {
          runs++;
          throw conflict;
        }),
      ).rejects.toBe(conflict);
      expect(runs).toBe(3);

      runs = 0;
      const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });
      expect(await store.transaction(async () => (++runs < 2 ? Promise.reject(deadlock) : runs))).toBe(2);

      runs = 0;
      await expect(
        store.transaction(async () => {
          runs++;
          throw new Error('a plain failure');
        }),
      ).rejects.toThrow('a plain failure');
      expect(runs).toBe(1);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(available)('PostgreSQL store', () => {
  it.skip('is not tested: no PostgreSQL server answers on 127.0.0.1:5432', () => {});
});

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { ROOT } from '../helpers/child.js';
import { describeStoreContract } from './store-contract.js';

/**
 * The store contract on PostgreSQL, in a database of this file's own (created here, dropped at the end), plus what
 * only PostgreSQL has: several processes migrating at once, and transactions run again after a serialisation failure.
 */

const SERVER = 'postgres://postgres@127.0.0.1:5432';

async function withClient<T>(database: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${SERVER}/${database}`, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function serverAnswers(): Promise<boolean> {
  try {
    await withClient('postgres', (client) => client.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

/** A new, empty database; dropped by the returned function. */
async function freshDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `clipbot_test_${randomBytes(6).toString('hex')}`;
  await withClient('postgres', (client) => client.query(`create database ${name}`));
  return {
    name,
    url: `${SERVER}/${name}`,
    drop: () => withClient('postgres', (client) => client.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}

const available = await serverAnswers();

describe.skipIf(!available)('PostgreSQL store', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  describeStoreContract('postgres', async () => {
    const store = await openPostgresStore(database.url);
    // Every test starts empty. DELETE, not TRUNCATE (a tenth of a second per table); foreign keys are not checked
    // meanwhile (replica role) so the tables can go in any order.
    await withClient(database.name, async (client) => {
      const { rows } = await client.query<{ name: string }>(`select quote_ident(tablename) as name from pg_tables where schemaname = 'public'`);
      await client.query(`begin; set local session_replication_role = replica; ${rows.map((r) => `delete from ${r.name};`).join(' ')} commit`);
    });
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

  const PG_MIGRATIONS = (JSON.parse(fs.readFileSync(path.join(ROOT, 'db/pg-migrations/meta/_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;

  it('migrates a new database once when several processes start at the same time', async () => {
    const fresh = await freshDatabase();
    try {
      const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(fresh.url, { max: 2 })));
      const [applied] = await withClient(fresh.name, async (client) => (await client.query('select count(*)::int as n from drizzle.__drizzle_migrations')).rows);
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
      await expect(store.transaction(async () => { runs++; throw conflict; })).rejects.toBe(conflict);
      expect(runs).toBe(3);

      runs = 0;
      const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });
      expect(await store.transaction(async () => (++runs < 2 ? Promise.reject(deadlock) : runs))).toBe(2);

      runs = 0;
      await expect(store.transaction(async () => { runs++; throw new Error('a plain failure'); })).rejects.toThrow('a plain failure');
      expect(runs).toBe(1);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(available)('PostgreSQL store', () => {
  it.skip('is not tested: no PostgreSQL server answers on 127.0.0.1:5432', () => {});
});

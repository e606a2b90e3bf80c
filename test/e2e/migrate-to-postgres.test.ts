import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { getTableName, getViewName, is } from 'drizzle-orm';
import { drizzle as sqliteDrizzle } from 'drizzle-orm/better-sqlite3';
import { drizzle } from 'drizzle-orm/node-postgres';
import { PgTable, PgView } from 'drizzle-orm/pg-core';
import { SQLiteTable } from 'drizzle-orm/sqlite-core';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as pgSchema from '../../db/pg/schema.js';
import * as sqliteSchema from '../../db/schema.js';
import { MODELS } from '../../src/core/catalog.js';
import { grantCredits, transferCredits } from '../../src/core/credits/ledger.js';
import { acceptVideo, type IntakeSettings } from '../../src/core/engine/intake.js';
import { finishJob, moveJob } from '../../src/core/engine/job-state.js';
import type { Clock } from '../../src/core/ports.js';
import type { Store } from '../../src/core/store.js';
import { ensureUser } from '../../src/core/users.js';
import { compare, type Summary } from '../../src/migrate-to-postgres.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, killAll, ownerShellEnv, startChild } from '../helpers/child.js';
import { manualClock, tempDir } from '../helpers/db.js';
import {
  freshPostgresDatabase,
  postgresAvailable,
  withPostgresClient,
  type TestDatabase,
} from '../helpers/postgres.js';

/**
 * `npm run migrate-to-postgres`, as an owner runs it: a SQLite database the bot's own code filled (members, grants,
 * transfers, jobs queued, running, succeeded and failed, communities, settings, blocklist, audit, dedup keys) goes
 * into a PostgreSQL database of this file's own. Every row arrives as it was, the store reads the same balances and
 * jobs from it, and the bot can go on there (new ids follow the copied ones). A second run refuses and changes
 * nothing; a run without DATABASE_URL, or with no SQLite database, refuses with what to do.
 */

const CHILD_TIMEOUT_MS = 120_000;

const databases: TestDatabase[] = [];
const cleanups: (() => void)[] = [];

/** A new, empty database, dropped after the file's tests. */
async function freshDatabase(): Promise<TestDatabase> {
  const database = await freshPostgresDatabase();
  databases.push(database);
  return database;
}

function freshDir(): string {
  const { dir, cleanup } = tempDir('clipbot-migrate-');
  cleanups.push(cleanup);
  return dir;
}

async function runMigrate(env: Record<string, string>): Promise<{ code: number | string; output: string }> {
  const child = startChild('npm', ['run', 'migrate-to-postgres'], { env: withoutDatabaseUrl(ownerShellEnv(env), env) });
  const code = await child.exited;
  return { code, output: child.output() };
}

/** The runner's own DATABASE_URL must not reach a child that was meant to run without one. */
function withoutDatabaseUrl(env: NodeJS.ProcessEnv, wanted: Record<string, string>): NodeJS.ProcessEnv {
  if (!('DATABASE_URL' in wanted)) delete env.DATABASE_URL;
  return env;
}

const model = MODELS[0]!;
const PARAMS = { durationS: 5, resolution: '480p', aspectRatio: '16:9' } as const;
const SETTINGS: IntakeSettings = {
  defaultModel: model.id,
  startingCredits: 100,
  freeDailyCredits: 0,
  rateLimitJobs: 100,
  rateLimitWindowS: 60,
  userMaxPendingJobs: 100,
  dailyJobQuota: 100,
};

async function requestVideo(
  store: Store,
  clock: Clock,
  who: { platform: 'discord' | 'telegram'; id: string },
  jobId: string,
  settings = SETTINGS,
) {
  const { job } = await acceptVideo(
    store,
    clock,
    {
      identity: { platform: who.platform, platformUserId: who.id, displayName: `member ${who.id}` },
      dest: { platform: who.platform, chatId: `chat-${who.id}`, userId: who.id },
      ...(who.platform === 'discord' ? { guildId: 'guild-1' } : {}),
      intakeKey: `${who.platform}:msg-${jobId}`,
      prompt: `a fox, take ${jobId}`,
      options: {},
    },
    { prompt: `a fox, take ${jobId}`, model, params: PARAMS, price: 40, costUsd: 0.15 },
    settings,
    jobId,
    undefined,
  );
  return job;
}

/**
 * What a few days of a small bot leave in SQLite, written by the bot's own code through the store: every table
 * gets rows, the ledger every kind the members' actions make.
 */
async function fillSqlite(file: string): Promise<void> {
  const store = openSqliteStore(file);
  const clock = manualClock();
  try {
    const owner = await ensureUser(
      store,
      clock,
      { platform: 'discord', platformUserId: 'owner', displayName: 'Owner' },
      0,
    );
    const alice = await ensureUser(
      store,
      clock,
      { platform: 'discord', platformUserId: 'alice', displayName: 'Alice' },
      100,
    );
    const bob = await ensureUser(store, clock, { platform: 'telegram', platformUserId: 'bob' }, 100);
    clock.advance(1_000);
    await grantCredits(store, clock, { userId: alice.id, amount: 250, actorUserId: owner.id, reason: 'launch party' });
    await transferCredits(store, clock, {
      fromUserId: alice.id,
      toUserId: bob.id,
      amount: 30,
      actorUserId: owner.id,
      reason: 'shared',
    });
    await store.users.update(bob.id, { dailyJobQuota: 7 });

    for (const [i, who] of [
      { platform: 'discord', id: 'alice' },
      { platform: 'telegram', id: 'bob' },
      { platform: 'discord', id: 'alice' },
      { platform: 'discord', id: 'alice' },
    ].entries()) {
      clock.advance(60_000);
      await requestVideo(store, clock, who as { platform: 'discord' | 'telegram'; id: string }, `job-${i + 1}`);
    }
    // A member with no credits at all gets the free daily allowance when asking.
    await requestVideo(store, clock, { platform: 'telegram', id: 'carol' }, 'job-5', {
      ...SETTINGS,
      startingCredits: 0,
      freeDailyCredits: 50,
    });

    await moveJob(store, clock, 'job-1', 'queued', 'submitting');
    await moveJob(store, clock, 'job-1', 'submitting', 'running', {
      providerTaskId: 'task-1',
      submittedAt: clock.now(),
    });
    await moveJob(store, clock, 'job-1', 'running', 'fetching');
    await moveJob(store, clock, 'job-1', 'fetching', 'delivering');
    await finishJob(store, clock, 'job-1', 'delivering', {
      status: 'succeeded',
      patch: { mediaKey: 'media/job-1.mp4', mediaBytes: 3_000_000_000, resultUrl: 'https://cdn.example/1.mp4' },
    });
    await moveJob(store, clock, 'job-2', 'queued', 'submitting');
    await finishJob(store, clock, 'job-2', 'submitting', {
      status: 'failed',
      errorKind: 'content_policy',
      errorMessage: 'refused',
      errorRef: 'ref-2',
    });
    // One job still at its provider, started by a bot process that stopped since (its worker row is left with a run-out lease).
    const epoch = await store.jobs.start('job-3', 'worker-gone', clock.now());
    expect(epoch).toBeDefined();
    await store.workers.renew('worker-gone', Date.now() - 120_000, Date.now() - 60_000);

    await store.communities.note('discord:guild-1', clock.now(), 'Fox Den');
    await store.communities.note('telegram:-100777', clock.now());
    await store.communities.claimRefusal('telegram:-100777', clock.now());
    await store.communities.setMeasures('discord:guild-1', bob.id, { banned: true, banReason: 'spam' }, clock.now());
    await store.settings.put(
      'discord',
      'guild-1',
      { defaultModel: model.id, allowedChannelIds: ['chan-1', 'chan-2'], dailyJobQuota: 3 },
      owner.id,
      clock.now(),
    );
    await store.blocklist.add('gore', '', owner.id, clock.now());
    await store.blocklist.add('spoiler', 'discord:guild-1', alice.id, clock.now());
    await store.audit.append({
      actorUserId: owner.id,
      action: 'ban',
      targetUserId: bob.id,
      community: 'discord:guild-1',
      detail: 'spam',
      createdAt: clock.now(),
    });
    await store.intakeKeys.claim('discord:msg-ban-1', 'ban', clock.now());
    await store.webhookDeliveries.record({ provider: 'fal', deliveryId: 'delivery-1', jobId: 'job-1' }, clock.now());
    // A quote waiting for Confirm (its request kept as JSON), and one confirmed into a job.
    for (const [id, jobId] of [
      ['qopen', null],
      ['qdone', 'job-4'],
    ] as const) {
      await store.quotes.insert({
        id,
        platform: 'discord',
        platformUserId: 'alice',
        request: {
          identity: { platform: 'discord', platformUserId: 'alice' },
          dest: {
            platform: 'discord',
            chatId: 'chat-alice',
            userId: 'alice',
            requestMessageId: `msg-${id}`,
            uploadLimitBytes: null,
          },
          guildId: 'guild-1',
          intakeKey: `discord:msg-${id}`,
          prompt: 'a fox, quoted',
          options: { resolution: '1080p', duration: 10 },
          imageUrl: 'https://cdn.example/fox.png',
        },
        model: model.id,
        price: 140,
        status: 'open',
        jobId: null,
        createdAt: clock.now(),
        expiresAt: clock.now() + 120_000,
      });
      if (jobId) await store.quotes.close(id, 'confirmed', jobId);
    }
    await store.providerHealth.markDown('fal', 'auth', clock.now());
  } finally {
    await store.close();
  }
}

/** Every row of every table, as drizzle reads it on each side (the same keys and types). */
async function everyRow(
  sqliteFile: string,
  url: string,
): Promise<{ sqlite: Record<string, unknown[]>; postgres: Record<string, unknown[]> }> {
  const sqliteTables = Object.values(sqliteSchema).filter((v) => is(v, SQLiteTable));
  const pgTables: PgTable[] = Object.values(pgSchema).filter((v) => is(v, PgTable));
  const sqlite = new Database(sqliteFile, { readonly: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const fromSqlite = sqliteDrizzle(sqlite);
    const fromPg = drizzle({ client });
    const result = { sqlite: {} as Record<string, unknown[]>, postgres: {} as Record<string, unknown[]> };
    for (const table of sqliteTables) result.sqlite[getTableName(table)] = fromSqlite.select().from(table).all();
    for (const table of pgTables) result.postgres[getTableName(table)] = await fromPg.select().from(table);
    // queued_members: kept by triggers on SQLite, a view of the copied jobs on PostgreSQL; the same rows either way.
    for (const view of Object.values(pgSchema).filter((v) => is(v, PgView)))
      result.postgres[getViewName(view)] = await fromPg.select().from(view);
    return result;
  } finally {
    sqlite.close();
    await client.end();
  }
}

const available = await postgresAvailable();

describe.skipIf(!available)('npm run migrate-to-postgres', () => {
  let dataDir: string;
  let sqliteFile: string;

  beforeAll(async () => {
    ensureBuilt();
    dataDir = freshDir();
    sqliteFile = path.join(dataDir, 'clipbot.db');
    await fillSqlite(sqliteFile);
  }, BUILD_TIMEOUT_MS);
  afterEach(() => killAll());
  afterAll(async () => {
    for (const database of databases) await database.drop();
    for (const cleanup of cleanups) cleanup();
  });

  describe('when the target database is empty', () => {
    it(
      'copies every row with its id, verifies it, and the bot reads the same balances and jobs from PostgreSQL and goes on there',
      async () => {
        const target = await freshDatabase();
        const sqliteBefore = fs.readFileSync(sqliteFile);
        const run = await runMigrate({ DATA_DIR: dataDir, DATABASE_URL: target.url });

        expect(run.code, run.output).toBe(0);
        expect(run.output).toContain('The bot must be stopped');
        expect(run.output).toContain(
          `Copied ${sqliteFile} into postgres://127.0.0.1:5432/${target.name}, in one transaction, ids kept:`,
        );
        expect(run.output).toMatch(/^ {2}users +4$/m);
        expect(run.output).toMatch(/^ {2}jobs +5$/m);
        expect(run.output).toMatch(/^ {2}ledger_entries +13$/m);
        expect(run.output).toMatch(/^ {2}workers +1$/m);
        expect(run.output).toContain(
          "Verified: every table's row count, and the ledger (13 entries, 340 credits in total, per account and per kind) are equal on both sides.",
        );
        expect(run.output).toContain('Next: keep DATABASE_URL (as used here) in .env, and start the bot: npm start.');
        // Only read: the SQLite file is the way back.
        expect(fs.readFileSync(sqliteFile).equals(sqliteBefore)).toBe(true);

        // Row for row, every table.
        const rows = await everyRow(sqliteFile, target.url);
        expect(Object.keys(rows.postgres).sort()).toEqual(Object.keys(rows.sqlite).sort());
        for (const [table, sqliteRows] of Object.entries(rows.sqlite)) {
          expect(sqliteRows.length, table).toBeGreaterThan(0);
          expect(rows.postgres[table], table).toHaveLength(sqliteRows.length);
          expect(rows.postgres[table], table).toEqual(expect.arrayContaining(sqliteRows));
        }

        // Through the store, what the bot reads.
        const sqlite = openSqliteStore(sqliteFile);
        const postgres = await openPostgresStore(target.url);
        try {
          for (const id of [1, 2, 3, 4]) {
            expect(await postgres.users.byId(id)).toEqual(await sqlite.users.byId(id));
            expect(await postgres.ledger.balanceOf(id), `balance of ${id}`).toBe(await sqlite.ledger.balanceOf(id));
            expect(await postgres.ledger.heldOf(id), `held by ${id}`).toBe(await sqlite.ledger.heldOf(id));
          }
          for (const id of ['job-1', 'job-2', 'job-3', 'job-4', 'job-5'])
            expect(await postgres.jobs.get(id)).toEqual(await sqlite.jobs.get(id));
          expect(await postgres.ledger.totals()).toEqual(await sqlite.ledger.totals());
          expect(await postgres.reports.stats(0)).toEqual(await sqlite.reports.stats(0));
          expect(await postgres.communities.list()).toEqual(await sqlite.communities.list());
          expect(await postgres.communities.measures('discord:guild-1', 3)).toEqual(
            await sqlite.communities.measures('discord:guild-1', 3),
          );
          expect(await postgres.settings.get('discord', 'guild-1')).toEqual(
            await sqlite.settings.get('discord', 'guild-1'),
          );
          expect(await postgres.intakeKeys.get('discord:msg-job-1')).toEqual(
            await sqlite.intakeKeys.get('discord:msg-job-1'),
          );
          // The job left running by the stopped worker is taken over on PostgreSQL as it would have been on SQLite.
          expect(await postgres.jobs.takeOver('worker-new', Date.now(), 10)).toEqual([
            { id: 'job-3', status: 'submitting', leaseEpoch: 2 },
          ]);

          // New rows get the ids after the copied ones.
          const clock = manualClock(Date.now());
          const dave = await ensureUser(postgres, clock, { platform: 'telegram', platformUserId: 'dave' }, 100);
          expect(dave.id).toBe(5);
          await requestVideo(postgres, clock, { platform: 'telegram', id: 'dave' }, 'job-6');
          expect(await postgres.ledger.balanceOf(dave.id)).toBe(60);
          expect(await postgres.blocklist.add('fresh', '', dave.id, clock.now())).toBe(true);
        } finally {
          await sqlite.close();
          await postgres.close();
        }
      },
      CHILD_TIMEOUT_MS,
    );
  });

  describe('when the target already holds rows', () => {
    it(
      'refuses, exit 1, and changes nothing there',
      async () => {
        const target = await freshDatabase();
        expect((await runMigrate({ DATA_DIR: dataDir, DATABASE_URL: target.url })).code).toBe(0);
        const counts = () =>
          withPostgresClient(
            target.name,
            async (client) =>
              (
                await client.query(
                  'select (select count(*) from users) as users, (select count(*) from ledger_entries) as ledger, (select count(*) from jobs) as jobs',
                )
              ).rows[0],
          );
        const before = await counts();

        const again = await runMigrate({ DATA_DIR: dataDir, DATABASE_URL: target.url });
        expect(again.code, again.output).toBe(1);
        expect(again.output).toMatch(
          new RegExp(
            `Migration failed: postgres://127\\.0\\.0\\.1:5432/${target.name} already holds rows \\(4 in users, .*5 in jobs, .*13 in ledger_entries`,
          ),
        );
        expect(again.output).toContain('this copies only into an empty database and never merges');
        expect(await counts()).toEqual(before);
      },
      CHILD_TIMEOUT_MS,
    );
  });

  describe('when a row cannot go into PostgreSQL', () => {
    it(
      'fails, exit 1, and commits nothing: the target has no row',
      async () => {
        // A grant too large for PostgreSQL's integer column (SQLite's integers are 64-bit): the copy fails half-way.
        const dir = freshDir();
        fs.copyFileSync(sqliteFile, path.join(dir, 'clipbot.db'));
        const raw = new Database(path.join(dir, 'clipbot.db'));
        raw
          .prepare("INSERT INTO ledger_entries (user_id, kind, amount, created_at) VALUES (2, 'grant', 5000000000, 1)")
          .run();
        raw.close();
        const target = await freshDatabase();

        const run = await runMigrate({ DATA_DIR: dir, DATABASE_URL: target.url });
        expect(run.code, run.output).toBe(1);
        expect(run.output).toMatch(
          /Migration failed: the copy failed \(value "5000000000" is out of range for type integer, 22003\); it was rolled back, nothing was committed/,
        );
        const held = await withPostgresClient(
          target.name,
          async (client) =>
            (
              await client.query(
                'select (select count(*) from users) + (select count(*) from jobs) + (select count(*) from ledger_entries) as n',
              )
            ).rows[0],
        );
        expect(held).toEqual({ n: '0' });
      },
      CHILD_TIMEOUT_MS,
    );
  });

  describe('when it cannot start', () => {
    it(
      'without DATABASE_URL: refuses with what to set',
      async () => {
        const run = await runMigrate({ DATA_DIR: dataDir });
        expect(run.code).toBe(1);
        expect(run.output).toContain(
          'Migration failed: DATABASE_URL is not set: set it (in .env or the environment) to the PostgreSQL database to copy into',
        );
      },
      CHILD_TIMEOUT_MS,
    );

    it(
      'without a SQLite database: refuses, and creates nothing',
      async () => {
        const empty = freshDir();
        const target = await freshDatabase();
        const run = await runMigrate({ DATA_DIR: empty, DATABASE_URL: target.url });
        expect(run.code).toBe(1);
        expect(run.output).toContain(
          `Migration failed: there is no SQLite database at ${path.join(empty, 'clipbot.db')}: check DATA_DIR`,
        );
        expect(fs.readdirSync(empty)).toEqual([]);
      },
      CHILD_TIMEOUT_MS,
    );

    it(
      'while a bot runs on the SQLite database (its lease is live): refuses',
      async () => {
        const dir = freshDir();
        fs.copyFileSync(sqliteFile, path.join(dir, 'clipbot.db'));
        const store = openSqliteStore(path.join(dir, 'clipbot.db'));
        await store.workers.renew('worker-live', Date.now(), Date.now() + 600_000);
        await store.close();
        const run = await runMigrate({ DATA_DIR: dir, DATABASE_URL: (await freshDatabase()).url });
        expect(run.code).toBe(1);
        expect(run.output).toMatch(
          /Migration failed: a bot is running on .+clipbot\.db \(worker worker-live, lease until .+\): stop it first/,
        );
      },
      CHILD_TIMEOUT_MS,
    );

    it(
      'PostgreSQL not listening: says so, and never shows the password',
      async () => {
        const run = await runMigrate({
          DATA_DIR: dataDir,
          DATABASE_URL: 'postgres://clipbot:hunter2-secret@127.0.0.1:1/clipbot',
        });
        expect(run.code).toBe(1);
        expect(run.output).toContain(
          'Migration failed: cannot use postgres://127.0.0.1:1/clipbot: connection refused → start PostgreSQL, or correct the host and port in DATABASE_URL',
        );
        expect(run.output).not.toContain('hunter2-secret');
      },
      CHILD_TIMEOUT_MS,
    );
  });

  describe('its verification', () => {
    it('names every figure that differs between the two sides', () => {
      const sqlite: Summary = {
        rows: { users: 2, jobs: 1 },
        balances: { '1': 100, '2': 40 },
        kinds: { starting: 2, hold: 1 },
        total: 140,
      };
      expect(compare(sqlite, structuredClone(sqlite))).toEqual([]);
      const postgres: Summary = {
        rows: { users: 2, jobs: 0 },
        balances: { '1': 100, '2': 80 },
        kinds: { starting: 2 },
        total: 180,
      };
      expect(compare(sqlite, postgres)).toEqual([
        'rows in jobs: 1 in SQLite, 0 in PostgreSQL',
        'balance of account 2: 40 in SQLite, 80 in PostgreSQL',
        'ledger entries of kind hold: 1 in SQLite, 0 in PostgreSQL',
        'ledger total: 140 in SQLite, 180 in PostgreSQL',
      ]);
    });
  });
});

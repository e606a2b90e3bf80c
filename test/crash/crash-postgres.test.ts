/**
 * Crash suite across processes (issue 13): three bots on one PostgreSQL database, each with its own HTTP port, all
 * taking in the same keyed list of 200 jobs from 20 members, each from its own place in the list round to where it
 * began (intake keys make the repeats duplicates, whichever bot took the job in), one of them
 * SIGKILLed at seeded random moments and restarted, until every job is final. The killed bot's jobs are taken over by
 * the others once its 1 s lease runs out. Checks as in the SQLite suite (crash-world.ts), read from PostgreSQL with
 * the test's own queries.
 *
 * Only one bot long-polls Telegram (a second getUpdates consumer gets 409 Conflict); the others run with
 * TELEGRAM_POLLING=false and still post and deliver.
 *
 * Reproduce a run with its printed seed: `CRASH_SEED=<seed> npx vitest run test/crash/crash-postgres.test.ts`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { freshPostgresDatabase, postgresAvailable, type TestDatabase } from '../helpers/postgres.js';
import { crashRun, crashSeed, type CrashDb } from './crash-world.js';

const PROCESSES = 3;
/** int8 (counts, epoch milliseconds) as numbers, as SQLite gives them. */
const INT8 = 20;

const available = await postgresAvailable();

describe.skipIf(!available)(
  `crash suite on PostgreSQL: ${PROCESSES} processes, one SIGKILLed at random moments while 200 jobs run`,
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clipbot-crash-pg-'));
    let database: TestDatabase | undefined;
    let client: pg.Client | undefined;
    let failed = false;

    beforeAll(async () => {
      database = await freshPostgresDatabase();
      client = new pg.Client({
        connectionString: database.url,
        types: {
          getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
            oid === INT8 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
        },
      });
      await client.connect();
    });

    afterAll(async () => {
      await client?.end();
      // A failed run keeps its database and the children's logs to look into.
      if (!process.env.CRASH_KEEP && !failed) {
        await database?.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      } else console.log(`[crash] data kept in ${dir} and database ${database?.name}`);
    });

    const db: CrashDb = {
      rows: async <T>(sql: string) => (await client!.query(sql)).rows as T[],
    };

    it(
      'ends with every job final, every hold settled once, balances right, no double submit or delivery',
      { timeout: 300_000 },
      async () => {
        await crashRun({
          seed: crashSeed(),
          processes: PROCESSES,
          dir,
          db,
          env: (index) => ({ DATABASE_URL: database!.url, ...(index === 0 ? {} : { TELEGRAM_POLLING: 'false' }) }),
        }).catch((error: unknown) => {
          failed = true;
          throw error;
        });
      },
    );
  },
);

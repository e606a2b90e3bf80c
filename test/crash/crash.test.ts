/**
 * Crash suite (issue 6): the real bot as a child process on SQLite, killed with SIGKILL at seeded random moments
 * while 200 jobs from 20 users run, restarted each time, then left to finish. At the end every job is final, every
 * hold is settled exactly once, every balance is what the succeeded jobs cost, no job reached the provider twice and
 * no video was posted twice (the fakes count uploads). The run and its checks: crash-world.ts.
 *
 * Reproduce a run with its printed seed: `CRASH_SEED=<seed> npx vitest run test/crash/crash.test.ts`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, it } from 'vitest';
import { crashRun, crashSeed, type CrashDb } from './crash-world.js';

describe('crash suite: SIGKILL at random moments while 200 jobs run', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clipbot-crash-'));
  const dbFile = path.join(dir, 'clipbot.db');
  let failed = false;

  afterAll(() => {
    // A failed run keeps its database and the children's logs to look into.
    if (!process.env.CRASH_KEEP && !failed) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`[crash] data kept in ${dir}`);
  });

  const db: CrashDb = {
    rows: <T>(sql: string) => {
      const sqlite = new Database(dbFile, { readonly: true, fileMustExist: true });
      try {
        return Promise.resolve(sqlite.prepare(sql).all() as T[]);
      } finally {
        sqlite.close();
      }
    },
  };

  it(
    'ends with every job final, every hold settled once, balances right, no double submit or delivery',
    { timeout: 300_000 },
    async () => {
      await crashRun({ seed: crashSeed(), processes: 1, dir, db }).catch((error: unknown) => {
        failed = true;
        throw error;
      });
    },
  );
});

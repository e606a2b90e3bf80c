import fs from 'node:fs';
import path from 'node:path';
import { asc } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../db/client.js';
import { jobs, ledgerEntries } from '../../db/schema.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { startClipbot } from '../../src/main.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, killAll, ownerShellEnv, startChild } from '../helpers/child.js';
import { tempDir } from '../helpers/db.js';
import { expectLedgerBalancedIn } from '../helpers/ledger.js';
import { startWorld, videoRequest, type World } from '../hostile/world.js';

/**
 * `npm run backup -- <file>` while the bot works: members keep asking for videos and the simulators keep finishing
 * them during the copy. The copy must be one consistent moment of the database (every job's hold and settlement
 * agree with its state; the ledger is exactly the live ledger up to some entry), and a restore into a fresh
 * DATA_DIR must give back exactly the same jobs and ledger, and a bot that starts on it.
 */

const CHILD_TIMEOUT_MS = 120_000;
let world: World;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  ensureBuilt();
  world = await startWorld();
}, BUILD_TIMEOUT_MS);
afterEach(() => killAll());
afterAll(async () => {
  await world.close();
  for (const cleanup of cleanups) cleanup();
});

function freshDir(): string {
  const { dir, cleanup } = tempDir('clipbot-restore-');
  cleanups.push(cleanup);
  return dir;
}

async function runBackup(file: string): Promise<{ code: number | string; output: string }> {
  const child = startChild('npm', ['run', 'backup', '--', file], { env: ownerShellEnv({ DATA_DIR: world.dir }) });
  const code = await child.exited;
  return { code, output: child.output() };
}

/** The README's restore: the backup file becomes clipbot.db in an empty DATA_DIR. */
function restore(file: string): { dir: string; db: Db } {
  const dir = freshDir();
  fs.copyFileSync(file, path.join(dir, 'clipbot.db'));
  return { dir, db: openDb(path.join(dir, 'clipbot.db')) };
}

const ledgerOf = (db: Db) => db.select().from(ledgerEntries).orderBy(asc(ledgerEntries.id)).all();
const jobsOf = (db: Db) => db.select().from(jobs).orderBy(asc(jobs.id)).all();

describe('npm run backup', () => {
  describe('when members keep the bot busy during the backup', () => {
    it(
      'copies one consistent moment; restored into a fresh DATA_DIR the ledger is exactly the live one up to that moment',
      async () => {
        let submitted = 0;
        let stop = false;
        const load = (async () => {
          const models = ['seedance-1-pro', 'seedance-1-pro-ark', 'veo3-fast'];
          for (let i = 0; !stop && i < 400; i++) {
            await world.bot.engine.submitVideo(videoRequest(models[i % 3]!, `backup fox ${i}`, `member-${i % 25}`));
            submitted++;
            // A steady stream, not a burst: members keep arriving for as long as the backup takes.
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        })();
        while (submitted < 30) await new Promise((resolve) => setTimeout(resolve, 5));

        const file = path.join(freshDir(), 'backups', 'during-load.db');
        const before = submitted;
        const backup = await runBackup(file);
        const after = submitted;
        stop = true;
        await load;

        expect(backup.code, backup.output).toBe(0);
        expect(after, 'jobs were taken in while the backup ran').toBeGreaterThan(before);
        const counted =
          /Backed up .+clipbot\.db to (.+during-load\.db): (\d+) jobs, (\d+) ledger entries, \d+ KiB\./.exec(
            backup.output,
          );
        expect(counted, backup.output).not.toBeNull();

        const restored = restore(file);
        try {
          const copyLedger = ledgerOf(restored.db);
          const copyJobs = jobsOf(restored.db);
          expect([copyJobs.length, copyLedger.length]).toEqual([Number(counted![2]), Number(counted![3])]);
          // One moment: every job's hold and settlement agree with the state it had then.
          expectLedgerBalancedIn(restored.db);
          // The ledger is append-only: the copy is exactly the live ledger's first entries, none missing, none changed.
          const live = ledgerOf(world.db);
          expect(copyLedger).toEqual(live.slice(0, copyLedger.length));
          expect(copyJobs.length).toBeGreaterThanOrEqual(before);
          // Jobs already final in the copy are exactly as they are live.
          const liveJobs = new Map(jobsOf(world.db).map((j) => [j.id, j]));
          for (const job of copyJobs) {
            expect(liveJobs.has(job.id)).toBe(true);
            if (['succeeded', 'failed', 'cancelled'].includes(job.status)) expect(job).toEqual(liveJobs.get(job.id));
          }
        } finally {
          restored.db.$client.close();
        }
      },
      CHILD_TIMEOUT_MS,
    );
  });

  describe('when restored into a fresh DATA_DIR after the bot stopped', () => {
    it(
      'gives back exactly the same jobs and ledger, and the bot starts on it',
      async () => {
        // Stopped (jobs still at the providers are parked as they are), the live database holds still to compare.
        await world.bot.stop();
        const file = path.join(freshDir(), 'settled.db');
        const backup = await runBackup(file);
        expect(backup.code, backup.output).toBe(0);

        const restored = restore(file);
        try {
          expect(jobsOf(restored.db)).toEqual(jobsOf(world.db));
          expect(ledgerOf(restored.db)).toEqual(ledgerOf(world.db));
        } finally {
          restored.db.$client.close();
        }
        const bot = await startClipbot(loadConfig({ DATA_DIR: restored.dir, HTTP_PORT: '0', LOG_LEVEL: 'silent' }), {
          logger: silentLogger,
        });
        await bot.stop();
      },
      CHILD_TIMEOUT_MS,
    );
  });

  describe('when the target exists or there is no database', () => {
    it(
      'refuses, exit 1, and leaves the existing file untouched',
      async () => {
        const file = path.join(freshDir(), 'existing.db');
        fs.writeFileSync(file, 'precious');
        const backup = await runBackup(file);
        expect(backup.code).toBe(1);
        expect(backup.output).toContain(`Backup failed: ${file} already exists; name a new file`);
        expect(fs.readFileSync(file, 'utf8')).toBe('precious');

        const empty = freshDir();
        const none = startChild('npm', ['run', 'backup', '--', path.join(empty, 'x.db')], {
          env: ownerShellEnv({ DATA_DIR: empty }),
        });
        expect(await none.exited).toBe(1);
        expect(none.output()).toContain(
          `Backup failed: there is no database at ${path.join(empty, 'clipbot.db')}: check DATA_DIR`,
        );
        expect(fs.readdirSync(empty)).toEqual([]);
      },
      CHILD_TIMEOUT_MS,
    );
  });
});

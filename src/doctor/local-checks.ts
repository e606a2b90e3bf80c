import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Config } from '../config.js';
import { fail, ok, type CheckResult } from './check.js';

/** Below this, a few large results (MAX_RESULT_MB each) or the database's growth can fill the disk. */
export const MIN_FREE_BYTES = 1024 ** 3;

// db/migrations sits beside the code in both layouts: src/doctor → db, dist/src/doctor → dist/db.
const JOURNAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../db/migrations/meta/_journal.json');

export function checkDataDir(config: Config): CheckResult {
  const title = 'Data folder';
  const probeFile = path.join(config.dataDir, `.doctor-${randomBytes(4).toString('hex')}`);
  try {
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.writeFileSync(probeFile, 'ok');
    fs.rmSync(probeFile);
    return ok(title, `${config.dataDir} is writable`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return fail(
      title,
      `${config.dataDir} is not writable (${code})`,
      `set DATA_DIR to a folder this user (uid ${process.getuid?.() ?? '?'}) can write, or fix its owner/permissions`,
    );
  }
}

export function checkDiskSpace(config: Config, minFreeBytes = MIN_FREE_BYTES): CheckResult {
  const title = 'Disk space';
  let stats: fs.StatsFs;
  try {
    stats = fs.statfsSync(existingParent(config.dataDir));
  } catch (error) {
    return fail(
      title,
      `cannot read free space (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      'check that DATA_DIR is on a mounted disk',
    );
  }
  const free = stats.bavail * stats.bsize;
  const shown = `${(free / 1024 ** 3).toFixed(1)} GiB free`;
  return free >= minFreeBytes
    ? ok(title, `${shown} under ${config.dataDir}`)
    : fail(
        title,
        `only ${shown} under ${config.dataDir}`,
        `free space there or move DATA_DIR (at least ${(minFreeBytes / 1024 ** 3).toFixed(0)} GiB; lower MEDIA_RETENTION_DAYS to keep fewer results)`,
      );
}

/**
 * Opens the database read-only (the bot may be running) and compares the migrations it has with the ones this
 * code ships: pending ones are applied by the next start, but a database from a newer clipbot must not be used.
 */
export function checkDatabase(config: Config): CheckResult {
  const title = 'Database';
  const file = path.join(config.dataDir, 'clipbot.db');
  if (!fs.existsSync(file)) return ok(title, `${file} does not exist yet; it is created at the first start`);
  const known = (JSON.parse(fs.readFileSync(JOURNAL, 'utf8')) as { entries: { when: number; tag: string }[] }).entries;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const hasTable = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
      .get();
    const applied = hasTable
      ? ((db.prepare('SELECT max(created_at) AS last FROM __drizzle_migrations').get() as { last: number | null })
          .last ?? 0)
      : 0;
    const pending = known.filter((m) => m.when > applied);
    const newest = known.at(-1)?.when ?? 0;
    if (applied > newest) {
      return fail(
        title,
        `${file} was migrated by a newer clipbot than this one`,
        'run the newer clipbot, or restore a backup made by this version',
      );
    }
    return ok(
      title,
      `${file} opens; ${pending.length ? `${pending.length} migration(s) to apply at the next start` : 'migrations are current'}`,
    );
  } catch (error) {
    return fail(
      title,
      `${file} cannot be read (${(error as { code?: string }).code ?? (error as Error).message})`,
      'check the file’s permissions, or restore it from a backup (see README, Backups)',
    );
  } finally {
    db?.close();
  }
}

/** The disk DATA_DIR is (or will be) on: the folder itself, or its nearest existing parent. */
function existingParent(dir: string): string {
  let current = dir;
  while (!fs.existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

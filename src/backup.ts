import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError, loadConfig, loadEnvFile } from './config.js';

/**
 * `npm run backup -- <file>`: a consistent copy of the database while the bot runs, through SQLite's online
 * backup API (the bot keeps reading and writing meanwhile; WAL lets them go on). Media files are not in it:
 * local results live under DATA_DIR/media (copy that folder as it is), S3 results in the bucket.
 * Restoring is described in the README (Backups).
 */

export interface BackupResult {
  file: string;
  bytes: number;
  jobs: number;
  ledgerEntries: number;
}

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

export async function backupDatabase(dataDir: string, target: string): Promise<BackupResult> {
  const source = path.join(dataDir, 'clipbot.db');
  if (!fs.existsSync(source)) throw new BackupError(`there is no database at ${source}: check DATA_DIR`);
  const file = path.resolve(target);
  // Never overwrite: the file named may be the only good backup there is.
  if (fs.existsSync(file)) throw new BackupError(`${file} already exists; name a new file`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    // After the first step, copy the rest in one go: a write by the bot between steps restarts the copy, and
    // under steady load many small steps might never finish.
    await db.backup(file, { progress: ({ remainingPages }) => Math.max(remainingPages, 1) });
  } catch (error) {
    fs.rmSync(file, { force: true });
    throw new BackupError(
      `the backup failed (${(error as { code?: string }).code ?? (error as Error).message}); nothing was written`,
    );
  } finally {
    db.close();
  }
  return { file, bytes: fs.statSync(file).size, ...verifyBackup(file) };
}

/** Opens the copy on its own: it must pass SQLite's integrity check, and says what it holds. */
function verifyBackup(file: string): { jobs: number; ledgerEntries: number } {
  const copy = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const check = copy.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new BackupError(`the copy in ${file} fails SQLite's integrity check (${String(check)})`);
    const count = (table: string) => (copy.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { jobs: count('jobs'), ledgerEntries: count('ledger_entries') };
  } finally {
    copy.close();
  }
}

async function main(): Promise<void> {
  const target = process.argv[2];
  if (!target || target.startsWith('-')) {
    process.stderr.write(
      'Usage: npm run backup -- <file>   (for example: npm run backup -- backups/clipbot-$(date +%F).db)\n',
    );
    process.exit(2);
  }
  let dataDir: string;
  try {
    loadEnvFile();
    dataDir = loadConfig().dataDir;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  try {
    const result = await backupDatabase(dataDir, target);
    process.stdout.write(
      `Backed up ${path.join(dataDir, 'clipbot.db')} to ${result.file}: ${result.jobs} jobs, ${result.ledgerEntries} ledger entries, ${Math.ceil(result.bytes / 1024)} KiB.\n`,
    );
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    process.stderr.write(`Backup failed: ${error.message}\n`);
    process.exit(1);
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url))) {
  main().catch((error: unknown) => {
    process.stderr.write(`Backup failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}

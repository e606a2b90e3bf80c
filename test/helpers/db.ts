import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../db/client.js';
import type { Clock } from '../../src/core/ports.js';

/** A clock tests move by hand. */
export function manualClock(start = Date.UTC(2026, 10, 22, 12)): Clock & { advance(ms: number): void; set(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
    set(ms) {
      now = ms;
    },
  };
}

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'clipbot-test-'): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A migrated SQLite database in a temp file (WAL needs a file), closed and removed by cleanup. */
export function tempDb(): { db: Db; file: string; reopen(): Db; cleanup(): void } {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'clipbot.db');
  let db = openDb(file);
  return {
    get db() {
      return db;
    },
    file,
    reopen() {
      db.$client.close();
      db = openDb(file);
      return db;
    },
    cleanup() {
      if (db.$client.open) db.$client.close();
      cleanup();
    },
  };
}

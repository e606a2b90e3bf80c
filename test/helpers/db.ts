import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { asc } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import type { Db } from '../../db/client.js';
import * as schema from '../../db/schema.js';
import type { Clock } from '../../src/core/ports.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';

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

/** A migrated SQLite store in a temp file (WAL needs a file), closed and removed by cleanup. */
export function tempDb(): { readonly store: SqliteStore; file: string; reopen(): Promise<SqliteStore>; cleanup(): Promise<void> } {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'clipbot.db');
  let store = openSqliteStore(file);
  return {
    get store() {
      return store;
    },
    file,
    async reopen() {
      await store.close();
      store = openSqliteStore(file);
      return store;
    },
    async cleanup() {
      await store.close();
      cleanup();
    },
  };
}

/** Reads the database of a bot running on `dataDir` through a second, read-only connection (WAL lets both work). */
export function readBotDb<T>(dataDir: string, read: (db: Db) => T): T {
  const sqlite = new Database(path.join(dataDir, 'clipbot.db'), { readonly: true, fileMustExist: true });
  try {
    return read(drizzle(sqlite, { schema }) as unknown as Db);
  } finally {
    sqlite.close();
  }
}

/** Every job in a bot's data directory, oldest first. */
export function readBotJobs(dataDir: string): schema.Job[] {
  return readBotDb(dataDir, (db) => db.select().from(schema.jobs).orderBy(asc(schema.jobs.createdAt)).all());
}

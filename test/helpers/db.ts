import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { asc } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import type { Db } from '../../db/client.js';
import * as schema from '../../db/schema.js';
import type { Clock } from '../../src/core/ports.js';
import { openTestStore, type TestStore } from './test-store.js';

/** A clock tests move by hand. */
export function manualClock(
  start = Date.UTC(2026, 10, 22, 12),
): Clock & { advance(ms: number): void; set(ms: number): void } {
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

/** A migrated store of the test's own (SQLite in a temp file, or PostgreSQL: see test-store.ts), removed by cleanup. */
export async function tempDb(): Promise<TestStore> {
  const { dir, cleanup } = tempDir();
  const store = await openTestStore(dir);
  return {
    get store() {
      return store.store;
    },
    rows: store.rows,
    reopen: () => store.reopen(),
    async cleanup() {
      await store.cleanup();
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

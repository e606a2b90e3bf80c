import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startCheckpointer } from '../../db/checkpointer.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers/db.js';

/**
 * The bot's SQLite connection leaves WAL checkpoints to a worker thread (db/checkpointer.ts): commits no longer copy
 * pages into the database file on the event loop, and what is committed still reaches it within moments.
 */
describe('WAL checkpoints on a thread of their own', () => {
  const dirs: (() => void)[] = [];
  let store: SqliteStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
    for (const cleanup of dirs.splice(0)) cleanup();
  });

  function freshFile(): string {
    const { dir, cleanup } = tempDir('clipbot-checkpoint-');
    dirs.push(cleanup);
    return path.join(dir, 'clipbot.db');
  }

  it("moves committed pages into the database file while the bot's connection only commits", async () => {
    const file = freshFile();
    store = openSqliteStore(file);
    const sqlite = store.drizzle.$client;
    // The bot's own connection would checkpoint only past 10,000 pages (40 MB): far more than this test writes.
    expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
    sqlite.exec('create table scratch (body blob)');
    const insert = sqlite.prepare('insert into scratch (body) values (?)');
    const before = fs.statSync(file).size;
    // 2,000 pages, one transaction each, as intake commits them.
    for (let i = 0; i < 2000; i++) insert.run(Buffer.alloc(4000, i % 251));

    await vi.waitFor(() => expect(fs.statSync(file).size - before).toBeGreaterThanOrEqual(2000 * 4000), {
      timeout: 10_000,
    });
  });

  it('closes once the thread has closed its connection too: the WAL files are gone and the directory may go', async () => {
    const file = freshFile();
    store = openSqliteStore(file);
    store.drizzle.$client.exec('create table scratch (body blob); insert into scratch values (zeroblob(4000))');
    // The thread's connection is open once it has checkpointed what was committed.
    await vi.waitFor(() => expect(fs.statSync(file).size).toBeGreaterThan(4000 * 2), { timeout: 10_000 });
    await store.close();
    expect(fs.readdirSync(path.dirname(file))).toEqual(['clipbot.db']);
  });

  it('reports a thread that cannot work, so the caller can checkpoint on its own again', async () => {
    const missing = path.join(path.dirname(freshFile()), 'never-created.db');
    const failure = await new Promise<Error>((resolve) => startCheckpointer(missing, { onFailure: resolve }));
    expect(failure.message).toMatch(/unable to open database file \(SQLITE_CANTOPEN\)/);
  });

  it('keeps no thread for an in-memory database, which has no WAL', async () => {
    store = openSqliteStore(':memory:');
    expect(store.drizzle.$client.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });
});

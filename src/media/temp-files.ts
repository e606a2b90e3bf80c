import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { MediaError } from '../core/errors.js';

// Starts with a letter or digit, so "..", ".tmp" and hidden files can never be named.
const TEMP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * A fresh path in `dir` for a download to land in. Unique per call: two downloads asking for the same
 * name must never share a file. `name` is one plain file name, never a path.
 */
export function createTempPath(dir: string, name: string): string {
  if (!TEMP_NAME.test(name))
    throw new MediaError('storage', `invalid temp file name ${JSON.stringify(name.slice(0, 80))}`);
  mkdirSync(dir, { recursive: true });
  return path.join(dir, `${randomUUID()}-${name}`);
}

/** Deletes files in `dir` older than `maxAgeMs` (left behind by a crash mid-download). Returns how many. */
export async function removeStaleFiles(dir: string, maxAgeMs: number, now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info?.isFile() && now - info.mtimeMs > maxAgeMs) {
      await rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}

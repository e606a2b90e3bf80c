import { randomUUID } from 'node:crypto';
import type { ReadStream } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { MediaError } from '../core/errors.js';
import type { MediaStore, StoredMedia } from '../core/ports.js';
import { createTempPath, removeStaleFiles } from './temp-files.js';

export interface LocalMediaStoreOptions {
  /** DATA_DIR/media. Created when missing. */
  dir: string;
  /**
   * Base of public URLs, without the `/media` suffix (e.g. PUBLIC_URL, or http://127.0.0.1:<port>).
   * A function is read on every `url()` call, so it may return a port the HTTP server only learns after
   * binding; a string is fixed.
   */
  publicBaseUrl: string | (() => string);
}

export interface LocalMediaStore extends MediaStore {
  readonly dir: string;
  /** Deletes temp files older than `maxAgeMs` (left behind by a crash mid-download). Returns how many. */
  removeStaleTemp(maxAgeMs: number, now?: number): Promise<number>;
}

const TEMP_DIR = '.tmp';
// Segments start with a letter or digit, so "..", ".tmp" and hidden files can never be named.
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_KEY_LENGTH = 256;
const MAX_DEPTH = 4;
// Uploads pass every chunk through several async layers (grammY's multipart generators, node-fetch): 1 MiB
// chunks instead of 64 KiB make a large upload about 1.5–2× faster.
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * True for a key this store accepts: 1–4 `/`-separated segments of `[A-Za-z0-9._-]` each starting with a
 * letter or digit (e.g. `results/01J….mp4`). The HTTP server uses the same rule for `/media/*` paths.
 */
export function isValidMediaKey(key: string): boolean {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) return false;
  const segments = key.split('/');
  return segments.length <= MAX_DEPTH && segments.every((s) => SEGMENT.test(s));
}

/** Media on this machine's disk, served by our own `/media/*` route. */
export function createLocalMediaStore(options: LocalMediaStoreOptions): LocalMediaStore {
  const dir = path.resolve(options.dir);
  const tempDir = path.join(dir, TEMP_DIR);
  const baseUrl =
    typeof options.publicBaseUrl === 'function' ? options.publicBaseUrl : () => options.publicBaseUrl as string;

  const fileOf = (key: string): string => {
    if (!isValidMediaKey(key)) throw new MediaError('storage', `invalid media key ${JSON.stringify(key.slice(0, 80))}`);
    return path.join(dir, ...key.split('/'));
  };

  const url = (key: string): string => {
    fileOf(key);
    return `${baseUrl().replace(/\/+$/, '')}/media/${key}`;
  };

  return {
    dir,

    async putFile(key: string, tempPath: string, contentType: string): Promise<StoredMedia> {
      try {
        const target = fileOf(key);
        await mkdir(path.dirname(target), { recursive: true });
        await moveInto(tempPath, target, tempDir);
        const { size } = await stat(target);
        return { key, bytes: size, contentType, url: url(key) };
      } catch (error) {
        // The store owns tempPath from here on, success or not.
        await rm(tempPath, { force: true });
        throw error instanceof MediaError
          ? error
          : new MediaError('storage', `could not store ${key}`, { cause: error });
      }
    },

    async openRead(key: string): Promise<ReadStream> {
      const file = fileOf(key);
      try {
        // Opened first so a missing key fails here rather than as a stream error later.
        const handle = await open(file, 'r');
        if (!(await handle.stat()).isFile()) {
          await handle.close();
          throw new Error('not a file');
        }
        return handle.createReadStream({ highWaterMark: READ_CHUNK_BYTES });
      } catch (error) {
        throw new MediaError('storage', `no stored media for ${key}`, { cause: error });
      }
    },

    localPath: (key: string): string => fileOf(key),

    url,

    tempPath: (name: string): string => createTempPath(tempDir, name),

    async remove(key: string): Promise<void> {
      await rm(fileOf(key), { force: true });
    },

    removeStaleTemp: (maxAgeMs: number, now?: number): Promise<number> => removeStaleFiles(tempDir, maxAgeMs, now),
  };
}

/** Atomic for readers: the target is either absent, the old file, or the whole new one. */
async function moveInto(source: string, target: string, tempDir: string): Promise<void> {
  try {
    await rename(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    // A temp file from another file system: copy into ours first, then rename.
    await mkdir(tempDir, { recursive: true });
    const staging = path.join(tempDir, `${randomUUID()}.part`);
    try {
      await copyFile(source, staging);
      await rename(staging, target);
    } finally {
      await rm(staging, { force: true });
    }
    await rm(source, { force: true });
  }
}

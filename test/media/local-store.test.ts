import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaError } from '../../src/core/errors.js';
import { createLocalMediaStore, isValidMediaKey, type LocalMediaStore } from '../../src/media/local-store.js';

describe('createLocalMediaStore', () => {
  let dir: string;
  let store: LocalMediaStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'clipbot-store-'));
    store = createLocalMediaStore({ dir: path.join(dir, 'media'), publicBaseUrl: 'https://bot.example/' });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const tempWith = async (content: string, name = 'download.mp4'): Promise<string> => {
    const temp = store.tempPath(name);
    await writeFile(temp, content);
    return temp;
  };

  describe('when a file is put', () => {
    it('moves the temp file into place and describes it', async () => {
      const temp = await tempWith('video bytes');
      const stored = await store.putFile('results/job-1.mp4', temp, 'video/mp4');
      expect(stored).toEqual({
        key: 'results/job-1.mp4',
        bytes: 11,
        contentType: 'video/mp4',
        url: 'https://bot.example/media/results/job-1.mp4',
      });
      expect(existsSync(temp)).toBe(false);
      expect(await readFile(path.join(dir, 'media', 'results', 'job-1.mp4'), 'utf8')).toBe('video bytes');
    });

    it('replaces an existing file with the same key whole', async () => {
      await store.putFile('results/job-1.mp4', await tempWith('old'), 'video/mp4');
      await store.putFile('results/job-1.mp4', await tempWith('new content'), 'video/mp4');
      expect(await readFile(store.localPath('results/job-1.mp4')!, 'utf8')).toBe('new content');
    });

    it('removes the temp file and throws a storage error when the temp file is missing', async () => {
      const error = await store
        .putFile('results/job-2.mp4', path.join(dir, 'nope'), 'video/mp4')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaError);
      expect((error as MediaError).kind).toBe('storage');
    });
  });

  describe('when it is read back', () => {
    it('opens the stored bytes', async () => {
      await store.putFile('inputs/job-1-0.png', await tempWith('png bytes', 'in.png'), 'image/png');
      expect(await text(await store.openRead('inputs/job-1-0.png'))).toBe('png bytes');
    });

    it('gives the local path under the store directory', async () => {
      expect(store.localPath('results/job-1.mp4')).toBe(path.join(dir, 'media', 'results', 'job-1.mp4'));
    });

    it('fails with a storage error for a missing key', async () => {
      const error = await store.openRead('results/missing.mp4').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaError);
      expect((error as MediaError).kind).toBe('storage');
    });
  });

  describe('when a file is removed', () => {
    it('is gone, and removing it again is not an error', async () => {
      await store.putFile('results/job-1.mp4', await tempWith('x'), 'video/mp4');
      await store.remove('results/job-1.mp4');
      expect(existsSync(store.localPath('results/job-1.mp4')!)).toBe(false);
      await expect(store.remove('results/job-1.mp4')).resolves.toBeUndefined();
    });
  });

  describe('when the public base URL is only known later', () => {
    it('reads it on every call', async () => {
      let base = 'http://127.0.0.1:0';
      const late = createLocalMediaStore({ dir: path.join(dir, 'media'), publicBaseUrl: () => base });
      base = 'http://127.0.0.1:43210';
      expect(late.url('results/job-1.mp4')).toBe('http://127.0.0.1:43210/media/results/job-1.mp4');
    });
  });

  describe('when temp paths are handed out', () => {
    it('puts them in the .tmp directory on the same file system, unique per call', () => {
      const a = store.tempPath('download.mp4');
      const b = store.tempPath('download.mp4');
      expect(path.dirname(a)).toBe(path.join(dir, 'media', '.tmp'));
      expect(a).not.toBe(b);
      expect(a.endsWith('-download.mp4')).toBe(true);
    });

    it('refuses a name that is a path', () => {
      expect(() => store.tempPath('../escape')).toThrow(MediaError);
      expect(() => store.tempPath('a/b')).toThrow(MediaError);
    });

    it('sweeps stale ones and keeps fresh ones', async () => {
      const stale = await tempWith('old');
      const fresh = await tempWith('new');
      const hourAgo = new Date(Date.now() - 3_600_000);
      await utimes(stale, hourAgo, hourAgo);
      expect(await store.removeStaleTemp(60_000)).toBe(1);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(fresh)).toBe(true);
    });
  });

  describe('when a key is unsafe', () => {
    it.each([
      ['../clipbot.db'],
      ['results/../../clipbot.db'],
      ['/etc/passwd'],
      ['results//x.mp4'],
      ['results/'],
      [''],
      ['.tmp/x.mp4'],
      ['results/.hidden'],
      ['results\\x.mp4'],
      ['results/x y.mp4'],
      ['results/x%2e.mp4'],
      ['results/x\u0000.mp4'],
      ['résultats/x.mp4'],
      ['a/b/c/d/e.mp4'],
      [`results/${'x'.repeat(200)}.mp4`],
    ])('refuses %j everywhere', async (key) => {
      expect(isValidMediaKey(key)).toBe(false);
      expect(() => store.url(key)).toThrow(MediaError);
      expect(() => store.localPath(key)).toThrow(MediaError);
      await expect(store.openRead(key)).rejects.toThrow(MediaError);
      await expect(store.remove(key)).rejects.toThrow(MediaError);
      const temp = await tempWith('x');
      await expect(store.putFile(key, temp, 'video/mp4')).rejects.toThrow(MediaError);
    });

    it('writes nothing outside its directory', async () => {
      await store.putFile('../escape.mp4', await tempWith('x'), 'video/mp4').catch(() => undefined);
      expect(await readdir(dir)).toEqual(['media']);
      expect((await stat(path.join(dir, 'media'))).isDirectory()).toBe(true);
    });
  });

  describe('when a key is ordinary', () => {
    it.each([
      ['results/01J9Z7K3QX.mp4'],
      ['inputs/job_1-0.png'],
      ['results/3f2a9c1e-2b1d-4c8e-9f00-aa11bb22cc33.webm'],
      ['x.gif'],
    ])('accepts %j', (key) => {
      expect(isValidMediaKey(key)).toBe(true);
    });
  });
});

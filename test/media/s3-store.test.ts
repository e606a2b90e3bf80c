import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaError } from '../../src/core/errors.js';
import { createS3MediaStore, type S3MediaStore, type S3MediaStoreOptions } from '../../src/media/s3-store.js';
import { SIM_ASSETS } from '../../src/sim/assets.js';
import { S3RVER_ACCESS_KEY_ID, startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { startServer } from './fixtures.js';

const BUCKET = 'clipbot-media';
const SECRET = 'sEcReT-never-in-errors-4f9a2c';
const MIB = 1024 * 1024;
const SAMPLE = fileURLToPath(SIM_ASSETS.video480p);

describe('createS3MediaStore', () => {
  let s3: TestS3Server;
  let dir: string;
  let stores: S3MediaStore[];
  let store: S3MediaStore;

  const makeStore = (overrides: Partial<S3MediaStoreOptions> = {}): S3MediaStore => {
    const created = createS3MediaStore({
      endpoint: s3.endpoint,
      bucket: BUCKET,
      region: 'us-east-1',
      accessKeyId: S3RVER_ACCESS_KEY_ID,
      secretAccessKey: SECRET,
      publicUrl: `${s3.endpoint}/${BUCKET}/`,
      tempDir: path.join(dir, 'tmp'),
      forcePathStyle: true,
      ...overrides,
    });
    stores.push(created);
    return created;
  };

  const tempWith = async (target: S3MediaStore, content: Buffer | string): Promise<string> => {
    const temp = target.tempPath('download.mp4');
    await writeFile(temp, content);
    return temp;
  };

  const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

  /** Optional checksum headers, which several S3-compatible services reject. */
  const checksumHeadersSent = (): string[] =>
    s3.headers.flatMap((h) =>
      Object.keys(h).filter((name) => name.startsWith('x-amz-checksum') || name.startsWith('x-amz-sdk-checksum')),
    );

  beforeEach(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await mkdtemp(path.join(tmpdir(), 'clipbot-s3-store-'));
    stores = [];
    store = makeStore();
  });

  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await s3.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('when a video is put', () => {
    it('uploads it, removes the temp file and describes it', async () => {
      const temp = store.tempPath('download.mp4');
      await copyFile(SAMPLE, temp);
      const stored = await store.putFile('results/job-1.mp4', temp, 'video/mp4');
      expect(stored).toEqual({
        key: 'results/job-1.mp4',
        bytes: (await stat(SAMPLE)).size,
        contentType: 'video/mp4',
        url: `${s3.endpoint}/${BUCKET}/results/job-1.mp4`,
      });
      expect(existsSync(temp)).toBe(false);
    });

    it('reads it back byte for byte', async () => {
      const temp = store.tempPath('download.mp4');
      await copyFile(SAMPLE, temp);
      await store.putFile('results/job-1.mp4', temp, 'video/mp4');
      expect((await buffer(await store.openRead('results/job-1.mp4'))).equals(await readFile(SAMPLE))).toBe(true);
    });

    it('is served at its public URL with its content type', async () => {
      const temp = store.tempPath('download.mp4');
      await copyFile(SAMPLE, temp);
      const stored = await store.putFile('results/job-1.mp4', temp, 'video/mp4');
      const res = await fetch(stored.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('video/mp4');
      expect(Buffer.from(await res.arrayBuffer()).equals(await readFile(SAMPLE))).toBe(true);
    });

    it('replaces an object stored under the same key', async () => {
      await store.putFile('inputs/job-1.png', await tempWith(store, 'old'), 'image/png');
      await store.putFile('inputs/job-1.png', await tempWith(store, 'new content'), 'image/png');
      expect((await buffer(await store.openRead('inputs/job-1.png'))).toString()).toBe('new content');
    });
  });

  describe('when the file is larger than one part', () => {
    it('uploads it in parts and it arrives intact', async () => {
      const multipart = makeStore({ partSizeBytes: 5 * MIB });
      const content = randomBytes(12 * MIB);
      const stored = await multipart.putFile('results/big.mp4', await tempWith(multipart, content), 'video/mp4');
      expect(stored.bytes).toBe(12 * MIB);
      const parts = s3.requests.filter((r) => r.startsWith('PUT ') && r.includes('partNumber='));
      expect(parts).toHaveLength(3);
      expect(s3.requests.filter((r) => r.startsWith('POST ') && r.includes('uploadId='))).toHaveLength(1);
      expect(sha256(await buffer(await multipart.openRead('results/big.mp4')))).toBe(sha256(content));
    });

    it('sends no optional checksum headers with the parts', async () => {
      const multipart = makeStore({ partSizeBytes: 5 * MIB });
      await multipart.putFile('results/big.mp4', await tempWith(multipart, randomBytes(6 * MIB)), 'video/mp4');
      expect(s3.requests.filter((r) => r.includes('partNumber='))).toHaveLength(2);
      expect(checksumHeadersSent()).toEqual([]);
    });
  });

  describe('when the public URL is a CDN', () => {
    it('joins the base and the key, with or without a trailing slash', () => {
      expect(makeStore({ publicUrl: 'https://cdn.example/clips' }).url('results/job-1.mp4')).toBe(
        'https://cdn.example/clips/results/job-1.mp4',
      );
      expect(makeStore({ publicUrl: 'https://cdn.example/clips//' }).url('results/job-1.mp4')).toBe(
        'https://cdn.example/clips/results/job-1.mp4',
      );
    });
  });

  describe('when asked for a local path', () => {
    it('has none, since nothing is kept on this disk', () => {
      expect(store.localPath('results/job-1.mp4')).toBeUndefined();
    });
  });

  describe('when a stored file is removed', () => {
    it('is gone, and removing it again is not an error', async () => {
      await store.putFile('results/job-1.mp4', await tempWith(store, 'x'), 'video/mp4');
      await store.remove('results/job-1.mp4');
      await expect(store.openRead('results/job-1.mp4')).rejects.toThrow(/no stored media for results\/job-1\.mp4/);
      await expect(store.remove('results/job-1.mp4')).resolves.toBeUndefined();
    });
  });

  describe('when a key was never stored', () => {
    it('fails to open it with a storage error', async () => {
      const error = await store.openRead('results/missing.mp4').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaError);
      expect((error as MediaError).kind).toBe('storage');
    });
  });

  describe('when the bucket does not exist', () => {
    it('removes the temp file and throws a storage error that names the cause but not the secret key', async () => {
      const missing = makeStore({ bucket: 'no-such-bucket' });
      const temp = store.tempPath('download.mp4');
      await copyFile(SAMPLE, temp);
      const error = await missing.putFile('results/job-1.mp4', temp, 'video/mp4').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaError);
      expect((error as MediaError).kind).toBe('storage');
      expect((error as MediaError).message).toBe('could not store results/job-1.mp4 (NoSuchBucket, HTTP 404)');
      expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
      expect(existsSync(temp)).toBe(false);
    });

    it('removes the temp file of a multi-part upload too', async () => {
      const missing = makeStore({ bucket: 'no-such-bucket', partSizeBytes: 5 * MIB });
      const temp = await tempWith(missing, randomBytes(11 * MIB));
      await expect(missing.putFile('results/big.mp4', temp, 'video/mp4')).rejects.toThrow(MediaError);
      expect(existsSync(temp)).toBe(false);
    });
  });

  describe('when the service is unreachable', () => {
    it('removes the temp file and throws a storage error', async () => {
      const gone = await startServer((_req, res) => res.end());
      await gone.close();
      const unreachable = makeStore({ endpoint: gone.origin });
      const temp = await tempWith(unreachable, 'x');
      const error = await unreachable.putFile('results/job-1.mp4', temp, 'video/mp4').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaError);
      expect((error as MediaError).message).toBe('could not store results/job-1.mp4 (ECONNREFUSED)');
      expect(existsSync(temp)).toBe(false);
    });
  });

  describe('when the temp file is missing', () => {
    it('throws a storage error', async () => {
      const error = await store
        .putFile('results/job-1.mp4', path.join(dir, 'nope'), 'video/mp4')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaError);
      expect((error as MediaError).kind).toBe('storage');
    });
  });

  describe('when the environment carries AWS settings', () => {
    const names = [
      'AWS_DEFAULTS_MODE',
      'AWS_EC2_METADATA_SERVICE_ENDPOINT',
      'AWS_ENDPOINT_URL',
      'AWS_ENDPOINT_URL_S3',
      'AWS_USE_FIPS_ENDPOINT',
      'AWS_REQUEST_CHECKSUM_CALCULATION',
      'AWS_RESPONSE_CHECKSUM_VALIDATION',
    ] as const;
    let saved: Partial<Record<(typeof names)[number], string>>;

    beforeEach(() => {
      saved = {};
      for (const name of names) if (process.env[name] !== undefined) saved[name] = process.env[name];
    });

    afterEach(() => {
      for (const name of names) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    });

    it('still talks to the configured endpoint only, never to instance metadata, and sends no optional checksums', async () => {
      // A loopback trap stands in for both the metadata service and any endpoint the environment names.
      const trap = await startServer((_req, res) => res.writeHead(404).end());
      try {
        Object.assign(process.env, {
          AWS_DEFAULTS_MODE: 'auto',
          AWS_EC2_METADATA_SERVICE_ENDPOINT: trap.origin,
          AWS_ENDPOINT_URL: trap.origin,
          AWS_ENDPOINT_URL_S3: trap.origin,
          AWS_USE_FIPS_ENDPOINT: 'true',
          AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_SUPPORTED',
          AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_SUPPORTED',
        });
        const pinned = makeStore();
        await pinned.putFile('results/job-1.mp4', await tempWith(pinned, 'x'), 'video/mp4');
        expect((await buffer(await pinned.openRead('results/job-1.mp4'))).toString()).toBe('x');
        await pinned.remove('results/job-1.mp4');
        expect(trap.requests).toEqual([]);
        expect(s3.requests.length).toBeGreaterThanOrEqual(3);
        expect(checksumHeadersSent()).toEqual([]);
      } finally {
        await trap.close();
      }
    });
  });

  describe('when temp paths are handed out', () => {
    it('puts them in the temp directory, unique per call', () => {
      const a = store.tempPath('download.mp4');
      const b = store.tempPath('download.mp4');
      expect(path.dirname(a)).toBe(path.join(dir, 'tmp'));
      expect(a).not.toBe(b);
      expect(a.endsWith('-download.mp4')).toBe(true);
    });

    it('refuses a name that is a path', () => {
      expect(() => store.tempPath('../escape')).toThrow(MediaError);
      expect(() => store.tempPath('a/b')).toThrow(MediaError);
    });

    it('sweeps stale ones and keeps fresh ones', async () => {
      const stale = await tempWith(store, 'old');
      const fresh = await tempWith(store, 'new');
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
      ['results/../../x.mp4'],
      ['/etc/passwd'],
      ['results//x.mp4'],
      [''],
      ['.tmp/x.mp4'],
      ['results/x y.mp4'],
      ['a/b/c/d/e.mp4'],
    ])('refuses %j everywhere without contacting the service', async (key) => {
      expect(() => store.url(key)).toThrow(MediaError);
      expect(() => store.localPath(key)).toThrow(MediaError);
      await expect(store.openRead(key)).rejects.toThrow(MediaError);
      await expect(store.remove(key)).rejects.toThrow(MediaError);
      const temp = await tempWith(store, 'x');
      await expect(store.putFile(key, temp, 'video/mp4')).rejects.toThrow(MediaError);
      expect(existsSync(temp)).toBe(false);
      expect(s3.requests).toEqual([]);
    });
  });
});

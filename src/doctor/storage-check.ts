import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { s3StoreFromConfig } from '../media/store-from-config.js';
import type { Logger } from '../core/ports.js';
import { fail, ok, type CheckResult } from './check.js';
import { probe, ProbeError } from './probe.js';

/**
 * With STORAGE=s3: the path every result takes, on a small file. Write it with the bot's own S3 store, read it
 * back through S3_PUBLIC_URL (what members' links use), delete it.
 */
export async function checkS3(config: Config, logger: Logger): Promise<CheckResult> {
  const title = 'Storage';
  if (config.STORAGE !== 's3') return ok(title, `local, under ${path.join(config.dataDir, 'media')}`);
  const store = s3StoreFromConfig(config, logger);
  const nonce = randomBytes(8).toString('hex');
  const key = `clipbot-doctor/${nonce}.txt`;
  const body = `clipbot doctor ${nonce}\n`;
  const where = `bucket ${config.S3_BUCKET}`;
  try {
    const temp = store.tempPath(`doctor-${nonce}.txt`);
    await fs.mkdir(path.dirname(temp), { recursive: true });
    await fs.writeFile(temp, body);
    try {
      await store.putFile(key, temp, 'text/plain');
    } catch (error) {
      await fs.rm(temp, { force: true });
      return fail(
        title,
        `cannot write to ${where} (${(error as Error).message})`,
        'give S3_ACCESS_KEY_ID write (PutObject, DeleteObject) access to the bucket, and check S3_ENDPOINT, S3_BUCKET and S3_REGION',
      );
    }
    let readBack: string;
    try {
      const answer = await probe(store.url(key));
      readBack = answer.status === 200 ? answer.text : `HTTP ${answer.status}`;
    } catch (error) {
      readBack = error instanceof ProbeError ? error.message : String(error);
    }
    try {
      await store.remove(key);
    } catch (error) {
      return fail(
        title,
        `wrote to ${where} but cannot delete (${(error as Error).message})`,
        'allow DeleteObject: expired results are deleted after MEDIA_RETENTION_DAYS',
      );
    }
    if (readBack !== body) {
      return fail(
        title,
        `wrote to ${where}, but S3_PUBLIC_URL does not serve it (${readBack.startsWith('HTTP ') || (readBack.length > 0 && readBack.length < 80 && !readBack.includes('\n')) ? readBack : 'different content'})`,
        'make the bucket (or its CDN) publicly readable and set S3_PUBLIC_URL to the address a key is served under',
      );
    }
    return ok(title, `S3 ${where}: write, public read through S3_PUBLIC_URL and delete work`);
  } finally {
    await store.close();
  }
}

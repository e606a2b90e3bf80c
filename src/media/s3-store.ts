import { createReadStream, type ReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MediaError } from '../core/errors.js';
import type { Logger, MediaStore, StoredMedia } from '../core/ports.js';
import { isValidMediaKey } from './local-store.js';
import { createTempPath, removeStaleFiles } from './temp-files.js';

export interface S3MediaStoreOptions {
  /** S3_ENDPOINT: the API origin (AWS regional endpoint, R2 account endpoint, OSS, MinIO). Never guessed. */
  endpoint: string;
  bucket: string;
  /** S3_REGION: what requests are signed for (`auto` for R2, `us-east-1` for most self-hosted services). */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** S3_PUBLIC_URL: public base of the bucket (CDN, R2 public URL, or endpoint/bucket); a key is served at `<publicUrl>/<key>`. */
  publicUrl: string;
  /** A local directory where downloads land before they are uploaded. Created when missing. */
  tempDir: string;
  /** Address the bucket as `endpoint/bucket/key` (MinIO and most self-hosted services) rather than `bucket.endpoint/key`. */
  forcePathStyle?: boolean;
  /**
   * Multipart part size. Each part in flight is held in memory once, so an upload holds about
   * (queueSize + 1) × partSizeBytes whatever the file size. Default 8 MiB; S3 refuses parts under 5 MiB.
   */
  partSizeBytes?: number;
  /** Parts uploaded at once. Default 2. */
  queueSize?: number;
  logger?: Logger;
}

export interface S3MediaStore extends MediaStore {
  readonly bucket: string;
  readonly tempDir: string;
  /** Never on this disk: delivery reads through `openRead`. */
  localPath(key: string): undefined;
  /** Deletes temp files older than `maxAgeMs` (left behind by a crash mid-download). Returns how many. */
  removeStaleTemp(maxAgeMs: number, now?: number): Promise<number>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

const MIB = 1024 * 1024;
const DEFAULT_PART_SIZE = 8 * MIB;
const DEFAULT_QUEUE_SIZE = 2;

/** Media in an S3-compatible bucket, served from its public base URL (design §2 step 7). */
export function createS3MediaStore(options: S3MediaStoreOptions): S3MediaStore {
  const { bucket, logger } = options;
  const tempDir = path.resolve(options.tempDir);
  const publicBase = options.publicUrl.replace(/\/+$/, '');
  const partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE;
  const queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
  const secrets = [options.secretAccessKey, options.accessKeyId];

  // Everything the SDK would otherwise resolve from the environment, ~/.aws or the network is pinned here,
  // so the only host it ever contacts is `endpoint`.
  const client = new S3Client({
    endpoint: options.endpoint,
    region: options.region,
    forcePathStyle: options.forcePathStyle ?? false,
    // Static keys: the default credential chain would probe instance metadata (169.254.169.254).
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    // AWS_DEFAULTS_MODE=auto (env or ~/.aws/config) queries instance metadata to infer the region whenever
    // a setting falls back to the defaults mode: the retry mode and the request handler are the ones that do.
    defaultsMode: 'legacy',
    retryMode: 'standard',
    maxAttempts: 3,
    // Either flag, if set in an operator's AWS config, makes the SDK reject a custom endpoint.
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    // A bucket named like an S3 Express directory bucket (`…--x-s3`) would trigger CreateSession calls.
    disableS3ExpressSessionAuth: true,
    // Since 3.729 the SDK adds CRC32 checksum headers to every upload and asks for checksums on every
    // download. Several S3-compatible services (Backblaze B2, UpCloud and others) reject those
    // headers; AWS itself does not need them. Only send them where an operation requires one.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // No socket timeout by default: a stalled connection would hang a job forever. Generous, since a
    // platform upload reading from `openRead` applies backpressure and leaves the socket idle meanwhile.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
  });

  const checkKey = (key: string): void => {
    if (!isValidMediaKey(key)) throw new MediaError('storage', `invalid media key ${JSON.stringify(key.slice(0, 80))}`);
  };

  const url = (key: string): string => {
    checkKey(key);
    return `${publicBase}/${key}`;
  };

  return {
    bucket,
    tempDir,

    async putFile(key: string, tempPath: string, contentType: string): Promise<StoredMedia> {
      const started = Date.now();
      let body: ReadStream | undefined;
      try {
        checkKey(key);
        const { size } = await stat(tempPath);
        body = createReadStream(tempPath);
        // Upload reads the stream part by part, so memory is bounded by the part size, not the file size;
        // a failed multipart upload is aborted so no orphaned parts are billed.
        await new Upload({
          client,
          params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType, ContentLength: size },
          partSize,
          queueSize,
          leavePartsOnError: false,
        }).done();
        logger?.debug({ key, bytes: size, ms: Date.now() - started }, 'media stored in S3');
        return { key, bytes: size, contentType, url: url(key) };
      } catch (error) {
        throw toStorageError(error, `could not store ${key}`, secrets);
      } finally {
        body?.destroy();
        // The store owns tempPath from here on, success or not.
        await rm(tempPath, { force: true });
      }
    },

    async openRead(key: string): Promise<Readable> {
      checkKey(key);
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!(res.Body instanceof Readable)) throw new Error('the response has no body stream');
        return res.Body;
      } catch (error) {
        if (error instanceof NoSuchKey)
          throw new MediaError('storage', `no stored media for ${key}`, { cause: sanitizedCause(error, secrets) });
        throw toStorageError(error, `could not read ${key}`, secrets);
      }
    },

    localPath(key: string): undefined {
      checkKey(key);
      return undefined;
    },

    url,

    tempPath: (name: string): string => createTempPath(tempDir, name),

    async remove(key: string): Promise<void> {
      checkKey(key);
      try {
        // S3 answers 204 for a key that is already gone, so removing twice is not an error.
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      } catch (error) {
        throw toStorageError(error, `could not remove ${key}`, secrets);
      }
    },

    removeStaleTemp: (maxAgeMs: number, now?: number): Promise<number> => removeStaleFiles(tempDir, maxAgeMs, now),

    async close(): Promise<void> {
      client.destroy();
    },
  };
}

/**
 * A MediaError whose message says what failed and the service's error code only. The SDK's own error
 * (which carries request metadata) is replaced by a plain one with any key material cut out, so logging
 * the error chain can never print credentials.
 */
function toStorageError(error: unknown, what: string, secrets: readonly string[]): MediaError {
  if (error instanceof MediaError) return error;
  return new MediaError('storage', `${what} (${reasonOf(error)})`, { cause: sanitizedCause(error, secrets) });
}

function reasonOf(error: unknown): string {
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode;
    return status ? `${error.name}, HTTP ${status}` : error.name;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  if (error instanceof Error && error.name !== 'Error') return error.name;
  return 'unexpected error';
}

function sanitizedCause(error: unknown, secrets: readonly string[]): Error {
  const name = error instanceof Error ? error.name : 'Error';
  let text = error instanceof Error ? error.message : String(error);
  if (error instanceof S3ServiceException && error.$metadata.requestId)
    text += ` (request id ${error.$metadata.requestId})`;
  for (const secret of secrets) {
    if (secret.length >= 4) text = text.split(secret).join('[redacted]');
  }
  const cause = new Error(text);
  cause.name = name;
  return cause;
}

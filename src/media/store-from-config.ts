import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../core/ports.js';
import { createS3MediaStore, type S3MediaStore } from './s3-store.js';

/** The S3 store the settings describe (STORAGE=s3; config.ts has checked that every S3_* it needs is set). */
export function s3StoreFromConfig(config: Config, logger: Logger): S3MediaStore {
  return createS3MediaStore({
    endpoint: config.S3_ENDPOINT!,
    bucket: config.S3_BUCKET!,
    region: config.S3_REGION,
    accessKeyId: config.S3_ACCESS_KEY_ID!,
    secretAccessKey: config.S3_SECRET_ACCESS_KEY!,
    publicUrl: config.S3_PUBLIC_URL!,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    tempDir: path.join(config.dataDir, 'tmp'),
    logger,
  });
}

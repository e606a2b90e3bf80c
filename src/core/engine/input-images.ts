import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { MediaError, UserError } from '../errors.js';
import type { Logger, MediaFetcher, MediaStore } from '../ports.js';
import type { VideoRequest } from './intake.js';

/**
 * A job's input image: re-hosted in our store at intake (never passed on as the member gave it), and handed to the
 * provider at submit as our URL, or inline when the provider cannot reach us.
 */

export interface InputImagesDeps {
  store: MediaStore;
  fetcher: MediaFetcher;
  logger: Logger;
  maxInputImageBytes: number;
  /** Can a provider fetch our media URLs? If not, input images are sent inline as data URIs. */
  mediaIsPublic: boolean;
  /** Shutdown: aborts downloads in flight. */
  signal: AbortSignal;
}

export class InputImages {
  constructor(private readonly deps: InputImagesDeps) {}

  /** Stores the request's image (if any) as `inputs/<job id>.<ext>` and returns its key. */
  async store(jobId: string, request: VideoRequest): Promise<string | undefined> {
    if (request.imageUrl) return this.fetchInputImage(jobId, request.imageUrl);
    if (request.sourceImageKey) return this.copyStoredImage(jobId, request.sourceImageKey);
    if (request.fetchImage) {
      const { path, contentType, ext } = await request.fetchImage(this.deps.signal);
      return (await this.deps.store.putFile(`inputs/${jobId}.${ext}`, path, contentType)).key;
    }
    return undefined;
  }

  /** What the provider receives for a stored input image. */
  async providerImageUrl(key: string): Promise<string> {
    if (this.deps.mediaIsPublic) return this.deps.store.url(key);
    // Without a public URL the provider cannot reach our media route; send the bytes inline instead.
    const stream = await this.deps.store.openRead(key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const type = key.endsWith('.png') ? 'image/png' : key.endsWith('.webp') ? 'image/webp' : key.endsWith('.gif') ? 'image/gif' : 'image/jpeg';
    return `data:${type};base64,${Buffer.concat(chunks).toString('base64')}`;
  }

  private async fetchInputImage(jobId: string, url: string): Promise<string> {
    const temp = this.deps.store.tempPath(`${jobId}-input.part`);
    try {
      const got = await this.deps.fetcher.fetchToFile(url, temp, {
        kind: 'image',
        maxBytes: this.deps.maxInputImageBytes,
        trust: 'member',
        signal: this.deps.signal,
      });
      const stored = await this.deps.store.putFile(`inputs/${jobId}.${got.ext}`, temp, got.contentType);
      return stored.key;
    } catch (error) {
      await fs.rm(temp, { force: true });
      // What the member is not told (where a name resolved) is the owner's to read.
      if (error instanceof MediaError && error.detail) this.deps.logger.info({ jobId, reason: error.detail }, 'member image address refused');
      // Our storage failing is not the member's image's fault: that one goes up as our error, with a ref.
      if (error instanceof MediaError && error.kind !== 'storage') throw new UserError('bad_image', `The image could not be used: ${error.message}`);
      throw error;
    }
  }

  private async copyStoredImage(jobId: string, sourceKey: string): Promise<string> {
    const ext = sourceKey.split('.').pop() ?? 'png';
    const temp = this.deps.store.tempPath(`${jobId}-input.part`);
    try {
      await pipeline(await this.deps.store.openRead(sourceKey), createWriteStream(temp));
    } catch {
      await fs.rm(temp, { force: true });
      throw new UserError('image_gone', 'The original image is no longer stored, so this video cannot be retried.');
    }
    const type = ext === 'png' ? 'image/png' : ext === 'webp' ? 'image/webp' : ext === 'gif' ? 'image/gif' : 'image/jpeg';
    return (await this.deps.store.putFile(`inputs/${jobId}.${ext}`, temp, type)).key;
  }
}

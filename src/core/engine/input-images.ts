import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { MediaError, UserError } from '../errors.js';
import type { LastFrameReader, Logger, MediaFetcher, MediaStore } from '../ports.js';
import type { Job } from '../store.js';
import type { FetchImage, VideoRequest } from './intake.js';

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
  /** Extend on a provider without an extend call: the parent clip's last frame becomes the input image. */
  lastFramePng: LastFrameReader;
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
    const type = key.endsWith('.png')
      ? 'image/png'
      : key.endsWith('.webp')
        ? 'image/webp'
        : key.endsWith('.gif')
          ? 'image/gif'
          : 'image/jpeg';
    return `data:${type};base64,${Buffer.concat(chunks).toString('base64')}`;
  }

  /**
   * Extend without a provider extend call (fal): the last frame of the parent's clip as we stored it, to be stored
   * as the new job's input image (so a retry or a restart reuses it). Runs inside intake before any hold: a clip
   * gone from our store (media retention) or unreadable is a UserError, and no file is left behind.
   */
  lastFrameOf(parent: Pick<Job, 'id' | 'mediaKey'>): FetchImage {
    return async (signal) => {
      if (!parent.mediaKey) throw clipGone();
      const local = this.deps.store.localPath(parent.mediaKey);
      // An S3 store has no local file: ffmpeg needs one it can seek in (an MP4's index may sit at its end).
      const copy = local ? undefined : this.deps.store.tempPath(`${parent.id}-clip.part`);
      try {
        if (copy) {
          try {
            await pipeline(await this.deps.store.openRead(parent.mediaKey), createWriteStream(copy));
          } catch {
            throw clipGone();
          }
        }
        const png = await this.readLastFrame(parent.id, local ?? copy!, signal);
        const path = this.deps.store.tempPath(`${parent.id}-last-frame.png`);
        await fs.writeFile(path, png);
        return { path, contentType: 'image/png', ext: 'png' };
      } finally {
        if (copy) await fs.rm(copy, { force: true });
      }
    };
  }

  private async readLastFrame(jobId: string, videoPath: string, signal: AbortSignal): Promise<Buffer> {
    try {
      return await this.deps.lastFramePng(videoPath, signal);
    } catch (error) {
      if (!(error instanceof MediaError)) throw error;
      if (error.kind === 'not_found') throw clipGone();
      this.deps.logger.info(
        { jobId, kind: error.kind, reason: error.detail },
        'the last frame of a stored clip could not be read',
      );
      throw new UserError(
        'last_frame_unreadable',
        'The last frame of this video could not be read, so it cannot be extended.',
      );
    }
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
      if (error instanceof MediaError && error.detail)
        this.deps.logger.info({ jobId, reason: error.detail }, 'member image address refused');
      // Our storage failing is not the member's image's fault: that one goes up as our error, with a ref.
      if (error instanceof MediaError && error.kind !== 'storage')
        throw new UserError('bad_image', `The image could not be used: ${error.message}`);
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
    const type =
      ext === 'png' ? 'image/png' : ext === 'webp' ? 'image/webp' : ext === 'gif' ? 'image/gif' : 'image/jpeg';
    return (await this.deps.store.putFile(`inputs/${jobId}.${ext}`, temp, type)).key;
  }
}

const clipGone = () => new UserError('clip_gone', 'This video is no longer stored here, so it cannot be extended.');

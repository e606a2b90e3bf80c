import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { MediaError } from '../core/errors.js';
import type { LastFrameReader } from '../core/ports.js';

/**
 * The last frame of a video file as PNG bytes: what Extend continues from where the provider has no extend call of
 * its own (fal). ffmpeg comes from @ffmpeg-installer, whose platform package carries the binary inside its registry
 * tarball: nothing is downloaded at install or run time.
 */

export interface LastFrameOptions {
  /** ffmpeg is killed after this long. */
  timeoutMs?: number;
  /** The largest PNG accepted; ffmpeg is killed as soon as one frame grows past it. */
  maxBytes?: number;
  /** Shutdown: kills ffmpeg. */
  signal?: AbortSignal | undefined;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** ffmpeg's own complaint, for the log: the first few lines are enough. */
const MAX_STDERR_CHARS = 2000;

/**
 * Loaded on first use: the package throws at load on a platform it has no binary for, which must not stop the bot
 * from starting (only Extend on fal needs it).
 */
async function ffmpegBinary(): Promise<string> {
  try {
    return (await import('@ffmpeg-installer/ffmpeg')).default.path;
  } catch (error) {
    throw new Error(`ffmpeg is not available on this platform: ${String(error)}`, { cause: error });
  }
}

/**
 * ffmpeg seeks to one second before the end (short clips start at 0), decodes to the end and writes every frame of
 * that second as a PNG to stdout; the last complete one is the last frame. Args go as an array: no shell ever sees
 * the path. Throws MediaError: `not_found` (no such file), `bad_type` (not a video ffmpeg can read), `timeout`,
 * `too_large` (one PNG past `maxBytes`).
 */
export async function extractLastFramePng(
  videoPath: string,
  { timeoutMs = 20_000, maxBytes = 8 * 1024 * 1024, signal }: LastFrameOptions = {},
): Promise<Buffer> {
  const info = await stat(videoPath).catch(() => undefined);
  if (!info || info.isDirectory()) throw new MediaError('not_found', 'The video file is missing.');
  const args = [
    '-nostdin',
    '-v',
    'error',
    '-sseof',
    '-1',
    '-i',
    videoPath,
    '-an',
    '-f',
    'image2pipe',
    '-c:v',
    'png',
    '-',
  ];
  const child = spawn(await ffmpegBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
  const frames = new PngFrames(maxBytes);
  let stderr = '';
  let stopped: 'timeout' | 'too_large' | undefined;
  const stop = (why: 'timeout' | 'too_large') => {
    stopped ??= why;
    child.kill('SIGKILL');
  };
  const timer = setTimeout(() => stop('timeout'), timeoutMs);
  child.stdout.on('data', (chunk: Buffer) => {
    if (!stopped && !frames.push(chunk)) stop('too_large');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < MAX_STDERR_CHARS) stderr += chunk.toString('utf8');
  });
  const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  }).finally(() => clearTimeout(timer));

  if (stopped === 'timeout')
    throw new MediaError(
      'timeout',
      `Reading the video’s last frame took longer than ${Math.round(timeoutMs / 1000)} s.`,
    );
  if (stopped === 'too_large')
    throw new MediaError('too_large', `The video’s last frame is larger than ${maxBytes} bytes as PNG.`);
  if (exit.error)
    throw exit.error.name === 'AbortError'
      ? exit.error
      : new Error(`ffmpeg could not be started: ${exit.error.message}`, { cause: exit.error });
  const last = frames.last;
  if (exit.code !== 0 || !last || frames.malformed) {
    throw new MediaError('bad_type', 'The video could not be read.', {
      detail: stderr.trim().slice(0, MAX_STDERR_CHARS) || `ffmpeg exited with ${exit.code}`,
    });
  }
  return last;
}

/** The engine's LastFrameReader: the defaults above (20 s, 8 MiB). */
export const readLastFramePng: LastFrameReader = (videoPath, signal) => extractLastFramePng(videoPath, { signal });

/**
 * Splits ffmpeg's stream of PNGs into frames by walking their chunks (length, type, data, CRC) to IEND, keeping
 * only the latest complete one. One buffer of `maxBytes`: a frame that does not fit is refused, whatever ffmpeg does.
 */
class PngFrames {
  last: Buffer | undefined;
  malformed = false;
  private readonly buf: Buffer;
  private length = 0;
  /** Where the next chunk header starts in the frame being read. */
  private next = PNG_SIGNATURE.length;

  constructor(maxBytes: number) {
    this.buf = Buffer.alloc(maxBytes);
  }

  /** False once a frame outgrows the buffer. */
  push(chunk: Buffer): boolean {
    for (let offset = 0; offset < chunk.length;) {
      const n = Math.min(chunk.length - offset, this.buf.length - this.length);
      if (n === 0) return false;
      chunk.copy(this.buf, this.length, offset, offset + n);
      this.length += n;
      offset += n;
      this.takeFrames();
    }
    return true;
  }

  private takeFrames(): void {
    while (this.next + 8 <= this.length) {
      const end = this.next + 12 + this.buf.readUInt32BE(this.next);
      if (end > this.length) return;
      const type = this.buf.toString('latin1', this.next + 4, this.next + 8);
      this.next = end;
      if (type !== 'IEND') continue;
      if (!this.buf.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) this.malformed = true;
      this.last = Buffer.from(this.buf.subarray(0, end));
      this.buf.copyWithin(0, end, this.length);
      this.length -= end;
      this.next = PNG_SIGNATURE.length;
    }
  }
}

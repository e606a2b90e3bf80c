import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const FFMPEG = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
const PNG_SIGNATURE = '89504e470d0a1a0a';

/** Width and height from a PNG's IHDR; throws if the bytes are not a PNG. */
export function pngSize(png: Buffer): { width: number; height: number } {
  if (png.subarray(0, 8).toString('hex') !== PNG_SIGNATURE || png.toString('latin1', 12, 16) !== 'IHDR')
    throw new Error('not a PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** The bytes of a `data:image/png;base64,…` URI; throws for anything else. */
export function pngOfDataUri(uri: unknown): Buffer {
  const prefix = 'data:image/png;base64,';
  if (typeof uri !== 'string' || !uri.startsWith(prefix))
    throw new Error(`not a PNG data URI: ${String(uri).slice(0, 40)}`);
  return Buffer.from(uri.slice(prefix.length), 'base64');
}

/**
 * A video's last frame as PNG, found independently of src/media/last-frame.ts: ffmpeg decodes the whole clip from
 * its start and overwrites one image with every frame.
 */
export function lastFrameTheSlowWay(video: string): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clipbot-frame-'));
  try {
    const out = path.join(dir, 'last.png');
    execFileSync(FFMPEG, ['-nostdin', '-v', 'error', '-i', video, '-update', '1', '-f', 'image2', '-c:v', 'png', out]);
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Frame `n` (from 0) of a video as PNG: ffmpeg decodes the clip and picks it. */
export function framePng(video: string, n: number): Buffer {
  return execFileSync(FFMPEG, [
    '-nostdin',
    '-v',
    'error',
    '-i',
    video,
    '-vf',
    `select=eq(n\\,${n})`,
    '-frames:v',
    '1',
    '-f',
    'image2pipe',
    '-c:v',
    'png',
    '-',
  ]);
}

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mp4StructureProblem } from '../../src/media/mp4-boxes.js';
import { mp4Bytes, SAMPLE_MP4 } from './fixtures.js';

describe('the MP4 structure check', () => {
  let dir: string;
  let sample: Buffer;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'clipbot-mp4-'));
    sample = await readFile(SAMPLE_MP4);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const problemOf = async (bytes: Buffer) => {
    const file = path.join(dir, `f${Math.random().toString(36).slice(2)}.mp4`);
    await writeFile(file, bytes);
    return mp4StructureProblem(file);
  };
  const box = (type: string, body: Buffer) => {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(8 + body.length, 0);
    header.write(type, 4, 'latin1');
    return Buffer.concat([header, body]);
  };

  it('passes a real encoder MP4 and a minimal one', async () => {
    expect(await problemOf(sample)).toBeUndefined();
    expect(await problemOf(mp4Bytes(4096))).toBeUndefined();
  });

  it('finds a file cut short, wherever the cut', async () => {
    for (const keep of [9, 1000, Math.floor(sample.length / 2), sample.length - 1]) {
      expect(await problemOf(sample.subarray(0, keep)), `cut at ${keep}`).toMatch(/short of its last box|cut off/);
    }
  });

  it('reads 64-bit box sizes and a last box that runs to the end', async () => {
    const large = Buffer.alloc(16 + 100);
    large.writeUInt32BE(1, 0);
    large.write('mdat', 4, 'latin1');
    large.writeBigUInt64BE(BigInt(large.length), 8);
    expect(await problemOf(Buffer.concat([box('ftyp', Buffer.from('isom\0\0\0\0')), large]))).toBeUndefined();
    const toEnd = Buffer.alloc(50);
    toEnd.write('mdat', 4, 'latin1');
    expect(await problemOf(Buffer.concat([box('ftyp', Buffer.from('isom\0\0\0\0')), toEnd]))).toBeUndefined();
  });

  it('refuses impossible sizes and trailing bytes that are not a box', async () => {
    const zeroSized = Buffer.alloc(8);
    zeroSized.writeUInt32BE(4, 0);
    expect(await problemOf(Buffer.concat([box('ftyp', Buffer.from('isom')), zeroSized]))).toMatch(/impossible size/);
    expect(await problemOf(Buffer.concat([sample, Buffer.from('junk')]))).toMatch(/cut off/);
  });
});

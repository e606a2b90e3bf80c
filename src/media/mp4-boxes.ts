import { open } from 'node:fs/promises';

/**
 * Checks that an MP4 (ISO-BMFF: mp4, m4v, mov) file's top-level boxes tile it exactly, each header read where the
 * previous box ends. A file cut short — a provider or CDN that closed early but sent a matching Content-Length —
 * passes every byte count and the type sniff, then plays as a broken video; its last box reaching past the end
 * gives it away. A few 16-byte reads, whatever the file's size. Returns what is wrong, or undefined.
 */
const MAX_TOP_LEVEL_BOXES = 10_000;

export async function mp4StructureProblem(path: string): Promise<string | undefined> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const header = Buffer.alloc(16);
    let offset = 0;
    for (let boxes = 0; offset < size; boxes++) {
      if (boxes >= MAX_TOP_LEVEL_BOXES) return `more than ${MAX_TOP_LEVEL_BOXES} top-level boxes`;
      const { bytesRead } = await file.read(header, 0, 16, offset);
      if (bytesRead < 8) return `a box header is cut off at byte ${offset}`;
      const size32 = header.readUInt32BE(0);
      // 1: a 64-bit size follows the type; 0: the box runs to the end of the file.
      const boxSize =
        size32 === 1 ? (bytesRead < 16 ? 0 : Number(header.readBigUInt64BE(8))) : size32 === 0 ? size - offset : size32;
      if (boxSize < 8) return `a box at byte ${offset} has an impossible size`;
      if (offset + boxSize > size) return `the file ends ${offset + boxSize - size} bytes short of its last box`;
      offset += boxSize;
    }
    return undefined;
  } finally {
    await file.close();
  }
}

import { fileURLToPath } from 'node:url';
import diagnosticsChannel from 'node:diagnostics_channel';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A real H.264 MP4 (the simulators' 480p sample, 5 s). */
export const SAMPLE_MP4 = fileURLToPath(new URL('../../src/sim/assets/sample-480p.mp4', import.meta.url));

/** A minimal ISO-BMFF file: an `ftyp` box (brand isom, as encoders write it) and an `mdat` box of zeros. */
export function mp4Bytes(totalSize = 64 * 1024): Buffer {
  const ftyp = Buffer.alloc(24);
  ftyp.writeUInt32BE(24, 0);
  ftyp.write('ftyp', 4, 'latin1');
  ftyp.write('isom', 8, 'latin1');
  ftyp.writeUInt32BE(0x200, 12);
  ftyp.write('isomiso2', 16, 'latin1');
  const mdat = Buffer.alloc(Math.max(8, totalSize - ftyp.length));
  mdat.writeUInt32BE(mdat.length, 0);
  mdat.write('mdat', 4, 'latin1');
  return Buffer.concat([ftyp, mdat]);
}

/** The start of a WebM file: EBML header with DocType "webm", then a Segment of unknown size. */
export function webmBytes(): Buffer {
  return Buffer.from(
    '1a45dfa39f4286810142f7810142f2810442f381084282847765626d42878104428581021853806701ffffffffffffff',
    'hex',
  );
}

/** A 1×1 transparent PNG. */
export function pngBytes(): Buffer {
  return Buffer.from(
    '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4b00000000049454e44ae426082',
    'hex',
  );
}

export interface TestServer {
  origin: string;
  port: number;
  /** Request paths in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1, any free port. */
export async function startServer(handler: RequestListener): Promise<TestServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Remote addresses of every connection undici actually opened, and every host it was about to connect to:
 * lets a test show that a refused address was never connected to.
 */
export function recordConnections(): { connected: string[]; attempted: string[]; stop(): void } {
  const connected: string[] = [];
  const attempted: string[] = [];
  const onConnected = (message: unknown) => {
    const socket = (message as { socket: Socket }).socket;
    connected.push(socket.remoteAddress ?? '?');
  };
  const onBeforeConnect = (message: unknown) => {
    attempted.push((message as { connectParams: { hostname: string } }).connectParams.hostname);
  };
  diagnosticsChannel.subscribe('undici:client:connected', onConnected);
  diagnosticsChannel.subscribe('undici:client:beforeConnect', onBeforeConnect);
  return {
    connected,
    attempted,
    stop() {
      diagnosticsChannel.unsubscribe('undici:client:connected', onConnected);
      diagnosticsChannel.unsubscribe('undici:client:beforeConnect', onBeforeConnect);
    },
  };
}

/** A DNS stand-in: names map to fixed addresses; unknown names fail like NXDOMAIN. Records every question. */
export function fakeDns(table: Record<string, string[]>): {
  lookup: (hostname: string) => Promise<{ address: string; family: number }[]>;
  asked: string[];
} {
  const asked: string[] = [];
  return {
    asked,
    async lookup(hostname: string) {
      asked.push(hostname);
      const addresses = table[hostname];
      if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    },
  };
}

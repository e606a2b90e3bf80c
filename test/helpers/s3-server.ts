import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The part of s3rver (CommonJS, no type declarations) this helper uses. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

/**
 * s3rver knows one account; its access key id must be this. It does not verify SigV4 signatures, so any
 * secret works, which lets a test use a recognisable one and check it never leaks.
 */
export const S3RVER_ACCESS_KEY_ID = 'S3RVER';

export interface TestS3Server {
  /** http://127.0.0.1:<port>, for path-style addressing. */
  endpoint: string;
  /** Method and URL of every request, in arrival order. */
  requests: string[];
  /** Headers of every request, in the same order. */
  headers: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** A local S3-compatible server (s3rver) on 127.0.0.1, any free port, storing into its own temp directory. */
export async function startS3Server(options: { buckets: readonly string[] }): Promise<TestS3Server> {
  const directory = await mkdtemp(path.join(tmpdir(), 'clipbot-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  const requests: string[] = [];
  const headers: IncomingHttpHeaders[] = [];
  server.httpServer?.on('request', (req: IncomingMessage) => {
    requests.push(`${req.method} ${req.url}`);
    headers.push(req.headers);
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    headers,
    async close() {
      const closed = server.close();
      // Keep-alive sockets from the SDK would otherwise hold close() open.
      server.httpServer?.closeAllConnections();
      await closed;
      await rm(directory, { recursive: true, force: true });
    },
  };
}

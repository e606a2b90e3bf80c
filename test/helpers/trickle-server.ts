import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * An image host on 127.0.0.1 with a slow link, as a member who wants to hold the bot up would point `--image` at:
 * each download gets its headers and first byte at once, then one more byte every `intervalMs` (a second by
 * default) until `release()` sends the rest, or for ever. It counts the downloads it was asked for.
 */
export interface TrickleServer {
  /** A URL of an image on this server (each call a new path, all served alike). */
  url(name?: string): string;
  /** Downloads asked for so far. */
  readonly requests: number;
  /** Downloads still being sent. */
  readonly open: number;
  /** Sends the rest of every download at once, now and from now on. */
  release(): void;
  close(): Promise<void>;
}

export async function startTrickleServer(image: Buffer, opts: { intervalMs?: number } = {}): Promise<TrickleServer> {
  const intervalMs = opts.intervalMs ?? 1000;
  let requests = 0;
  let released = false;
  const live = new Set<() => void>();
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(image.length) });
    let sent = 1;
    res.write(image.subarray(0, 1));
    const finish = () => {
      clearInterval(timer);
      live.delete(finish);
      if (!res.writableEnded && !res.destroyed) res.end(image.subarray(sent));
    };
    const timer = setInterval(() => {
      if (sent >= image.length - 1) return finish();
      res.write(image.subarray(sent, sent + 1));
      sent++;
    }, intervalMs);
    live.add(finish);
    res.on('close', () => {
      clearInterval(timer);
      live.delete(finish);
    });
    if (released) finish();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let n = 0;
  return {
    url: (name = `image-${++n}.png`) => `http://127.0.0.1:${port}/${name}`,
    get requests() {
      return requests;
    },
    get open() {
      return live.size;
    },
    release() {
      released = true;
      for (const finish of [...live]) finish();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

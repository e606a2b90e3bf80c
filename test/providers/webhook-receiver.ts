import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookRequest } from '../../src/core/ports.js';

/** A local endpoint that records what a simulator POSTs to it, byte for byte, as the bot's webhook route would see it. */
export interface WebhookReceiver {
  readonly url: string;
  readonly deliveries: readonly WebhookRequest[];
  /** The next delivery not yet taken by `next` (waits for it). */
  next(timeoutMs?: number): Promise<WebhookRequest>;
  /** HTTP status answered to the simulator (e.g. 500 to make it retry). */
  respondWith(status: number): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const deliveries: WebhookRequest[] = [];
  const waiters: Array<() => void> = [];
  let taken = 0;
  let answer = 200;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(req.headers))
        headers[name] = Array.isArray(value) ? value.join(', ') : value;
      deliveries.push({ headers, rawBody: new Uint8Array(Buffer.concat(chunks)) });
      res.writeHead(answer).end();
      for (const wake of waiters.splice(0)) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/webhooks/provider?job=test`,
    deliveries,
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (taken >= deliveries.length) {
        if (Date.now() > deadline) throw new Error(`no webhook within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 50);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return deliveries[taken++]!;
    },
    respondWith(status) {
      answer = status;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

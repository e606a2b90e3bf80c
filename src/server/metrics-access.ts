import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Who may read /metrics. The numbers (jobs, spend, refused webhooks) are the owner's business, and the main
 * server is public as soon as it takes webhooks, so /metrics there needs METRICS_TOKEN unless the server itself is
 * private (loopback and no PUBLIC_URL). METRICS_PORT adds a loopback-only listener that serves nothing else.
 */
export type MetricsAccess = { kind: 'open' } | { kind: 'token'; token: string } | { kind: 'off' };

export function metricsAccessOnMainServer(settings: {
  token: string | undefined;
  publicUrl: string | undefined;
  httpHost: string;
}): MetricsAccess {
  if (settings.token) return { kind: 'token', token: settings.token };
  return !settings.publicUrl && isLoopbackHost(settings.httpHost) ? { kind: 'open' } : { kind: 'off' };
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Constant-time check of an `Authorization: Bearer <token>` header (hashed first, so lengths do not leak). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return false;
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}

export interface MetricsListener {
  port: number;
  close(): Promise<void>;
}

/** The METRICS_PORT listener: GET /metrics on 127.0.0.1 only, everything else 404. */
export async function startMetricsListener(
  port: number,
  render: () => Promise<{ contentType: string; body: string }>,
): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    render().then(
      ({ contentType, body }) =>
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal error"}'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

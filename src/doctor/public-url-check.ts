import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Config } from '../config.js';
import { fail, ok, skip, type CheckResult } from './check.js';
import { field, probe, ProbeError } from './probe.js';

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * `GET PUBLIC_URL/healthz` must reach this bot, not merely some server. Every clipbot process answers /healthz
 * with a random `instance` nonce. When the bot is not running, the doctor listens on HTTP_HOST:HTTP_PORT itself
 * with a nonce of its own; when it is, the doctor asks the bot for its nonce on the local address. Either way the
 * public answer must carry that very nonce: a proxy pointing at another port or host cannot fake it.
 */
export async function checkPublicUrl(config: Config): Promise<CheckResult> {
  const title = 'Public URL';
  if (!config.PUBLIC_URL)
    return skip(title, 'not set (providers are polled; results over the upload limit cannot be linked)');
  const publicUrl = new URL(config.PUBLIC_URL);
  if (publicUrl.protocol !== 'https:' && !LOOPBACK.test(publicUrl.hostname)) {
    return fail(
      title,
      `${config.PUBLIC_URL} is not https`,
      'put a TLS reverse proxy (Caddy, nginx, a tunnel) in front of the bot and set PUBLIC_URL to its https address',
    );
  }
  if (config.HTTP_PORT === 0)
    return fail(
      title,
      'HTTP_PORT=0 picks a random port that no reverse proxy can point at',
      'set HTTP_PORT to the port your reverse proxy forwards to',
    );

  const own = `doctor-${randomBytes(8).toString('hex')}`;
  const server = await listenForHealth(config, own);
  let expected = own;
  let whose = 'the doctor, listening where the bot will';
  if (!server) {
    const local = await probe(`http://${hostForUrl(config.HTTP_HOST)}:${config.HTTP_PORT}/healthz`).catch(
      () => undefined,
    );
    const instance = field(local?.json, 'instance');
    if (typeof instance !== 'string') {
      return fail(
        title,
        `port ${config.HTTP_PORT} on ${config.HTTP_HOST} is taken by something that is not clipbot`,
        'stop that program or choose another HTTP_PORT',
      );
    }
    expected = instance;
    whose = 'the running bot';
  }
  try {
    const target = `${config.PUBLIC_URL.replace(/\/$/, '')}/healthz`;
    const answer = await probe(target);
    const instance = field(answer.json, 'instance');
    if (instance === expected) return ok(title, `${config.PUBLIC_URL} reaches ${whose} (nonce matched)`);
    const what =
      answer.status !== 200
        ? `answered HTTP ${answer.status}`
        : typeof instance === 'string'
          ? 'reaches another clipbot'
          : 'reaches a server that is not clipbot';
    return fail(
      title,
      `${target} ${what}`,
      `point the reverse proxy for ${publicUrl.host} at http://${hostForUrl(config.HTTP_HOST)}:${config.HTTP_PORT}`,
    );
  } catch (error) {
    if (error instanceof ProbeError) {
      return fail(
        title,
        `${config.PUBLIC_URL} is unreachable (${error.message})`,
        `check DNS, the firewall and the reverse proxy for ${publicUrl.host}`,
      );
    }
    throw error;
  } finally {
    await new Promise<void>((resolve) =>
      server ? (server.closeAllConnections(), server.close(() => resolve())) : resolve(),
    );
  }
}

/** A stand-in /healthz on the bot's own address, or undefined when the address is taken (the bot runs). */
function listenForHealth(config: Config, instance: string): Promise<http.Server | undefined> {
  const server = http.createServer((req, res) => {
    res.writeHead(req.url?.startsWith('/healthz') ? 200 : 404, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
    });
    res.end(JSON.stringify({ ok: true, instance }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(undefined) : reject(error),
    );
    server.listen(config.HTTP_PORT, config.HTTP_HOST, () => resolve(server));
  });
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

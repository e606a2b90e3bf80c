import { open, rm } from 'node:fs/promises';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileTypeFromFile } from 'file-type';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import { MediaError } from '../core/errors.js';
import type { FetchTrust, MediaFetcher } from '../core/ports.js';
import { startDeadline, type Deadline } from '../deadline.js';
import { createAddressPolicy, type AddressPolicy } from './address-policy.js';
import { mp4StructureProblem } from './mp4-boxes.js';

/** Resolves a host name to every address it has (so each one can be checked). */
export type ResolveHost = (hostname: string) => Promise<readonly LookupAddress[]>;

export interface SafeFetcherOptions {
  /** FETCH_ALLOW_CIDRS: ranges exempt from the private-address block (e.g. local simulators), for `operator` URLs only. */
  allowCidrs: readonly string[];
  /** Whole-download deadline, redirects and body included (FETCH_TIMEOUT_S × 1000). */
  deadlineMs: number;
  /** DNS resolution; tests inject one. Defaults to the system resolver (`dns.lookup`, all addresses). */
  lookup?: ResolveHost;
  /**
   * Tests only (config cannot reach it): the address really dialled for one that passed the policy, so a fake on
   * loopback can stand behind a public-looking name while the policy still judges the public address it resolved to.
   */
  dialAddress?: (checkedAddress: string) => string;
  userAgent?: string;
}

export interface SafeFetcher extends MediaFetcher {
  /** Closes pooled connections. */
  close(): Promise<void>;
}

const MAX_REDIRECTS = 5;
const WRITE_BUFFER_BYTES = 1024 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** All a member hears of a refused address: which name resolves where inside our network is not theirs to learn. */
const MEMBER_BLOCKED_TEXT = 'that address is not allowed';

/**
 * What each kind may really be, by sniffed content. For video the ISO-BMFF family is accepted as
 * MP4 (isom/mp41/mp42/avc1/... brands), M4V and QuickTime MOV; plus WebM. Audio-only MP4 (M4A), 3GP,
 * HEIC/AVIF and non-WebM Matroska are refused.
 */
const ACCEPTED: Record<'video' | 'image', ReadonlyMap<string, string>> = {
  video: new Map([
    ['mp4', 'video/mp4'],
    ['m4v', 'video/x-m4v'],
    ['mov', 'video/quicktime'],
    ['webm', 'video/webm'],
  ]),
  image: new Map([
    ['png', 'image/png'],
    ['jpg', 'image/jpeg'],
    ['webp', 'image/webp'],
    ['gif', 'image/gif'],
  ]),
};

/** Raised inside the connector; turned into MediaError('blocked_address') at the edge. */
class BlockedAddressError extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(
      host === address ? `address ${address} is not allowed` : `${host} resolves to ${address}, which is not allowed`,
    );
    this.name = 'BlockedAddressError';
  }
}

/**
 * The SSRF-safe downloader (design §2 steps 5 and 7) for URLs we did not create.
 *
 * Every address is checked at connect time, inside undici's connector: literal IPs before the socket is
 * opened, host names through a lookup that refuses the connection if ANY resolved address is blocked. The
 * socket connects only to the addresses that lookup returned, so DNS rebinding between check and connect
 * has no window. Redirects are followed by hand so each hop's URL is re-checked too.
 *
 * Two policies (see `FetchTrust`), each with its own connection pool: a connection opened for an operator URL to an
 * allowed LAN host must never be reused for a member's URL to the same host.
 */
export function createSafeFetcher(options: SafeFetcherOptions): SafeFetcher {
  const resolveHost = options.lookup ?? systemResolve;
  const dial = options.dialAddress ?? ((address: string) => address);
  const userAgent = options.userAgent ?? 'clipbot/0.1 (media fetcher)';
  const deadlineMs = options.deadlineMs;

  const guarded = (policy: AddressPolicy) => ({
    policy,
    agent: new Agent({
      connect: checkedConnector(policy, resolveHost, dial, Math.min(10_000, deadlineMs)),
      headersTimeout: deadlineMs,
      bodyTimeout: Math.min(60_000, deadlineMs),
      maxRedirections: 0,
    }),
  });
  const byTrust: Record<FetchTrust, { policy: AddressPolicy; agent: Agent }> = {
    member: guarded(createAddressPolicy([])),
    operator: guarded(createAddressPolicy(options.allowCidrs)),
  };

  async function fetchToFile(
    url: string,
    destPath: string,
    opts: { kind: 'video' | 'image'; maxBytes: number; trust: FetchTrust; signal?: AbortSignal },
  ): Promise<{ bytes: number; contentType: string; ext: string }> {
    const { policy, agent } = byTrust[opts.trust];
    let current = checkUrl(url, policy, opts.trust);
    const limit = deadlineMs >= 1000 ? `${Math.round(deadlineMs / 1000)} s` : `${deadlineMs} ms`;
    const deadline = startDeadline(
      deadlineMs,
      opts.signal,
      () => new MediaError('timeout', `download took longer than ${limit}`),
    );
    const signal = deadline.signal;
    let wroteFile = false;
    try {
      for (let hop = 0; ; hop++) {
        const res = await request(current, {
          dispatcher: agent,
          method: 'GET',
          signal,
          headers: {
            'user-agent': userAgent,
            accept: opts.kind === 'video' ? 'video/mp4,video/webm,video/*;q=0.8' : 'image/*',
            'accept-encoding': 'identity',
          },
        });
        if (REDIRECT_STATUSES.has(res.statusCode)) {
          discard(res.body);
          if (hop >= MAX_REDIRECTS)
            throw new MediaError('http_status', `${hostOf(current)}: more than ${MAX_REDIRECTS} redirects`);
          const location = headerValue(res.headers, 'location');
          if (!location) throw new MediaError('http_status', `${hostOf(current)}: redirect without a Location`);
          current = checkUrl(location, policy, opts.trust, current);
          continue;
        }
        if (res.statusCode < 200 || res.statusCode > 299) {
          discard(res.body);
          throw new MediaError('http_status', `${hostOf(current)} answered HTTP ${res.statusCode}`, {
            status: res.statusCode,
          });
        }
        const declared = Number(headerValue(res.headers, 'content-length') ?? Number.NaN);
        if (declared > opts.maxBytes) {
          discard(res.body);
          throw new MediaError(
            'too_large',
            `${hostOf(current)}: the file is ${declared} bytes, over the ${opts.maxBytes}-byte limit`,
          );
        }
        wroteFile = true;
        const bytes = await streamToFile(res.body, destPath, opts.maxBytes, hostOf(current), signal);
        const sniffed = await sniff(destPath, opts.kind, hostOf(current));
        return { bytes, ...sniffed };
      }
    } catch (error) {
      if (wroteFile) await rm(destPath, { force: true });
      throw toMediaError(error, hostOf(current), deadline, opts.signal, opts.trust);
    } finally {
      deadline.dispose();
    }
  }

  return {
    fetchToFile,
    close: async () => {
      await Promise.all([byTrust.member.agent.close(), byTrust.operator.agent.close()]);
    },
  };
}

/** Parses and vets one URL (the first, or a redirect target relative to the previous one). */
function checkUrl(raw: string, policy: AddressPolicy, trust: FetchTrust, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new MediaError('bad_url', 'not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MediaError('bad_url', `${url.protocol.replace(/:$/, '')} URLs are not fetched (only http and https)`);
  }
  // Credentials in a URL are never needed for media and are a classic way to disguise the real host.
  if (url.username || url.password) throw new MediaError('bad_url', 'URLs with a user name or password are refused');
  if (!url.hostname) throw new MediaError('bad_url', 'the URL has no host');
  const literal = unbracket(url.hostname);
  if (isIP(literal) && !policy.isAllowed(literal)) {
    const detail = `address ${literal} is not allowed (private, local or reserved)`;
    throw new MediaError('blocked_address', trust === 'member' ? MEMBER_BLOCKED_TEXT : detail, { detail });
  }
  return url;
}

/**
 * undici connector that refuses blocked addresses before any socket connects: IP literals here,
 * names in the lookup that `net.connect` calls (it skips lookup for literals, hence both).
 */
function checkedConnector(
  policy: AddressPolicy,
  resolveHost: ResolveHost,
  dial: (checkedAddress: string) => string,
  connectTimeoutMs: number,
): buildConnector.connector {
  const lookup: LookupFunction = (hostname, lookupOptions: LookupOptions, callback) => {
    resolveHost(hostname).then(
      (addresses) => {
        const blocked = addresses.find((a) => !policy.isAllowed(a.address));
        if (blocked) return callback(new BlockedAddressError(hostname, blocked.address), '');
        const family = familyNumber(lookupOptions.family);
        const usable = family ? addresses.filter((a) => a.family === family) : addresses;
        const first = usable[0];
        if (!first) {
          const error: NodeJS.ErrnoException = new Error(`no address found for ${hostname}`);
          error.code = 'ENOTFOUND';
          return callback(error, '');
        }
        if (lookupOptions.all)
          return callback(
            null,
            usable.map((a) => ({ address: dial(a.address), family: a.family })),
          );
        return callback(null, dial(first.address), first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
  const connect = buildConnector({ timeout: connectTimeoutMs, lookup });
  return (connectOptions, callback) => {
    const literal = unbracket(connectOptions.hostname);
    if (isIP(literal) && !policy.isAllowed(literal)) {
      callback(new BlockedAddressError(literal, literal), null);
      return;
    }
    connect(connectOptions, callback);
  };
}

function familyNumber(family: LookupOptions['family']): 4 | 6 | undefined {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return undefined;
}

function systemResolve(hostname: string): Promise<readonly LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });
}

async function streamToFile(
  body: Dispatcher.ResponseData['body'],
  destPath: string,
  maxBytes: number,
  host: string,
  signal: AbortSignal,
): Promise<number> {
  let bytes = 0;
  // Counted as it streams: Content-Length may be absent (chunked) and is never trusted.
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) done(new MediaError('too_large', `${host}: the file is over the ${maxBytes}-byte limit`));
      else done(null, chunk);
    },
  });
  // A connection cut while the file is being opened fails the body before pipeline listens: unheard, that error
  // would be an uncaught exception (the process exits). pipeline still sees it, as the stream stays errored.
  body.on('error', () => {});
  // Opened before streaming, so a failure can never race an in-flight open that recreates the file after cleanup.
  const file = await open(destPath, 'w');
  // With the default 16 KiB buffer every 64 KiB socket chunk stalls the download until its disk write returns;
  // 1 MiB lets the socket keep flowing and batches the waiting chunks into one writev (about 1.5× faster).
  await pipeline(body, counter, file.createWriteStream({ highWaterMark: WRITE_BUFFER_BYTES }), { signal });
  return bytes;
}

async function sniff(
  path: string,
  kind: 'video' | 'image',
  host: string,
): Promise<{ contentType: string; ext: string }> {
  const found = await fileTypeFromFile(path);
  const contentType = found && ACCEPTED[kind].get(found.ext);
  if (!found || !contentType) {
    const expected = kind === 'video' ? 'an MP4 or WebM video' : 'a PNG, JPEG, WebP or GIF image';
    throw new MediaError('bad_type', `${host} sent ${found ? found.mime : 'an unrecognised file'}, not ${expected}`);
  }
  if (kind === 'video' && found.ext !== 'webm') {
    const problem = await mp4StructureProblem(path);
    // Most likely a transfer cut short: worth another download.
    if (problem) throw new MediaError('network', `${host} sent an incomplete video (${problem})`);
  }
  return { contentType, ext: found.ext };
}

function toMediaError(
  error: unknown,
  host: string,
  deadline: Deadline,
  callerSignal: AbortSignal | undefined,
  trust: FetchTrust,
): MediaError {
  if (error instanceof MediaError) return error;
  if (deadline.expired && deadline.signal.reason instanceof MediaError) return deadline.signal.reason;
  if (callerSignal?.aborted)
    return new MediaError('timeout', `download from ${host} was cancelled`, { cause: callerSignal.reason });
  const blocked = findInChain(error, (e): e is BlockedAddressError => e instanceof BlockedAddressError);
  if (blocked)
    return new MediaError('blocked_address', trust === 'member' ? MEMBER_BLOCKED_TEXT : blocked.message, {
      cause: error,
      detail: blocked.message,
    });
  const code = findInChain(
    error,
    (e): e is { code: string } => typeof (e as { code?: unknown }).code === 'string',
  )?.code;
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new MediaError('timeout', `${host} stopped responding`, { cause: error });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new MediaError('network', `could not resolve ${host}`, { cause: error });
  if (code?.startsWith('ERR_FS') || code === 'ENOSPC' || code === 'EACCES' || code === 'ENOENT') {
    return new MediaError('storage', `could not write the download from ${host}`, { cause: error });
  }
  return new MediaError('network', `download from ${host} failed${code ? ` (${code})` : ''}`, { cause: error });
}

function findInChain<T>(error: unknown, test: (e: object) => e is T & object): T | undefined {
  for (
    let e = error, depth = 0;
    e && typeof e === 'object' && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    if (test(e)) return e;
  }
  return undefined;
}

/** Drops a body we will not read (this also drops its connection, so an endless body costs nothing). */
function discard(body: Dispatcher.ResponseData['body']): void {
  // undici reports its own destroy() as an 'error' event; nobody else is listening for it here.
  body.on('error', () => {});
  body.destroy();
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** For messages and logs: the host only, since paths and queries can carry tokens (Telegram file URLs do). */
function hostOf(url: URL): string {
  return url.host;
}

function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

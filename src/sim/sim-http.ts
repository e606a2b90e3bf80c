import type http from 'node:http';

/**
 * What the three provider simulators share: how an answer is written, and how the generic injected faults
 * (malformed or truncated JSON, an HTML gateway page, slow, hanging, cut-off or reset answers) spoil it. Each
 * simulator adds its provider's own faults (its rate-limit and error bodies) in front of these.
 */

export interface SimResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export type CommonFault =
  | { kind: 'malformed' }
  | { kind: 'truncated' }
  | { kind: 'html'; status?: number }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'hang' }
  | { kind: 'hang_body' }
  | { kind: 'cut_body' }
  | { kind: 'reset' };

export type Spoiled = SimResponse | 'hang' | 'hang_body' | 'cut_body' | 'reset' | { slow: number };

/** The generic faults; `fallbackJson` stands in for the real answer when the fault came before it. */
export function spoilCommon(fault: CommonFault, real: SimResponse | undefined, fallbackJson: () => string): Spoiled {
  switch (fault.kind) {
    case 'malformed':
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '<html>this is not JSON {' };
    case 'truncated': {
      const text = real && real.body.length > 1 ? real.body.toString() : fallbackJson();
      return {
        status: real?.status ?? 200,
        headers: { 'content-type': 'application/json' },
        body: text.slice(0, Math.max(1, Math.floor(text.length / 2))),
      };
    }
    case 'html': {
      const status = fault.status ?? 502;
      return {
        status,
        headers: { 'content-type': 'text/html' },
        body: `<html><body><h1>${status} Bad Gateway</h1></body></html>`,
      };
    }
    case 'slow':
      return { slow: fault.delayMs };
    case 'hang':
    case 'hang_body':
    case 'cut_body':
    case 'reset':
      return fault.kind;
  }
}

/** A duration in ms, or a [min, max] range drawn at random. */
export type SimMillis = number | readonly [number, number];

/**
 * A simulator's timers: `later` runs a callback once, `clearAll` (on close) cancels whatever is still pending, and
 * `pick` draws a duration. Kept in one place so a closed simulator never fires a late timer.
 */
export function simTimers(random: () => number) {
  const pending = new Set<NodeJS.Timeout>();
  return {
    pick(ms: SimMillis | undefined, fallback: number): number {
      if (ms === undefined) return fallback;
      if (typeof ms === 'number') return ms;
      return Math.round(ms[0] + random() * (ms[1] - ms[0]));
    },
    later(ms: number, fn: () => void): NodeJS.Timeout {
      const t = setTimeout(() => {
        pending.delete(t);
        fn();
      }, ms);
      pending.add(t);
      return t;
    },
    cancel(t: NodeJS.Timeout): void {
      clearTimeout(t);
      pending.delete(t);
    },
    clearAll(): void {
      for (const t of pending) clearTimeout(t);
      pending.clear();
    },
  };
}

/**
 * How long the simulators keep an idle connection open. undici takes a server's keep-alive hint of N s as N − 2 s,
 * so the 2 s the simulators used to set meant a fresh connection, and TCP handshake, for every call.
 */
export const SIM_KEEP_ALIVE_MS = 10_000;

/** Writes an answer with its Content-Length (unless the client already went away). */
export function writeResponse(res: http.ServerResponse, answer: SimResponse): void {
  if (res.destroyed) return;
  const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
  const headers = { ...answer.headers };
  headers['content-length'] ??= String(body.length);
  res.writeHead(answer.status, headers);
  res.end(body);
}

/**
 * Delivers a route's answer: drops the connection ('drop'), writes it with `io.write`, or acts out the fault that
 * spoils it.
 */
export function deliverCall(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  answer: SimResponse | 'drop',
  spoiled: Spoiled | undefined,
  io: {
    write(answer: SimResponse): void;
    stalled: Set<http.ServerResponse>;
    later(ms: number, fn: () => void): unknown;
  },
): void {
  if (answer === 'drop') {
    req.socket.destroy();
    return;
  }
  if (!spoiled) return io.write(answer);
  deliverSpoiled(req, res, answer, spoiled, io);
}

/** Acts out a spoiled answer: reset the socket, stall (whole or mid-body), cut it off, delay, or send the replacement. */
export function deliverSpoiled(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  answer: SimResponse,
  spoiled: Spoiled,
  io: {
    write(answer: SimResponse): void;
    stalled: Set<http.ServerResponse>;
    later(ms: number, fn: () => void): unknown;
  },
): void {
  if (spoiled === 'reset') {
    req.socket.destroy();
  } else if (spoiled === 'hang') {
    io.stalled.add(res);
  } else if (spoiled === 'cut_body') {
    // The real headers, Content-Length included, then half the bytes and a closed connection: a download cut short.
    const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(body.length) });
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => req.socket.destroy());
  } else if (spoiled === 'hang_body') {
    const text = Buffer.from(answer.body.length > 1 ? answer.body.toString() : '{"status":"queued"}');
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length + 64) });
    res.write(text.subarray(0, Math.floor(text.length / 2)));
    io.stalled.add(res);
  } else if ('slow' in spoiled) {
    io.later(spoiled.slow, () => io.write(answer));
  } else {
    io.write(spoiled);
  }
}

/** Simulators post webhooks only to loopback unless told otherwise: tests must never reach out. */
export function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

/**
 * Some providers' edges refuse a client that names no `User-Agent` (issue 14): the simulators do too, on every API
 * route (not on the media files, which any browser or downloader may fetch). [U] the real edge's exact answer.
 */
export function lacksUserAgent(req: http.IncomingMessage): boolean {
  return !req.headers['user-agent']?.trim();
}

export const MISSING_USER_AGENT: SimResponse = {
  status: 403,
  headers: { 'content-type': 'text/plain' },
  body: 'Forbidden: requests must carry a User-Agent header',
};

export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

export const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}): SimResponse => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** fal's and kie's answer for a media file that is not there (or no longer). */
export const FILE_NOT_FOUND: SimResponse = {
  status: 404,
  headers: { 'content-type': 'text/plain' },
  body: 'Not Found',
};

/** What a `[sim:html_video]` link serves as video/mp4: a host that answers with a web page instead of the file. */
export const HTML_VIDEO = Buffer.from(
  '<!doctype html><html><body><h1>Your video is ready</h1><script>alert(1)</script></body></html>',
);

/** A media file's answer (headers only for HEAD), with the host's own headers. */
export function mediaFile(
  bytes: Buffer,
  contentType: string,
  head: boolean,
  headers: Record<string, string>,
): SimResponse {
  return {
    status: 200,
    headers: { 'content-type': contentType, 'content-length': String(bytes.length), ...headers },
    body: head ? Buffer.alloc(0) : bytes,
  };
}

/** The job id the adapter sends in `x-clipbot-job-id`, which the tests count submissions by. */
export function jobIdOf(headers: http.IncomingHttpHeaders): string | undefined {
  const value = headers['x-clipbot-job-id'];
  return typeof value === 'string' ? value : undefined;
}

/** Counts one more of `key` (nothing when there is none). */
export function tally(counts: Map<string, number>, key: string | undefined): void {
  if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
}

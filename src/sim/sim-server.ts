import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import type { Clock } from '../core/ports.js';
import {
  deliverCall,
  lacksUserAgent,
  MISSING_USER_AGENT,
  SIM_KEEP_ALIVE_MS,
  simTimers,
  spoilCommon,
  writeResponse,
  type SimResponse,
  type Spoiled,
} from './sim-http.js';
import type { SimCall, SimFault, SimFaultOptions, SimSubmitStats, SimWebhookOptions } from './sim-common.js';

/**
 * The base of the three provider simulators: the HTTP server and its request pipeline (call log, body cap, 404 / 405,
 * injected faults before or after the work, a 500 when a route throws), the outbound side (webhooks with retries, on
 * an agent that `close` shuts), and the timers. What a provider says (its routes, its error envelopes, its own
 * faults) comes in through `SimRoutes`; everything the server refuses on its own is answered in the provider's words.
 */

const SIM_FAULT_KINDS: ReadonlySet<string> = new Set<SimFault['kind']>([
  'respond',
  'malformed',
  'truncated',
  'html',
  'slow',
  'hang',
  'hang_body',
  'cut_body',
  'reset',
]);

/** The fault as a `SimFault` when it is one (every simulator's own fault types include them). */
const asSimFault = (fault: { kind: string }): SimFault | undefined =>
  SIM_FAULT_KINDS.has(fault.kind) ? (fault as SimFault) : undefined;

/** How a simulator's tasks are read and finished, for `handle`. */
export interface SimTasks<E, T, D> {
  entries: ReadonlyMap<string, E>;
  /** A copy of the task as the tests read it (nothing of it aliases the live entry). */
  snapshot(e: E): T;
  /** Which tasks `requests()` lists; default all. */
  listed?(e: E): boolean;
  deliveries: readonly D[];
  isFinished(e: E): boolean;
  /** Ends the task's run now (its outcome unchanged) and sends what that makes due. */
  finish(e: E, now: number): void;
  pump(): void;
}

/** A request matched to a route, as a simulator's routes receive it. */
export interface SimRequest<M> {
  req: http.IncomingMessage;
  method: string;
  url: URL;
  match: M;
  body: Buffer;
}

/** What a provider's simulator tells the server. `M` is what its router makes of a path (the route and any ids). */
export interface SimRoutes<
  R extends string,
  F extends { kind: string },
  M extends { route: R },
  C extends SimCall<R> = SimCall<R>,
> {
  host?: string | undefined;
  port?: number | undefined;
  maxRequestBytes: number;
  /** The route of a path (`parts`: its non-empty segments), or undefined (404). */
  route(method: string, parts: string[], path: string): M | undefined;
  methods: Readonly<Record<R, readonly string[]>>;
  tooLarge(): SimResponse;
  notFound(path: string): SimResponse;
  methodNotAllowed(method: string): SimResponse;
  /** The JSON body of the 500 sent when a route throws. */
  crashed(message: string): unknown;
  /** What a 'before' fault spoils: nothing was processed, so this answer is all the client sees. */
  canned(match: M): SimResponse;
  /** Stands in for the real answer when a `truncated` fault came before it. */
  fallbackJson(): string;
  /** The provider's own faults (everything but `SimFault`). */
  spoil(fault: Exclude<F, SimFault>): Spoiled;
  /**
   * The answer to an API request (or a media file: the route `files`, served to any client, needs no User-Agent);
   * 'drop' destroys the connection after the work was done.
   */
  answer(r: SimRequest<M>): SimResponse | 'drop' | Promise<SimResponse | 'drop'>;
  /** Heard on every request before it is answered: sends what the clock has made due. */
  onRequest(): void;
  /** Heard with every answer written, to log more of it in the call (kie keeps its envelope code). */
  logAnswer?(call: C, answer: SimResponse): void;
}

interface ActiveFault<R extends string, F> {
  fault: F;
  routes: ReadonlySet<R>;
  remaining: number;
  phase: 'before' | 'after';
}

/** What an outbound request came back with: status 0 on a network error, a timeout or a closed simulator. */
export interface SimOutboundResult {
  status: number;
  contentType: string;
}

/**
 * Creates a simulator's shared state; `listen` then starts its server. `apiRoutes` are what a fault hits when its
 * options name no route.
 */
export function simServer<R extends string, F extends { kind: string }, C extends SimCall<R> = SimCall<R>>(base: {
  clock: Clock;
  random: () => number;
  apiRoutes: readonly R[];
}) {
  const { clock } = base;
  const timers = simTimers(base.random);
  const calls: C[] = [];
  const faults: ActiveFault<R, F>[] = [];
  const inflight = new Set<Promise<void>>();
  const stalled = new Set<http.ServerResponse>();
  const outboundAbort = new AbortController();
  const agent = new Agent({ keepAliveTimeout: 1000 });
  const submitAttempts = new Map<string, number>();
  let server: http.Server | undefined;
  let closed = false;

  /**
   * Counts a submit of this exact prompt, and says whether its `[sim:rate_limit:N]` or `[sim:server_error:N]` marker
   * refuses this attempt (the first N are refused).
   */
  function submitAttempt(prompt: string): { attempt: number; refusal: 'rate_limit' | 'server_error' | undefined } {
    const attempt = (submitAttempts.get(prompt) ?? 0) + 1;
    submitAttempts.set(prompt, attempt);
    const hits = (name: string) => {
      const m = new RegExp(`\\[sim:${name}:(\\d+)\\]`).exec(prompt);
      return m !== null && attempt <= Number(m[1]);
    };
    return { attempt, refusal: hits('rate_limit') ? 'rate_limit' : hits('server_error') ? 'server_error' : undefined };
  }

  function takeFault(route: R, phase: 'before' | 'after'): F | undefined {
    const i = faults.findIndex((f) => f.phase === phase && f.routes.has(route));
    if (i < 0) return undefined;
    const active = faults[i]!;
    if (--active.remaining <= 0) faults.splice(i, 1);
    return active.fault;
  }

  function faultResponse(routes: SimRoutes<R, F, { route: R }, C>, fault: F, real: SimResponse): Spoiled {
    const common = asSimFault(fault);
    if (!common) return routes.spoil(fault as Exclude<F, SimFault>);
    if (common.kind !== 'respond') return spoilCommon(common, real, routes.fallbackJson);
    const headers = { 'content-type': 'application/json', ...common.headers };
    return { status: common.status, headers, body: common.text ?? JSON.stringify(common.body ?? {}) };
  }

  /** One outbound request (a webhook, an image fetch), cut off by its timeout or by `close`. */
  async function send(
    url: string,
    o: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; timeoutMs: number },
  ): Promise<SimOutboundResult> {
    try {
      const res = await request(url, {
        method: o.method ?? 'GET',
        ...(o.headers ? { headers: o.headers } : {}),
        ...(o.body !== undefined ? { body: o.body } : {}),
        dispatcher: agent,
        signal: AbortSignal.any([outboundAbort.signal, AbortSignal.timeout(o.timeoutMs)]),
      });
      await res.body.dump();
      return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? '') };
    } catch {
      return { status: 0, contentType: '' };
    }
  }

  /** A pause that `close` cuts short, so that no loop waits on a cleared timer. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      timers.later(ms, resolve);
      outboundAbort.signal.addEventListener('abort', () => resolve(), { once: true });
    });

  async function handle<M extends { route: R }>(
    routes: SimRoutes<R, F, M, C>,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const match = routes.route(method, url.pathname.split('/').filter(Boolean), url.pathname);
    const call = {
      method,
      path: url.pathname + url.search,
      route: match?.route ?? 'unknown',
      status: 0,
      at: clock.now(),
    } as C;
    calls.push(call);
    routes.onRequest();
    const write = (answer: SimResponse) => {
      if (res.destroyed) return;
      call.status = answer.status;
      routes.logAnswer?.(call, answer);
      writeResponse(res, answer);
    };

    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > routes.maxRequestBytes) return write(routes.tooLarge());
      chunks.push(chunk as Buffer);
    }
    if (!match) return write(routes.notFound(url.pathname));
    if (!routes.methods[match.route].includes(method)) return write(routes.methodNotAllowed(method));

    const deliver = (answer: SimResponse | 'drop', fault: F | undefined) =>
      deliverCall(req, res, answer, fault && answer !== 'drop' ? faultResponse(routes, fault, answer) : undefined, {
        write,
        stalled,
        later: timers.later,
      });
    const before = takeFault(match.route, 'before');
    const slow = before && asSimFault(before);
    if (slow?.kind === 'slow') {
      await new Promise<void>((resolve) => timers.later(slow.delayMs, resolve));
      if (res.destroyed || closed) return;
    } else if (before) {
      return deliver(routes.canned(match), before);
    }
    const answer =
      match.route !== 'files' && lacksUserAgent(req)
        ? MISSING_USER_AGENT
        : await routes.answer({ req, method, url, match, body: Buffer.concat(chunks) });
    deliver(answer, takeFault(match.route, 'after'));
  }

  /**
   * Runs `fire` once the clock reaches `dueAt()` on the holder's one timer; `dueAt` is asked again when the timer
   * fires, as a task finished early or a clock moved by hand changes it.
   */
  function wakeAt(holder: { timer: NodeJS.Timeout | undefined }, dueAt: () => number, fire: () => void): void {
    if (closed) return;
    const wait = dueAt() - clock.now();
    if (!Number.isFinite(wait)) return;
    if (holder.timer) timers.cancel(holder.timer);
    holder.timer = timers.later(Math.max(0, wait) + 1, () => {
      holder.timer = undefined;
      if (clock.now() >= dueAt()) fire();
      else wakeAt(holder, dueAt, fire);
    });
  }

  function injectFault(fault: F, o: SimFaultOptions<R> = {}): void {
    const routes =
      o.routes === undefined
        ? base.apiRoutes
        : typeof o.routes === 'string'
          ? [o.routes as R]
          : (o.routes as readonly R[]);
    faults.push({ fault, routes: new Set(routes), remaining: o.times ?? 1, phase: o.phase ?? 'before' });
  }

  function clearFaults(): void {
    faults.length = 0;
  }

  async function webhooksSettled(): Promise<void> {
    while (inflight.size) await Promise.allSettled([...inflight]);
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    timers.clearAll();
    outboundAbort.abort();
    await Promise.allSettled([...inflight]);
    for (const res of stalled) res.destroy();
    if (server) {
      server.closeAllConnections();
      const s = server;
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    await agent.close();
  }

  /**
   * Posts a JSON webhook until the receiver answers 2xx or `attempts` are spent, waiting `retryDelayMs`, then twice
   * that, and so on between them. `headers` is asked again for each attempt (a signature carries its time);
   * `report` hears each attempt's status.
   */
  async function postWebhook(
    url: string,
    body: string,
    o: {
      headers: () => Record<string, string>;
      attempts: number;
      timeoutMs: number;
      retryDelayMs: number;
      report(attempt: number, status: number): void;
    },
  ): Promise<void> {
    for (let attempt = 1; attempt <= o.attempts && !closed; attempt++) {
      const { status } = await send(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...o.headers() },
        body,
        timeoutMs: o.timeoutMs,
      });
      o.report(attempt, status);
      if (status >= 200 && status < 300) return;
      if (attempt < o.attempts && !closed) await pause(o.retryDelayMs * 2 ** (attempt - 1));
    }
  }

  /**
   * fal's and kie's webhook: posted with their options' retries (2 by default, 100 ms apart and doubling) and
   * timeout (15 s), counted in `stats`; `record` keeps each attempt's status.
   */
  function postCountedWebhook(
    url: string,
    body: string,
    headers: () => Record<string, string>,
    o: { opts: SimWebhookOptions; stats: SimSubmitStats; record(attempt: number, status: number): void },
  ): Promise<void> {
    return postWebhook(url, body, {
      headers,
      attempts: 1 + (o.opts.webhookRetries ?? 2),
      timeoutMs: o.opts.webhookTimeoutMs ?? 15_000,
      retryDelayMs: o.opts.webhookRetryDelayMs ?? 100,
      report(attempt, status) {
        o.stats.webhookAttempts++;
        o.record(attempt, status);
        if (status >= 200 && status < 300) o.stats.webhooksDelivered++;
      },
    });
  }

  return {
    ...timers,
    calls,
    wakeAt,
    submitAttempt,
    get closed() {
      return closed;
    },

    /** Starts the server; resolves with its origin (`http://127.0.0.1:port`). */
    async listen<M extends { route: R }>(routes: SimRoutes<R, F, M, C>): Promise<string> {
      const s = http.createServer((req, res) => {
        handle(routes, req, res).catch((err: unknown) => {
          if (res.headersSent) return void res.destroy();
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify(routes.crashed(`simulator error: ${String(err)}`)));
        });
      });
      server = s;
      s.keepAliveTimeout = SIM_KEEP_ALIVE_MS;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(routes.port ?? 0, routes.host ?? '127.0.0.1', () => resolve());
      });
      const address = s.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${host}:${address.port}`;
    },

    pause,
    send,

    /** Keeps a delivery in the set `webhooksSettled` and `close` wait for. */
    track(p: Promise<void>): void {
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    },

    postWebhook,
    postCountedWebhook,

    /**
     * The members every simulator's handle shares, and `snapshot(id)` (which each names its own way: `request`,
     * `task`).
     */
    handle<E, T, D>(tasks: SimTasks<E, T, D>) {
      return {
        calls,
        webhookDeliveries: tasks.deliveries,
        requests: (): T[] =>
          [...tasks.entries.values()].filter((e) => tasks.listed?.(e) ?? true).map((e) => tasks.snapshot(e)),
        snapshot(id: string): T | undefined {
          const e = tasks.entries.get(id);
          return e ? tasks.snapshot(e) : undefined;
        },
        injectFault,
        clearFaults,
        complete(id: string): void {
          const e = tasks.entries.get(id);
          if (e && !tasks.isFinished(e)) tasks.finish(e, clock.now());
        },
        pump: tasks.pump,
        webhooksSettled,
        close,
      };
    },
  };
}

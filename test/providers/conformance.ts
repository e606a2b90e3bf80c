import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { GenerationParams } from '../../src/core/catalog.js';
import { ProviderError, WebhookAuthError } from '../../src/core/errors.js';
import type {
  Clock,
  GenerationRequest,
  TaskRef,
  TaskStatus,
  VideoProvider,
  WebhookRequest,
} from '../../src/core/ports.js';

/**
 * The contract every VideoProvider adapter must keep (ports.ts), checked against that adapter's own simulator.
 * An adapter plugs in with a `setup` that starts a fresh simulator per test and says how to make it misbehave.
 */

/** The adapter calls a fault can hit. 'status' covers whatever a status read needs (fal also reads the result). */
export type ProviderOperation = 'submit' | 'status' | 'cancel';

export interface SimFaults {
  /** The next `times` (default 1) calls of `op` answer 429, with `Retry-After: retryAfterS` only when given. */
  rateLimit(op: ProviderOperation, opts?: { times?: number; retryAfterS?: number }): void;
  /** The next calls answer this 5xx (default 503). */
  serverError(op: ProviderOperation, opts?: { times?: number; status?: number }): void;
  /** The next calls answer 200 with a body that is not JSON. */
  malformed(op: ProviderOperation, opts?: { times?: number }): void;
  /** The next calls never answer. */
  hang(op: ProviderOperation, opts?: { times?: number }): void;
  /** The next calls have their connection reset. */
  reset(op: ProviderOperation, opts?: { times?: number }): void;
}

/** Real time plus an offset the test can move forward (adapter and simulator share it). */
export interface TestClock extends Clock {
  advance(ms: number): void;
}

export function createTestClock(): TestClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

export interface ConformanceWebhooks {
  /** Pass as `webhookUrl`: deliveries to it are captured. */
  url: string;
  /** The next captured delivery, as the bot's webhook route would hand it to `verifyWebhook`. */
  next(): Promise<WebhookRequest>;
  /** The same delivery signed with a key the provider never held (signed schemes only). */
  forge?(real: WebhookRequest): WebhookRequest;
  /** The accepted clock skew, when the signature scheme has a timestamp. */
  maxAgeS?: number;
}

export interface ConformanceHarness {
  provider: VideoProvider;
  /** A request this provider's simulator accepts, for `prompt`. */
  request(prompt: string, extra?: Partial<GenerationRequest>): GenerationRequest;
  /** Prompt text the simulator understands. */
  markers: {
    /** The output is rejected by the provider's safety filter after generation. */
    contentPolicyOutput: string;
    /** The task stays queued until cancelled. */
    stayQueued: string;
  };
  faults: SimFaults;
  clock: TestClock;
  /** A task id of the right shape that the simulator never issued. */
  unknownTask: TaskRef;
  /** Present when the adapter verifies webhooks. */
  webhooks?: ConformanceWebhooks;
  close(): Promise<void>;
}

export interface ConformanceSetupOptions {
  /** The adapter's per-request deadline. */
  timeoutMs?: number;
  /** Simulated queue and generation times (ms). */
  queueMs?: number;
  runMs?: number;
}

export type ConformanceSetup = (opts: ConformanceSetupOptions) => Promise<ConformanceHarness>;

export interface ConformanceCapabilities {
  /** The provider can cancel a queued task. */
  cancelQueued: boolean;
  /** The adapter implements `verifyWebhook`. */
  webhooks: boolean;
  /**
   * How a webhook earns trust. 'signature' (default): it is verified and may carry the final status.
   * 'refetch': the provider signs nothing (Ark), so a webhook only names the task and the engine reads its status.
   * 'signed-refetch': the signature covers the task id but not the body (kie), so a verified webhook still only
   * names the task.
   */
  webhookTrust?: 'signature' | 'refetch' | 'signed-refetch';
  /** The provider's safety filter can reject a generated video (default true; kie's Suno music videos have none). */
  outputSafetyFilter?: boolean;
}

export const DEFAULT_TEST_PARAMS: GenerationParams = { durationS: 5, resolution: '720p', aspectRatio: '16:9' };

const terminal = (s: TaskStatus) => s.state === 'succeeded' || s.state === 'failed';

/** Polls until the task is final; returns every state seen (the last one final). */
export async function pollUntilFinal(
  provider: VideoProvider,
  task: TaskRef,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<TaskStatus[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  const seen: TaskStatus[] = [];
  for (;;) {
    const s = await provider.status(task);
    seen.push(s);
    if (terminal(s)) return seen;
    if (Date.now() > deadline) throw new Error(`task still ${s.state} after ${opts.timeoutMs ?? 5000} ms`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 15));
  }
}

export async function expectProviderError(
  promise: Promise<unknown>,
  expected: Partial<ProviderError>,
): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  expect(error).toMatchObject(expected);
  return error as ProviderError;
}

export function describeVideoProviderConformance(
  name: string,
  setup: ConformanceSetup,
  capabilities: ConformanceCapabilities,
): void {
  async function open(opts: ConformanceSetupOptions = {}): Promise<ConformanceHarness> {
    const h = await setup(opts);
    onTestFinished(() => h.close());
    return h;
  }

  describe(`${name} as a VideoProvider`, () => {
    describe('when a generation succeeds', () => {
      it('reports the task as queued or running before it succeeds', async () => {
        const h = await open({ queueMs: 60, runMs: 120 });
        const task = await h.provider.submit(h.request('a fox running through snow'));
        expect(task.taskId).not.toBe('');
        const seen = await pollUntilFinal(h.provider, task);
        expect(['queued', 'running']).toContain(seen[0]!.state);
        expect(seen.at(-1)).toMatchObject({ state: 'succeeded' });
      });

      it('returns a video URL that serves a real MP4', async () => {
        const h = await open({ queueMs: 0, runMs: 20 });
        const task = await h.provider.submit(h.request('a lighthouse at dusk'));
        const final = (await pollUntilFinal(h.provider, task)).at(-1)!;
        if (final.state !== 'succeeded') throw new Error(`expected success, got ${final.state}`);
        const res = await request(final.videoUrl);
        const bytes = Buffer.from(await res.body.arrayBuffer());
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toMatch(/^video\/mp4/);
        expect(Number(res.headers['content-length'])).toBe(bytes.length);
        expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      });
    });

    describe.runIf(capabilities.outputSafetyFilter ?? true)(
      'when the safety filter rejects the generated video',
      () => {
        it('returns a failed status of kind content_policy instead of throwing', async () => {
          const h = await open({ queueMs: 0, runMs: 20 });
          const task = await h.provider.submit(h.request(`a street scene ${h.markers.contentPolicyOutput}`));
          const final = (await pollUntilFinal(h.provider, task)).at(-1)!;
          expect(final.state).toBe('failed');
          if (final.state !== 'failed') return;
          expect(final.error).toBeInstanceOf(ProviderError);
          expect(final.error).toMatchObject({ kind: 'content_policy', stage: 'output', retryable: false });
        });
      },
    );

    describe('when the provider rate-limits', () => {
      it('throws a retryable rate_limit error carrying Retry-After', async () => {
        const h = await open();
        h.faults.rateLimit('submit', { retryAfterS: 7 });
        await expectProviderError(h.provider.submit(h.request('a cat')), {
          kind: 'rate_limit',
          retryable: true,
          retryAfterS: 7,
        });
      });

      it('throws a retryable rate_limit error without retryAfterS when no Retry-After is sent', async () => {
        const h = await open();
        h.faults.rateLimit('submit');
        const error = await expectProviderError(h.provider.submit(h.request('a cat')), {
          kind: 'rate_limit',
          retryable: true,
        });
        expect(error.retryAfterS).toBeUndefined();
      });

      it('throws rate_limit from a status read too', async () => {
        const h = await open();
        const task = await h.provider.submit(h.request('a cat'));
        h.faults.rateLimit('status', { retryAfterS: 3 });
        await expectProviderError(h.provider.status(task), { kind: 'rate_limit', retryable: true, retryAfterS: 3 });
      });
    });

    describe('when the provider fails with a 5xx', () => {
      it('throws a retryable transient error from submit', async () => {
        const h = await open();
        h.faults.serverError('submit', { status: 503 });
        await expectProviderError(h.provider.submit(h.request('a dog')), {
          kind: 'transient',
          retryable: true,
          status: 503,
        });
      });

      it('throws a retryable transient error from status, and the next read works', async () => {
        const h = await open();
        const task = await h.provider.submit(h.request('a dog'));
        h.faults.serverError('status', { status: 502 });
        await expectProviderError(h.provider.status(task), { kind: 'transient', retryable: true });
        await expect(h.provider.status(task)).resolves.toHaveProperty('state');
      });
    });

    describe('when a response is not JSON', () => {
      it('throws a retryable malformed error from submit', async () => {
        const h = await open();
        h.faults.malformed('submit');
        await expectProviderError(h.provider.submit(h.request('a bird')), { kind: 'malformed', retryable: true });
      });

      it('throws a retryable malformed error from status', async () => {
        const h = await open();
        const task = await h.provider.submit(h.request('a bird'));
        h.faults.malformed('status');
        await expectProviderError(h.provider.status(task), { kind: 'malformed', retryable: true });
      });
    });

    describe('when the provider does not answer', () => {
      it('gives up after the request deadline with a retryable transient error', async () => {
        const h = await open({ timeoutMs: 150 });
        h.faults.hang('submit');
        const started = Date.now();
        await expectProviderError(h.provider.submit(h.request('a slow one')), { kind: 'transient', retryable: true });
        expect(Date.now() - started).toBeLessThan(2000);
      });
    });

    describe('when the connection is reset', () => {
      it('throws a retryable transient error', async () => {
        const h = await open();
        const task = await h.provider.submit(h.request('a wave'));
        h.faults.reset('status');
        await expectProviderError(h.provider.status(task), { kind: 'transient', retryable: true });
      });
    });

    describe.runIf(capabilities.cancelQueued)('when a queued task is cancelled', () => {
      it('accepts the cancellation and the task never succeeds', async () => {
        const h = await open();
        const task = await h.provider.submit(h.request(`waiting ${h.markers.stayQueued}`));
        expect((await h.provider.status(task)).state).toBe('queued');
        await expect(h.provider.cancel(task)).resolves.toBe(true);
        const final = (await pollUntilFinal(h.provider, task)).at(-1)!;
        expect(final.state).toBe('failed');
      });
    });

    describe('when the task id is unknown', () => {
      it('throws not_found or reports the task failed', async () => {
        const h = await open();
        const outcome = await h.provider.status(h.unknownTask).then(
          (s) => s,
          (e: unknown) => e,
        );
        if (outcome instanceof ProviderError) expect(outcome.kind).toBe('not_found');
        else expect(outcome).toMatchObject({ state: 'failed' });
      });
    });

    const trust = capabilities.webhookTrust ?? 'signature';
    const signedWebhooks = capabilities.webhooks && (trust === 'signature' || trust === 'signed-refetch');
    const unsignedWebhooks = capabilities.webhooks && capabilities.webhookTrust === 'refetch';

    describe.runIf(signedWebhooks)('when a webhook arrives', () => {
      async function delivered(h: ConformanceHarness) {
        const hooks = h.webhooks!;
        const task = await h.provider.submit(h.request('a webhook fox', { webhookUrl: hooks.url }));
        return { task, delivery: await hooks.next() };
      }

      it('accepts a real delivery and reports the final status', async () => {
        const h = await open({ queueMs: 0, runMs: 20 });
        const { task, delivery } = await delivered(h);
        const event = await h.provider.verifyWebhook!(delivery);
        expect(event.taskId).toBe(task.taskId);
        expect(event.deliveryId).toContain(task.taskId);
        if (trust === 'signed-refetch') {
          expect(event.status).toBeUndefined();
          expect((await pollUntilFinal(h.provider, task)).at(-1)).toMatchObject({ state: 'succeeded' });
        } else {
          expect(event.status).toMatchObject({ state: 'succeeded', videoUrl: expect.stringMatching(/^https?:\/\//) });
        }
      });

      it.runIf(trust === 'signature')('rejects the delivery when one byte of the body changed', async () => {
        const h = await open({ queueMs: 0, runMs: 20 });
        const { delivery } = await delivered(h);
        const rawBody = Buffer.from(delivery.rawBody);
        rawBody[rawBody.length - 1] = rawBody[rawBody.length - 1] === 0x7d ? 0x20 : 0x7d;
        await expect(h.provider.verifyWebhook!({ headers: delivery.headers, rawBody })).rejects.toBeInstanceOf(
          WebhookAuthError,
        );
      });

      it('rejects a delivery signed with another key', async () => {
        const h = await open({ queueMs: 0, runMs: 20 });
        const { delivery } = await delivered(h);
        await expect(h.provider.verifyWebhook!(h.webhooks!.forge!(delivery))).rejects.toBeInstanceOf(WebhookAuthError);
      });

      it('rejects a delivery that is too old, when the scheme is timestamped', async (ctx) => {
        const h = await open({ queueMs: 0, runMs: 20 });
        if (h.webhooks!.maxAgeS === undefined) return ctx.skip();
        const { delivery } = await delivered(h);
        h.clock.advance((h.webhooks!.maxAgeS + 1) * 1000);
        await expect(h.provider.verifyWebhook!(delivery)).rejects.toBeInstanceOf(WebhookAuthError);
      });
    });

    describe.runIf(unsignedWebhooks)('when an unsigned webhook arrives', () => {
      it('names the task but reports no status, so only a status read moves the job', async () => {
        const h = await open({ queueMs: 0, runMs: 20 });
        const task = await h.provider.submit(h.request('a webhook fox', { webhookUrl: h.webhooks!.url }));
        const delivery = await h.webhooks!.next();
        const event = await h.provider.verifyWebhook!(delivery);
        expect(event.taskId).toBe(task.taskId);
        // Every field of an unsigned callback is the sender's choice: none may make a dedup key.
        expect(event.deliveryId).toBeUndefined();
        expect(event.status).toBeUndefined();
        const final = (await pollUntilFinal(h.provider, task)).at(-1)!;
        expect(final).toMatchObject({ state: 'succeeded' });
      });

      it('rejects a body that is not JSON', async () => {
        const h = await open();
        await expect(
          h.provider.verifyWebhook!({ headers: {}, rawBody: Buffer.from('not json') }),
        ).rejects.toBeInstanceOf(WebhookAuthError);
      });

      it('rejects a JSON body without a task id', async () => {
        const h = await open();
        await expect(
          h.provider.verifyWebhook!({ headers: {}, rawBody: Buffer.from('{"status":"succeeded"}') }),
        ).rejects.toBeInstanceOf(WebhookAuthError);
      });
    });
  });
}

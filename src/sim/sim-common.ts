import type { Clock } from '../core/ports.js';
import { tally, type CommonFault, type SimMillis } from './sim-http.js';

/**
 * What the three simulators show the outside alike: their prompt markers, options, counts, snapshots, call log,
 * faults and handle. Each simulator extends these with its provider's own names.
 */

/** The prompt markers every simulator reads; each adds its own (see its header). */
export const SIM_MARKERS = {
  contentPolicy: '[sim:content_policy]',
  contentPolicyInput: '[sim:content_policy_input]',
  fail: '[sim:fail]',
  hang: '[sim:hang]',
  badVideoUrl: '[sim:bad_video_url]',
  expiredVideo: '[sim:expired_video]',
  htmlVideo: '[sim:html_video]',
  dupWebhook: '[sim:dup_webhook]',
  noWebhook: '[sim:no_webhook]',
  rateLimit: (n: number) => `[sim:rate_limit:${n}]`,
  serverError: (n: number) => `[sim:server_error:${n}]`,
} as const;

/** fal's and kie's webhook knobs (Ark names its own after its callbacks). */
export interface SimWebhookOptions {
  /** Extra copies of every webhook (the providers may deliver more than once). */
  webhookDuplicates?: number;
  /** Re-deliveries after a failed webhook (fal: 10 within 2 h; kie [U]). */
  webhookRetries?: number;
  webhookRetryDelayMs?: number;
  /** fal and kie give the receiver 15 s (§3.4). */
  webhookTimeoutMs?: number;
  /** Webhooks go to loopback addresses only unless this is set. */
  allowExternalWebhooks?: boolean;
}

/** The options every simulator takes. */
export interface SimOptions {
  /** Waiting before generation starts, ms (fixed or a [min, max] range). */
  queueMs?: SimMillis;
  /** Generation time, ms. */
  runMs?: SimMillis;
  /** Time source for task states, timestamps and lifetimes. Timers still run in real time. */
  clock?: Clock;
  /** For ranges (and seeds); inject for determinism. */
  random?: () => number;
  host?: string;
  port?: number;
}

/** The counts fal's and kie's simulators share (Ark names its own after its create call). */
export interface SimSubmitStats {
  /** Every POST to a submit endpoint, accepted or not. */
  submitCalls: number;
  /** Tasks created. */
  submissions: number;
  fileCalls: number;
  webhookAttempts: number;
  webhooksDelivered: number;
  submissionsByPrompt: Map<string, number>;
  /** By the `x-clipbot-job-id` header the adapter sends. */
  submissionsByJobId: Map<string, number>;
}

export const submitStats = (): SimSubmitStats => ({
  submitCalls: 0,
  submissions: 0,
  fileCalls: 0,
  webhookAttempts: 0,
  webhooksDelivered: 0,
  submissionsByPrompt: new Map(),
  submissionsByJobId: new Map(),
});

/** Counts a task created (not a refused submit) by its prompt and its job. */
export function countSubmission(stats: SimSubmitStats, prompt: string, jobId: string | undefined): void {
  stats.submissions++;
  tally(stats.submissionsByPrompt, prompt);
  tally(stats.submissionsByJobId, jobId);
}

/** What fal's and kie's snapshots of a task share: the request as received and where it stands. */
export interface SimSubmission<S, O> {
  readonly id: string;
  readonly model: string;
  readonly input: Readonly<Record<string, unknown>>;
  readonly prompt: string;
  readonly jobId: string | undefined;
  readonly webhookUrl: string | undefined;
  readonly submittedAt: number;
  readonly state: S;
  readonly outcome: O;
}

/** The shared part of a snapshot; its input is a copy, so a test cannot change the live task. */
export function snapshotSubmission<S, O>(e: Omit<SimSubmission<S, O>, 'state'>, state: S): SimSubmission<S, O> {
  const { id, model, prompt, jobId, webhookUrl, submittedAt, outcome } = e;
  return { id, model, input: structuredClone(e.input), prompt, jobId, webhookUrl, submittedAt, state, outcome };
}

/** One request as the call log keeps it. */
export interface SimCall<R extends string> {
  method: string;
  /** Path and query as received. */
  path: string;
  route: R | 'unknown';
  /** HTTP status; 0 when no answer was sent (hang, reset). */
  status: number;
  at: number;
}

/** The faults every simulator injects; each provider adds its rate-limit and error bodies. */
export type SimFault =
  /** Any canned answer (`text` wins over `body`). */
  { kind: 'respond'; status: number; body?: unknown; text?: string; headers?: Record<string, string> } | CommonFault;

export interface SimFaultOptions<R extends string> {
  /** Which endpoints; default every API endpoint (not the media files). */
  routes?: R | readonly R[];
  /** How many matching requests it hits; default 1. */
  times?: number;
  /** 'before' answers without doing anything; 'after' does the work (e.g. creates the task), then spoils the answer. */
  phase?: 'before' | 'after';
}

/**
 * What every simulator's handle offers the tests: its call log, webhook deliveries and snapshots of what it received
 * (`T`), its fault knobs and its clock-driven lifecycle.
 */
export interface SimHandle<R extends string, F, C, T, D> {
  readonly url: string;
  readonly calls: readonly C[];
  readonly webhookDeliveries: readonly D[];
  requests(): T[];
  injectFault(fault: F, opts?: SimFaultOptions<R>): void;
  clearFaults(): void;
  /** Finish a task now (its outcome still follows its prompt markers). */
  complete(id: string): void;
  /** Sends due webhooks now (for a clock the test moves by hand). */
  pump(): void;
  /** Resolves once no webhook delivery is in flight. */
  webhooksSettled(): Promise<void>;
  close(): Promise<void>;
}

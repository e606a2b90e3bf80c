import { randomBytes } from 'node:crypto';
/**
 * Two kinds of error (conventions §5): a UserError is the member's doing and is shown to them;
 * anything else is ours or a provider's and is logged with a correlation id.
 */

/** Something the user can fix: shown in plain words, logged at info, nothing is charged. */
export class UserError extends Error {
  constructor(
    readonly identifier: string,
    message: string,
    readonly context: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export type ProviderErrorKind =
  | 'validation'
  | 'content_policy'
  | 'rate_limit'
  | 'transient'
  | 'auth'
  | 'insufficient_funds'
  | 'not_found'
  | 'timeout'
  | 'malformed'
  | 'unknown';

/** A provider call failed. `retryable` errors are retried with backoff; the others fail the job. */
export class ProviderError extends Error {
  readonly kind: ProviderErrorKind;
  readonly retryable: boolean;
  /** Seconds the provider asked us to wait (Retry-After), when it said. */
  readonly retryAfterS?: number;
  /** HTTP status, when there was one. */
  readonly status?: number;
  /** Content-policy rejections: did the input or the generated output trip the filter? */
  readonly stage?: 'input' | 'output';

  constructor(
    kind: ProviderErrorKind,
    message: string,
    opts: {
      retryable?: boolean;
      retryAfterS?: number;
      status?: number;
      stage?: 'input' | 'output';
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'ProviderError';
    this.kind = kind;
    this.retryable = opts.retryable ?? (kind === 'rate_limit' || kind === 'transient');
    if (opts.retryAfterS !== undefined) this.retryAfterS = opts.retryAfterS;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.stage !== undefined) this.stage = opts.stage;
  }
}

/** A webhook whose signature, timestamp or shape does not check out. Answered 401, never acted on. */
export class WebhookAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookAuthError';
  }
}

/** Input we fetched (image, video) that is unsafe or unusable: private address, too big, wrong type, too slow. */
export class MediaError extends Error {
  constructor(
    readonly kind:
      | 'blocked_address'
      | 'bad_url'
      | 'too_large'
      | 'bad_type'
      | 'timeout'
      | 'http_status'
      | 'network'
      | 'storage'
      | 'not_found',
    message: string,
    opts: { cause?: unknown; status?: number; detail?: string } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'MediaError';
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.detail !== undefined) this.detail = opts.detail;
  }

  /** For `http_status`: what the server answered (a 404 on an expired link is not worth retrying). */
  readonly status?: number;
  /** For the log only, when the message is shown to a member and must not say it (which address a name resolved to). */
  readonly detail?: string;
}

/** Plain words for the member, by provider error kind. Never includes provider internals. */
export function describeProviderError(error: ProviderError): string {
  switch (error.kind) {
    case 'content_policy':
      return error.stage === 'output'
        ? 'The provider’s safety filter rejected the generated video. Try a different prompt.'
        : 'The provider’s safety filter rejected the prompt or image. Try rewording it.';
    case 'validation':
      return `The provider refused these settings: ${error.message}`;
    case 'rate_limit':
      return 'The provider is too busy right now. Please try again in a few minutes.';
    case 'timeout':
      return 'The provider took too long to generate the video.';
    case 'auth':
    case 'insufficient_funds':
      return 'The video service is not available right now (the bot owner has been told).';
    default:
      return 'The video service failed to generate this video.';
  }
}

/** A short id that ties what a member is shown ("ref 1a2b3c4d") to the log line with the details. */
export const newCorrelationId = () => randomBytes(4).toString('hex');

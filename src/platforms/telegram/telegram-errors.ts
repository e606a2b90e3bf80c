import { GrammyError, HttpError } from 'grammy';
import type { Transformer } from 'grammy';

/**
 * The bot token is part of every Bot API URL (`/bot<token>/<method>`, `/file/bot<token>/<path>`), and the
 * errors of the HTTP client underneath grammY (node-fetch) quote the URL they failed on. These helpers make sure
 * no error leaving the Telegram adapter, and no log line it writes, can carry the token.
 */

export function scrubToken(text: string, token: string): string {
  return token ? text.split(token).join('[token]') : text;
}

/**
 * An API transformer, installed first (innermost): every error grammY raises for a call is replaced by one
 * whose message and cause have the token removed, before any retry logic or caller sees it. `HttpError` stays
 * an `HttpError` (so auto-retry still recognises it), without the underlying error object that quoted the URL.
 */
export function scrubbingTransformer(token: string): Transformer {
  return async (prev, method, payload, signal) => {
    try {
      return await prev(method, payload, signal);
    } catch (error) {
      throw scrubError(error, token);
    }
  };
}

export function scrubError(error: unknown, token: string): unknown {
  if (error instanceof HttpError) {
    const inner = error.error instanceof Error ? error.error : undefined;
    const cause = new Error(scrubToken(inner?.message ?? String(error.error), token));
    cause.name = inner?.name ?? 'Error';
    const code = (inner as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string') Object.assign(cause, { code });
    return new HttpError(scrubToken(error.message, token), cause);
  }
  if (error instanceof GrammyError) return error;
  if (error instanceof Error) {
    const copy = new Error(scrubToken(error.message, token));
    copy.name = error.name;
    return copy;
  }
  return new Error(scrubToken(String(error), token));
}

/**
 * What a log line may say about a Telegram failure: never the error object itself (a GrammyError carries the
 * call's payload, a BotError the whole context with its API client, and that client knows the token).
 */
export function describeTelegramError(error: unknown, token: string): Record<string, unknown> {
  if (error instanceof GrammyError)
    return {
      type: 'GrammyError',
      method: error.method,
      code: error.error_code,
      description: scrubToken(error.description, token),
    };
  if (error instanceof HttpError) {
    const cause = error.error instanceof Error ? scrubToken(error.error.message, token) : undefined;
    return { type: 'HttpError', message: scrubToken(error.message, token), ...(cause ? { cause } : {}) };
  }
  if (error instanceof Error)
    return { type: error.name, message: scrubToken(error.message, token), stack: scrubToken(error.stack ?? '', token) };
  return { type: typeof error, message: scrubToken(String(error), token) };
}

export function isNotModified(error: unknown): boolean {
  return error instanceof GrammyError && error.error_code === 400 && /message is not modified/i.test(error.description);
}

/** The message is gone or can no longer be edited: the engine should post a fresh one. */
export function isMessageGone(error: unknown): boolean {
  return (
    error instanceof GrammyError &&
    error.error_code === 400 &&
    /message to edit not found|message can't be edited|message_id_invalid|message not found/i.test(error.description)
  );
}

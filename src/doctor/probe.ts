/**
 * The doctor's HTTP calls: plain fetch with a deadline, and network failures turned into words an owner can act
 * on ("connection refused", "name not found"). URLs are never part of a message: Telegram's carries the token.
 */

import { CLIPBOT_USER_AGENT } from '../version.js';

export const PROBE_TIMEOUT_MS = 10_000;

export interface ProbeAnswer {
  status: number;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export class ProbeError extends Error {
  override readonly name = 'ProbeError';
}

export async function probe(
  url: string,
  init: { headers?: Record<string, string> } = {},
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<ProbeAnswer> {
  let response: Response;
  try {
    // Named as the bot names itself: a provider's edge that refuses nameless clients would refuse the check too.
    const headers = { 'user-agent': CLIPBOT_USER_AGENT, ...init.headers };
    response = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new ProbeError(networkReason(error, timeoutMs));
  }
  const text = await response.text().catch(() => '');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

function networkReason(error: unknown, timeoutMs: number): string {
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  const code = ((error as { cause?: { code?: unknown } }).cause?.code ?? '') as string;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name lookup failed',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    CERT_HAS_EXPIRED: 'TLS certificate expired',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
    ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate is for another host name',
  };
  return words[code] ?? (code ? `network error ${code}` : 'network error');
}

/** `obj.key` when `obj` is an object, else undefined: for reading answers whose shape is not guaranteed. */
export function field(obj: unknown, key: string): unknown {
  return obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>)[key] : undefined;
}

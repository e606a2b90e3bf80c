import { request, type Dispatcher } from 'undici';
import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import { startDeadline } from '../deadline.js';
import type { ModerationResult, ModerationService } from '../core/moderation/prefilter.js';
import { CLIPBOT_USER_AGENT } from '../version.js';

export interface OpenAiModerationOptions {
  /** MODERATION_URL: a base URL ("https://api.openai.com", ".../v1") or the full endpoint (".../v1/moderations"). */
  url: string;
  apiKey?: string;
  /** Overall deadline for one call, connection to last byte. */
  timeoutMs: number;
  /** For tests or a proxy; the global undici dispatcher otherwise. */
  dispatcher?: Dispatcher;
}

// A moderation answer is a few hundred bytes; anything far larger is not one.
const MAX_RESPONSE_BYTES = 1024 * 1024;

const responseSchema = z.object({
  results: z
    .array(
      z.object({
        flagged: z.boolean(),
        // Some OpenAI-compatible servers send null for categories they do not score.
        categories: z.record(z.string(), z.boolean().nullable()),
      }),
    )
    .min(1),
});

/**
 * Where to POST: a URL whose path already ends in /moderations is used as is, one ending in /v1 gets
 * /moderations, anything else gets /v1/moderations. The query string (e.g. an api-version) is kept.
 */
export function moderationEndpoint(url: string): string {
  const endpoint = new URL(url);
  const path = endpoint.pathname.replace(/\/+$/, '');
  if (path.endsWith('/moderations')) endpoint.pathname = path;
  else if (path.endsWith('/v1')) endpoint.pathname = `${path}/moderations`;
  else endpoint.pathname = `${path}/v1/moderations`;
  return endpoint.toString();
}

/**
 * An OpenAI-compatible moderation client. Throws `ProviderError` when no verdict could be had:
 * `timeout` past `timeoutMs`, `auth` on 401/403, `rate_limit` on 429, `transient` on 5xx and network errors,
 * `malformed` for an answer that is not the documented shape. The caller's abort is rethrown as is.
 */
export function createOpenAiModeration(options: OpenAiModerationOptions): ModerationService {
  const endpoint = moderationEndpoint(options.url);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    'user-agent': CLIPBOT_USER_AGENT,
  };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  return {
    async moderate(text, signal) {
      const deadline = startDeadline(options.timeoutMs, signal);
      try {
        const response = await request(endpoint, {
          method: 'POST',
          headers,
          body: JSON.stringify({ input: text }),
          signal: deadline.signal,
          ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        });
        if (response.statusCode < 200 || response.statusCode >= 300) {
          await response.body.dump().catch(() => undefined);
          throw statusError(response.statusCode);
        }
        return parseResult(await readCapped(response.body));
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (deadline.expired) {
          throw new ProviderError('timeout', `moderation did not answer within ${options.timeoutMs} ms`, {
            cause: err,
          });
        }
        if (err instanceof ProviderError) throw err;
        throw new ProviderError('transient', 'moderation request failed', { cause: err });
      } finally {
        deadline.dispose();
      }
    },
  };
}

function statusError(status: number): ProviderError {
  if (status === 401 || status === 403)
    return new ProviderError('auth', `moderation refused the API key (HTTP ${status})`, { status });
  if (status === 404)
    return new ProviderError('not_found', 'moderation endpoint not found (HTTP 404): check MODERATION_URL', { status });
  if (status === 429) return new ProviderError('rate_limit', 'moderation is rate limited (HTTP 429)', { status });
  if (status >= 500) return new ProviderError('transient', `moderation failed (HTTP ${status})`, { status });
  return new ProviderError('unknown', `moderation answered HTTP ${status}`, { status, retryable: false });
}

async function readCapped(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > MAX_RESPONSE_BYTES) throw new ProviderError('malformed', 'moderation answer is too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseResult(raw: string): ModerationResult {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ProviderError('malformed', 'moderation answer is not JSON', { cause: err });
  }
  const parsed = responseSchema.safeParse(json);
  if (!parsed.success) {
    throw new ProviderError('malformed', `moderation answer has an unexpected shape: ${z.prettifyError(parsed.error)}`);
  }
  const categories = new Set<string>();
  for (const result of parsed.data.results) {
    for (const [name, hit] of Object.entries(result.categories)) if (hit === true) categories.add(name);
  }
  return { flagged: parsed.data.results.some((r) => r.flagged), categories: [...categories] };
}

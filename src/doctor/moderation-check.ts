import type { Config } from '../config.js';
import { ProviderError } from '../core/errors.js';
import { createOpenAiModeration, moderationEndpoint } from '../providers/openai-moderation.js';
import { fail, ok, skip, type CheckResult } from './check.js';

/** One harmless prompt through the bot's own moderation client: the endpoint answers, with a verdict. */
export async function checkModeration(config: Config): Promise<CheckResult> {
  const title = 'Moderation';
  if (!config.MODERATION_URL)
    return skip(title, 'not configured (the blocklist alone filters prompts; set MODERATION_URL to add an LLM check)');
  const endpoint = moderationEndpoint(config.MODERATION_URL);
  const moderation = createOpenAiModeration({
    url: config.MODERATION_URL,
    timeoutMs: config.MODERATION_TIMEOUT_MS,
    ...(config.MODERATION_API_KEY ? { apiKey: config.MODERATION_API_KEY } : {}),
  });
  try {
    const verdict = await moderation.moderate('a red fox running through snow');
    return ok(title, `${endpoint} answers (a harmless prompt: ${verdict.flagged ? 'flagged!' : 'not flagged'})`);
  } catch (error) {
    const kind = error instanceof ProviderError ? error.kind : 'unknown';
    // A network failure's code (ECONNREFUSED, ENOTFOUND) says more than "request failed".
    const code = (error as { cause?: { cause?: { code?: unknown }; code?: unknown } }).cause;
    const detail = code?.code ?? code?.cause?.code;
    const reason = `${(error as Error).message}${typeof detail === 'string' ? ` (${detail})` : ''}`;
    const fix =
      kind === 'auth'
        ? 'set MODERATION_API_KEY to a key the endpoint accepts'
        : kind === 'not_found' || kind === 'malformed'
          ? 'set MODERATION_URL to an OpenAI-compatible base URL (e.g. https://api.openai.com) or its /v1/moderations URL'
          : `check that ${new URL(endpoint).host} is reachable; until it is, prompts are ${config.MODERATION_FAIL_OPEN ? 'let through (MODERATION_FAIL_OPEN=true)' : 'refused'}`;
    return fail(title, `${endpoint}: ${reason}`, fix);
  }
}

import type { Logger } from '../ports.js';
import { compileBlocklist, type BlocklistMatcher } from './blocklist.js';
import { normalizeForMatching } from './normalize.js';

export interface ModerationResult {
  flagged: boolean;
  /** Categories the service flagged, most relevant first (e.g. "sexual", "violence/graphic"). */
  categories: string[];
}

/**
 * A content classifier (an OpenAI-compatible /v1/moderations endpoint, or anything alike).
 * Contract: resolves with a verdict, or throws when it could not get one (network, timeout, bad answer);
 * the prefilter decides whether that blocks the prompt (fail-closed) or lets it through (fail-open).
 * When `signal` aborts, it rejects with the signal's reason.
 */
export interface ModerationService {
  moderate(text: string, signal?: AbortSignal): Promise<ModerationResult>;
}

export type PrefilterVerdict = { ok: true } | { ok: false; rule: string; message: string };

export interface Prefilter {
  /**
   * The blocklist first (local and cheap), then the moderation service if one is configured. `community` (where the
   * prompt was made) adds that community's own terms to the global ones.
   */
  check(prompt: string, signal?: AbortSignal, community?: string): Promise<PrefilterVerdict>;
  /** Drops the cached database terms; the blocklist commands call it after every change. */
  invalidate(): void;
  /** True when `check` may call a moderation service: slow, and worth avoiding for a request refused anyway. */
  readonly callsOut: boolean;
}

export interface PrefilterDeps {
  /** BLOCKLIST from the config, as the operator wrote it. */
  configTerms: readonly string[];
  /** Terms added with /blocklist (community '' = everywhere); read once and cached until `invalidate()`. */
  loadDbTerms: () => Promise<readonly { term: string; community: string }[]>;
  moderation?: ModerationService;
  /** What to do when the moderation service cannot answer: let prompts through (true) or refuse them. */
  failOpen: boolean;
  logger: Logger;
}

const BLOCKLIST_MESSAGE = 'Your prompt was blocked by this server’s word filter. Please rephrase it and try again.';
const UNAVAILABLE_MESSAGE =
  'The content check is not available right now, so no new videos can be started. Please try again in a few minutes.';

/** Plain words for the categories of OpenAI's moderation model; unknown ones get a generic phrase. */
const CATEGORY_WORDS: Readonly<Record<string, string>> = {
  'sexual/minors': 'sexual content involving minors',
  sexual: 'sexual content',
  'self-harm/instructions': 'self-harm',
  'self-harm/intent': 'self-harm',
  'self-harm': 'self-harm',
  'hate/threatening': 'hateful threats',
  hate: 'hateful content',
  'harassment/threatening': 'threats',
  harassment: 'harassment',
  'violence/graphic': 'graphic violence',
  violence: 'violence',
  'illicit/violent': 'help with violent crime',
  illicit: 'help with illegal activity',
};
// When several categories are flagged, the member is told the most serious one, in this order.
const CATEGORY_ORDER = Object.keys(CATEGORY_WORDS);

export function createPrefilter(deps: PrefilterDeps): Prefilter {
  const logger = deps.logger.child({ component: 'prefilter' });
  const configMatcher = compileBlocklist(deps.configTerms);
  if (configMatcher.size < deps.configTerms.length) {
    logger.warn(
      { configured: deps.configTerms.length, usable: configMatcher.size },
      'some BLOCKLIST entries are duplicates or too short to match and are ignored',
    );
  }
  // One matcher per community that has terms ('' = the global ones), built on first use after each change. The load
  // itself is cached, so checks arriving while it runs share it, and `invalidate()` during a load drops its result.
  let dbMatchers: Promise<Map<string, BlocklistMatcher>> | undefined;
  async function loadMatchers(): Promise<Map<string, BlocklistMatcher>> {
    const byCommunity = new Map<string, string[]>();
    for (const { term, community } of await deps.loadDbTerms())
      byCommunity.set(community, [...(byCommunity.get(community) ?? []), term]);
    return new Map([...byCommunity].map(([c, terms]) => [c, compileBlocklist(terms)]));
  }
  async function matchersFor(community: string | undefined): Promise<BlocklistMatcher[]> {
    if (!dbMatchers) {
      const loading = loadMatchers();
      dbMatchers = loading;
      // A failed load is not kept: the check that waited for it fails, the next one reads again.
      loading.catch(() => {
        if (dbMatchers === loading) dbMatchers = undefined;
      });
    }
    const matchers = await dbMatchers;
    return [matchers.get(''), community ? matchers.get(community) : undefined].filter((m) => m !== undefined);
  }

  async function findTerm(
    prompt: string,
    community: string | undefined,
  ): Promise<{ term: string; source: 'config' | 'db' } | undefined> {
    const text = normalizeForMatching(prompt);
    const fromConfig = configMatcher.findIn(text);
    if (fromConfig !== undefined) return { term: fromConfig, source: 'config' };
    for (const matcher of await matchersFor(community)) {
      const fromDb = matcher.findIn(text);
      if (fromDb !== undefined) return { term: fromDb, source: 'db' };
    }
    return undefined;
  }

  return {
    callsOut: deps.moderation !== undefined,
    async check(prompt, signal, community) {
      const hit = await findTerm(prompt, community);
      if (hit) {
        // The term goes to the log for moderators checking false positives; never to the member.
        logger.info({ rule: 'blocklist', term: hit.term, source: hit.source }, 'prompt blocked');
        return { ok: false, rule: 'blocklist', message: BLOCKLIST_MESSAGE };
      }
      if (!deps.moderation) return { ok: true };

      // Reading the moderators' terms may have waited for the store: a request cancelled meanwhile is not sent out.
      signal?.throwIfAborted();
      let result: ModerationResult;
      try {
        result = await deps.moderation.moderate(prompt, signal);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (deps.failOpen) {
          logger.warn({ err }, 'moderation service unavailable; letting the prompt through (MODERATION_FAIL_OPEN)');
          return { ok: true };
        }
        logger.warn({ err }, 'moderation service unavailable; refusing the prompt');
        return { ok: false, rule: 'moderation:unavailable', message: UNAVAILABLE_MESSAGE };
      }
      if (!result.flagged) return { ok: true };

      const category = mostSerious(result.categories);
      logger.info({ rule: `moderation:${category}`, categories: result.categories }, 'prompt blocked');
      return {
        ok: false,
        rule: `moderation:${category}`,
        message: `Your prompt was blocked by the content check because it looks like ${
          CATEGORY_WORDS[category] ?? 'content this server does not allow'
        }. Please rephrase it and try again.`,
      };
    },
    invalidate() {
      dbMatchers = undefined;
    },
  };
}

function mostSerious(categories: readonly string[]): string {
  // Category names come from an outside service and end up in logs and the rule id: keep them tame.
  const clean = categories
    .map((c) =>
      c
        .toLowerCase()
        .replace(/[^a-z0-9/_-]/g, '')
        .slice(0, 64),
    )
    .filter(Boolean);
  const known = CATEGORY_ORDER.find((c) => clean.includes(c));
  return known ?? clean[0] ?? 'flagged';
}

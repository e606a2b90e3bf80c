import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../logger.js';
import { openSqliteStore } from '../../store/sqlite/index.js';
import type { Logger } from '../ports.js';
import type { Store } from '../store.js';
import { normalizeBlocklistTerm } from './normalize.js';
import {
  createPrefilter,
  type ModerationResult,
  type ModerationService,
  type PrefilterDeps,
  type PrefilterVerdict,
} from './prefilter.js';

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

/** A moderation service that answers from a script, recording what it was asked. */
function scriptedModeration(
  answer: (text: string) => Promise<ModerationResult>,
): ModerationService & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    moderate(text) {
      asked.push(text);
      return answer(text);
    },
  };
}

const WARN = 40;

function messageOf(verdict: PrefilterVerdict): string {
  if (verdict.ok) throw new Error('expected the prompt to be blocked');
  return verdict.message;
}

describe('createPrefilter', () => {
  let db: Store;
  let moderatorId: number;
  let loads: number;
  let log: ReturnType<typeof recordingLogger>;

  beforeEach(async () => {
    db = openSqliteStore(':memory:');
    moderatorId = (await db.users.insert({ platform: 'console', platformUserId: 'mod', displayName: '', createdAt: 0 }))
      .id;
    loads = 0;
    log = recordingLogger();
  });
  afterEach(() => db.close());

  async function addDbTerm(raw: string): Promise<void> {
    await db.blocklist.add(normalizeBlocklistTerm(raw)!, '', moderatorId, 0);
  }

  function prefilter(overrides: Partial<PrefilterDeps> = {}) {
    return createPrefilter({
      configTerms: [],
      loadDbTerms: () => {
        loads++;
        return db.blocklist.list();
      },
      failOpen: false,
      logger: log.logger,
      ...overrides,
    });
  }

  describe('when the prompt is clean and no moderation service is configured', () => {
    it('lets it through', async () => {
      await addDbTerm('nude');
      expect(await prefilter({ configTerms: ['gore'] }).check('a fox running through snow')).toEqual({ ok: true });
    });
  });

  describe('when the prompt contains a configured term', () => {
    it('blocks it as "blocklist" without naming the term', async () => {
      const verdict = await prefilter({ configTerms: ['Gore'] }).check('lots of g.o.r.e please');
      expect(verdict).toMatchObject({ ok: false, rule: 'blocklist' });
      expect(messageOf(verdict)).toMatch(/word filter/);
      expect(messageOf(verdict).toLowerCase()).not.toContain('gore');
    });

    it('logs the matched term for moderators, not the prompt', async () => {
      await prefilter({ configTerms: ['gore'] }).check('secret prompt with gore');
      const line = log.lines.find((l) => l.msg === 'prompt blocked');
      expect(line).toMatchObject({ rule: 'blocklist', term: 'gore', source: 'config' });
      expect(JSON.stringify(log.lines)).not.toContain('secret prompt');
    });
  });

  describe('when the prompt contains a term moderators added', () => {
    it('blocks it', async () => {
      await addDbTerm('N00DE');
      expect(await prefilter().check('a noode beach')).toMatchObject({ ok: false, rule: 'blocklist' });
    });

    it('reads the terms once and keeps them until invalidated', async () => {
      const filter = prefilter();
      await filter.check('one');
      await addDbTerm('fox');
      expect(await filter.check('a fox')).toEqual({ ok: true });
      expect(loads).toBe(1);

      filter.invalidate();
      expect(await filter.check('a fox')).toMatchObject({ ok: false, rule: 'blocklist' });
      expect(loads).toBe(2);
    });
  });

  describe("when the moderators' terms cannot be read", () => {
    it('fails that check and reads them again at the next one', async () => {
      let failing = true;
      const filter = prefilter({
        loadDbTerms: async () => {
          loads++;
          if (failing) throw new Error('database is locked');
          return db.blocklist.list();
        },
      });
      await expect(filter.check('a fox')).rejects.toThrow('database is locked');
      failing = false;
      await addDbTerm('fox');
      expect(await filter.check('a fox')).toMatchObject({ ok: false, rule: 'blocklist' });
      expect(loads).toBe(2);
    });
  });

  describe('when the terms change while they are being read', () => {
    it('does not keep the stale read', async () => {
      const filter = prefilter();
      const first = filter.check('a fox');
      await addDbTerm('fox');
      filter.invalidate();
      await first;
      expect(await filter.check('a fox')).toMatchObject({ ok: false, rule: 'blocklist' });
    });
  });

  describe('when some configured terms are unusable', () => {
    it('warns once at start-up', () => {
      prefilter({ configTerms: ['ok-term', 'x', 'OK term'] });
      expect(log.lines.filter((l) => l.level === WARN)).toHaveLength(1);
    });
  });

  describe('when a moderation service is configured', () => {
    it('skips it for a prompt the blocklist already refused', async () => {
      const moderation = scriptedModeration(async () => ({ flagged: false, categories: [] }));
      await prefilter({ configTerms: ['gore'], moderation }).check('gore');
      expect(moderation.asked).toEqual([]);
    });

    it('sends it the prompt as typed and lets a clean prompt through', async () => {
      const moderation = scriptedModeration(async () => ({ flagged: false, categories: [] }));
      expect(await prefilter({ moderation }).check('A Fox, running!')).toEqual({ ok: true });
      expect(moderation.asked).toEqual(['A Fox, running!']);
    });

    it('blocks a flagged prompt under its most serious category, in plain words', async () => {
      const moderation = scriptedModeration(async () => ({
        flagged: true,
        categories: ['violence', 'sexual/minors', 'sexual'],
      }));
      const verdict = await prefilter({ moderation }).check('…');
      expect(verdict).toMatchObject({ ok: false, rule: 'moderation:sexual/minors' });
      expect(messageOf(verdict)).toContain('sexual content involving minors');
    });

    it('names an unknown category generically and keeps it tame in the rule', async () => {
      const moderation = scriptedModeration(async () => ({ flagged: true, categories: ['Weird Thing!<script>'] }));
      const verdict = await prefilter({ moderation }).check('…');
      expect(verdict).toMatchObject({ ok: false, rule: 'moderation:weirdthingscript' });
      expect(messageOf(verdict)).toContain('content this server does not allow');
    });

    it('uses "flagged" when the service flags without a category', async () => {
      const moderation = scriptedModeration(async () => ({ flagged: true, categories: [] }));
      expect(await prefilter({ moderation }).check('…')).toMatchObject({ ok: false, rule: 'moderation:flagged' });
    });
  });

  describe('when the moderation service fails', () => {
    const broken = () => scriptedModeration(async () => Promise.reject(new Error('connect ECONNREFUSED')));

    it('refuses the prompt with a try-again-later message when failing closed', async () => {
      const verdict = await prefilter({ moderation: broken(), failOpen: false }).check('a fox');
      expect(verdict).toMatchObject({ ok: false, rule: 'moderation:unavailable' });
      expect(messageOf(verdict)).toMatch(/try again in a few minutes/);
      expect(log.lines.some((l) => l.level === WARN)).toBe(true);
    });

    it('lets the prompt through and warns when failing open', async () => {
      const verdict = await prefilter({ moderation: broken(), failOpen: true }).check('a fox');
      expect(verdict).toEqual({ ok: true });
      expect(log.lines.find((l) => l.level === WARN)?.msg).toMatch(/letting the prompt through/);
    });

    it('still applies the blocklist when failing open', async () => {
      const verdict = await prefilter({ configTerms: ['gore'], moderation: broken(), failOpen: true }).check('gore');
      expect(verdict).toMatchObject({ ok: false, rule: 'blocklist' });
    });
  });

  describe('when the caller aborts during moderation', () => {
    it('rejects with the abort reason instead of a verdict', async () => {
      const controller = new AbortController();
      let asked!: () => void;
      const moderationAsked = new Promise<void>((resolve) => (asked = resolve));
      const moderation: ModerationService = {
        moderate: (_text, signal) => {
          asked();
          return new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason)));
        },
      };
      const pending = prefilter({ moderation, failOpen: true }).check('a fox', controller.signal);
      await moderationAsked;
      const reason = new Error('job cancelled');
      controller.abort(reason);
      await expect(pending).rejects.toBe(reason);
    });
  });

  describe("when the caller aborts while the moderators' terms are read", () => {
    it('rejects with the abort reason without asking the moderation service', async () => {
      const controller = new AbortController();
      const moderation = scriptedModeration(async () => ({ flagged: false, categories: [] }));
      const pending = prefilter({ moderation, failOpen: true }).check('a fox', controller.signal);
      const reason = new Error('job cancelled');
      controller.abort(reason);
      await expect(pending).rejects.toBe(reason);
      expect(moderation.asked).toEqual([]);
    });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { findCommand } from '../../commands/index.js';
import { runCommand } from '../../commands/run-command.js';
import type { CommandContext, CommandDeps } from '../../commands/types.js';
import { loadConfig } from '../../src/config.js';
import { createPrefilter } from '../../src/core/moderation/prefilter.js';
import { silentLogger } from '../../src/logger.js';
import { EngineHarness } from '../helpers/engine-harness.js';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setup() {
  h = await EngineHarness.start();
  const deps: CommandDeps = {
    engine: h.engine,
    db: h.db,
    clock: { now: () => Date.now() },
    config: loadConfig({ STARTING_CREDITS: '200' }),
    logger: silentLogger,
    prefilter: createPrefilter({ configTerms: [], loadDbTerms: async () => [], failOpen: false, logger: silentLogger }),
  };
  const replies: string[] = [];
  const ctx = (intakeKey: string): CommandContext => ({
    platform: 'console',
    actor: { platform: 'console', platformUserId: 'owner', role: 'owner' },
    dest: { platform: 'console', chatId: 'c', userId: 'owner' },
    intakeKey,
    reply: async (text) => void replies.push(text),
  });
  return { h, deps, replies, ctx };
}

describe('runCommand', () => {
  describe('when the same moderator update is delivered twice', () => {
    it('grants the credits once and says the second was already handled', async () => {
      const { h, deps, replies, ctx } = await setup();
      const credits = findCommand('credits')!;
      const raw = { action: 'grant', user: 'console:ann', amount: '50', reason: 'contest' };
      expect((await runCommand(credits, raw, ctx('telegram:1:99'), deps)).ok).toBe(true);
      expect((await runCommand(credits, raw, ctx('telegram:1:99'), deps)).ok).toBe(false);
      expect(replies.at(-1)).toBe('This request was already handled.');
      expect(await h.balance('ann')).toBe(250);
    });
  });

  describe('when a moderator command fails', () => {
    it('lets the same message be tried again', async () => {
      const { h, deps, ctx } = await setup();
      const credits = findCommand('credits')!;
      expect(
        (await runCommand(credits, { action: 'take', user: 'console:ann', amount: '999' }, ctx('k1'), deps)).ok,
      ).toBe(false);
      expect(
        (await runCommand(credits, { action: 'take', user: 'console:ann', amount: '50' }, ctx('k1'), deps)).ok,
      ).toBe(true);
      expect(await h.balance('ann')).toBe(150);
    });
  });
});

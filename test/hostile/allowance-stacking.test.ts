import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCommand } from '../../commands/index.js';
import { parseCommandText } from '../../commands/parse-text.js';
import { runCommand } from '../../commands/run-command.js';
import type { CommandDeps } from '../../commands/types.js';
import { loadConfig } from '../../src/config.js';
import { listBlockedTerms } from '../../src/core/admin.js';
import { createPrefilter } from '../../src/core/moderation/prefilter.js';
import { findUser } from '../../src/core/users.js';
import { silentLogger } from '../../src/logger.js';
import { manualClock } from '../helpers/db.js';
import { EngineHarness } from '../helpers/engine-harness.js';
import { expectLedgerBalanced } from '../helpers/ledger.js';

/**
 * The allowance-stacking trick of issue 11 (finding 5), typed as a member would: spend the free daily allowance on
 * videos that stay queued, wait for midnight, /balance, /cancel. Before the fix each day added the allowance on top
 * of the held credits (80 → 160 → 240 …); now the member ends every day with the one allowance they are given.
 */

const FREE = 80;
const DAY_MS = 86_400_000;
const clock = manualClock();
let h: EngineHarness;
let deps: CommandDeps;
let seq = 0;

beforeAll(async () => {
  // No provider slot ever frees up, so every video stays queued (and its price held) until it is cancelled.
  h = await EngineHarness.start({ clock, settings: { freeDailyCredits: FREE, startingCredits: 0, maxRunningJobs: 0 } });
  deps = {
    engine: h.engine,
    db: h.db,
    clock,
    config: loadConfig({ STARTING_CREDITS: '0', FREE_DAILY_CREDITS: String(FREE) }),
    logger: silentLogger,
    prefilter: createPrefilter({
      configTerms: [],
      loadDbTerms: () => listBlockedTerms(h.db),
      failOpen: false,
      logger: silentLogger,
    }),
  };
});
afterAll(async () => h.close());

async function say(text: string): Promise<string> {
  const parsed = parseCommandText(text, findCommand);
  if (!parsed.ok) throw new Error(parsed.error);
  const replies: string[] = [];
  const result = await runCommand(
    parsed.command,
    parsed.raw,
    {
      platform: 'console',
      actor: { platform: 'console', platformUserId: 'mallory', role: 'member' },
      dest: { platform: 'console', chatId: 'c', userId: 'mallory' },
      intakeKey: `console:c:${++seq}`,
      reply: async (reply) => void replies.push(reply),
    },
    deps,
  );
  if (!result.ok) throw new Error(result.error);
  return replies.join('\n');
}

describe('the free daily allowance against a member stacking it', () => {
  it('tops up to the allowance counting credits held by queued videos, so cancelling after midnight gains nothing', async () => {
    expect(await say('/balance')).toBe(
      `You have ${FREE} credits. Your balance is topped up to ${FREE} each day (UTC).`,
    );
    const endOfDay: number[] = [];
    for (let day = 0; day < 4; day++) {
      await say('/video a fox --resolution 480p');
      await say('/video a fox --resolution 480p');
      clock.set(Math.floor(clock.now() / DAY_MS) * DAY_MS + DAY_MS + 1000);
      expect(await say('/balance')).toBe(
        `You have 0 credits (${FREE} more held for videos in progress). Your balance is topped up to ${FREE} each day (UTC).`,
      );
      expect(await say('/cancel')).toMatch(/^Cancelled job \w+; 40 credits are back in your balance\.$/);
      expect(await say('/cancel')).toMatch(/^Cancelled job \w+; 40 credits are back in your balance\.$/);
      endOfDay.push(await h.balance('mallory'));
    }
    expect(endOfDay).toEqual([FREE, FREE, FREE, FREE]);
    const user = (await findUser(h.db, 'console', 'mallory'))!;
    const daily = (await h.rows.ledger()).filter((e) => e.userId === user.id && e.kind === 'daily');
    expect(daily.map((e) => e.amount)).toEqual([FREE, 0, 0, 0, 0]);
    await expectLedgerBalanced(h.rows);
  });
});

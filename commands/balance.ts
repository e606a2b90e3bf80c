import { z } from 'zod';
import { accountSummary, purchaseLines } from '../src/core/admin.js';
import { applyDailyAllowance } from '../src/core/credits/ledger.js';
import { ensureUser } from '../src/core/users.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'balance',
  description: 'Show your credits',
  access: 'member',
  options: z.object({}),
  async execute(ctx, _o, { db, clock, config }) {
    const user = await db.transaction(async (tx) => {
      const u = await ensureUser(tx, clock, ctx.actor, config.STARTING_CREDITS);
      await applyDailyAllowance(tx, clock, u.id, { freeDailyCredits: config.FREE_DAILY_CREDITS });
      return u;
    });
    const { balance, held } = await accountSummary(db, user.id);
    const purchases = await purchaseLines(db, user.id, 3);
    const daily =
      config.FREE_DAILY_CREDITS > 0 ? ` Your balance is topped up to ${config.FREE_DAILY_CREDITS} each day (UTC).` : '';
    const bought = purchases.length ? `\nRecent purchases:\n${purchases.join('\n')}` : '';
    await ctx.reply(
      `You have ${balance} credits${held ? ` (${held} more held for videos in progress)` : ''}.${daily}${bought}`,
    );
  },
});

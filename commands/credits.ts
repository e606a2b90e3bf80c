import { z } from 'zod';
import { adjustCredits, describeUser, resolveTarget } from '../src/core/admin.js';
import { positiveAmount, reason, userRef } from './options.js';
import { adminContext } from './admin-context.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'credits',
  description: 'Grant credits out of this community’s budget (moderators); owners also create and take them',
  access: 'moderator',
  options: z.object({
    action: z.enum(['grant', 'take'], { error: 'use grant or take' }),
    user: userRef,
    amount: positiveAmount,
    reason: reason.default(''),
  }),
  positional: ['action', 'user', 'amount', 'reason'],
  async execute(ctx, o, deps) {
    const admin = await adminContext(ctx, deps);
    const target = await resolveTarget(admin, o.user, ctx.platform);
    const { balance, budgetLeft } = await adjustCredits(admin, target, o.action, o.amount, o.reason);
    const verb = o.action === 'grant' ? 'Gave' : 'Took';
    const fromBudget = budgetLeft === undefined ? '' : ` from this community's budget (${budgetLeft} left)`;
    await ctx.reply(
      `${verb} ${o.amount} credits ${o.action === 'grant' ? 'to' : 'from'} ${describeUser(target)}${fromBudget}. New balance: ${balance}.`,
    );
  },
});

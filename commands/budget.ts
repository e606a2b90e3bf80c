import { z } from 'zod';
import { adjustBudget } from '../src/core/admin.js';
import { budgetOf, parseCommunityRef } from '../src/core/communities.js';
import { UserError } from '../src/core/errors.js';
import { adminContext } from './admin-context.js';
import { positiveAmount, reason } from './options.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'budget',
  description: 'Credits this community’s moderators may grant (moderators); owners give and take them',
  access: 'moderator',
  options: z.object({
    action: z.enum(['show', 'give', 'take'], { error: 'use show, give or take' }).default('show'),
    amount: positiveAmount.optional(),
    community: z.string().trim().max(60).optional(),
    reason: reason.default(''),
  }),
  positional: ['action', 'amount', 'community', 'reason'],
  optionHelp: {
    action: 'show (default), give or take (owners)',
    amount: 'Credits to give or take',
    community: 'discord:<server id> or telegram:<group id>; defaults to here',
  },
  async execute(ctx, o, deps) {
    const admin = await adminContext(ctx, deps);
    // Owners may name any community; a moderator's is always the one they are in.
    const named = o.community !== undefined && admin.role === 'owner' ? parseCommunityRef(o.community) : undefined;
    if (o.community !== undefined && admin.role === 'owner' && !named) {
      throw new UserError('bad_community', 'Name the community as discord:<server id> or telegram:<group id>.');
    }
    const community = named ?? admin.community;
    if (!community)
      throw new UserError(
        'no_community',
        'Use this in a server or group, or name one: /budget show telegram:<group id>.',
      );
    if (o.action === 'show') {
      await ctx.reply(`${community}: ${await budgetOf(deps.db, community)} credits left to grant.`);
      return;
    }
    if (o.amount === undefined)
      throw new UserError('missing_amount', `Say how many credits: /budget ${o.action} <amount>`);
    const left = await adjustBudget(admin, community, o.action, o.amount, o.reason);
    await ctx.reply(
      `${o.action === 'give' ? 'Gave' : 'Took'} ${o.amount} credits ${o.action === 'give' ? 'to' : 'from'} the budget of ${community}. Left: ${left}.`,
    );
  },
});

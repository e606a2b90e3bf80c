import { z } from 'zod';
import { describeUser, resolveTarget, setBanned } from '../src/core/admin.js';
import { userRef } from './options.js';
import { adminContext } from './admin-context.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'unban',
  description: 'Lift a ban (moderators)',
  access: 'moderator',
  options: z.object({ user: userRef }),
  positional: ['user'],
  async execute(ctx, o, deps) {
    const admin = await adminContext(ctx, deps);
    const target = await resolveTarget(admin, o.user, ctx.platform);
    await setBanned(admin, target, false, '');
    if (admin.role !== 'owner' && target.banned) {
      await ctx.reply(
        `${describeUser(target)} is no longer banned in this community, but the bot owner's ban still applies everywhere.`,
      );
      return;
    }
    await ctx.reply(
      `${describeUser(target)} may generate videos ${admin.role === 'owner' ? 'again' : 'in this community again'}.`,
    );
  },
});

import { z } from 'zod';
import { describeUser, resolveTarget, setBanned } from '../src/core/admin.js';
import { reason, userRef } from './options.js';
import { adminContext } from './admin-context.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'ban',
  description: 'Stop a user from generating videos here (moderators); an owner’s ban applies everywhere',
  access: 'moderator',
  options: z.object({ user: userRef, reason: reason.default('') }),
  positional: ['user', 'reason'],
  async execute(ctx, o, deps) {
    const admin = await adminContext(ctx, deps);
    const target = await resolveTarget(admin, o.user, ctx.platform);
    await setBanned(admin, target, true, o.reason);
    const where = admin.role === 'owner' ? 'everywhere' : 'in this community';
    await ctx.reply(`${describeUser(target)} is banned ${where}${o.reason ? `: ${o.reason}` : ''}.`);
  },
});

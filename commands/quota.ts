import { z } from 'zod';
import { describeUser, resolveTarget, setDailyQuota } from '../src/core/admin.js';
import { userRef } from './options.js';
import { adminContext } from './admin-context.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'quota',
  description: 'Set how many videos a user may make per day (moderators); "default" removes the override',
  access: 'moderator',
  options: z.object({
    user: userRef,
    daily_jobs: z.union([z.literal('default').transform(() => null), z.coerce.number().int().min(0).max(10_000)], {
      error: 'must be a whole number from 0 to 10000, or "default"',
    }),
  }),
  positional: ['user', 'daily_jobs'],
  async execute(ctx, o, deps) {
    const admin = await adminContext(ctx, deps);
    const target = await resolveTarget(admin, o.user, ctx.platform);
    await setDailyQuota(admin, target, o.daily_jobs);
    await ctx.reply(
      o.daily_jobs === null
        ? `${describeUser(target)} now has the default quota${admin.role === 'owner' ? ` of ${deps.config.DAILY_JOB_QUOTA} videos a day` : ' here'}.`
        : `${describeUser(target)} may now make ${o.daily_jobs} videos a day${admin.role === 'owner' ? '' : ' here'}.`,
    );
  },
});

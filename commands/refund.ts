import { z } from 'zod';
import { describeUser, refundJob } from '../src/core/admin.js';
import { jobId, reason } from './options.js';
import { adminContext } from './admin-context.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'refund',
  description: 'Give back the credits of a finished video (moderators)',
  access: 'moderator',
  options: z.object({ job: jobId, reason: reason.default('') }),
  positional: ['job', 'reason'],
  async execute(ctx, o, deps) {
    const { amount, user } = await refundJob(await adminContext(ctx, deps), o.job, o.reason);
    await ctx.reply(`Refunded ${amount} credits for job ${o.job} to ${describeUser(user)}.`);
  },
});

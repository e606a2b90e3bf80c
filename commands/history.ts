import { z } from 'zod';
import { purchaseLines, recentJobs } from '../src/core/admin.js';
import { ensureUser } from '../src/core/users.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'history',
  description: 'Your recent videos and purchases',
  access: 'member',
  options: z.object({
    limit: z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(20, 'must be at most 20')
      .default(5),
  }),
  positional: ['limit'],
  async execute(ctx, o, { db, clock, config }) {
    const user = await ensureUser(db, clock, ctx.actor, config.STARTING_CREDITS);
    const rows = await recentJobs(db, user.id, o.limit);
    const purchases = await purchaseLines(db, user.id, o.limit);
    const bought = purchases.length ? `Purchases:\n${purchases.join('\n')}` : '';
    if (rows.length === 0 && bought) return void (await ctx.reply(`You have not made any videos yet.\n${bought}`));
    if (rows.length === 0) {
      await ctx.reply('You have not made any videos yet. Try /video a red fox running through snow');
      return;
    }
    const lines = rows.map((job) => {
      const when = new Date(job.createdAt).toISOString().slice(0, 16).replace('T', ' ');
      const prompt = job.prompt.length > 60 ? `${job.prompt.slice(0, 59)}…` : job.prompt;
      const tail =
        job.status === 'succeeded' && job.mediaUrl
          ? ` ${job.mediaUrl}`
          : job.errorMessage
            ? ` (${job.errorMessage})`
            : '';
      return `${job.id} · ${when} UTC · ${job.status} · ${job.price} credits · “${prompt}”${tail}`;
    });
    await ctx.reply(bought ? `${lines.join('\n')}\n${bought}` : lines.join('\n'));
  },
});

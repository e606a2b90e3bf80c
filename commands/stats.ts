import { z } from 'zod';
import { collectStats } from '../src/core/admin.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'stats',
  description: 'Usage and spend (moderators)',
  access: 'moderator',
  options: z.object({}),
  async execute(ctx, _o, { db, clock }) {
    const s = collectStats(db, clock);
    const byStatus = Object.entries(s.jobsByStatus).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    await ctx.reply(
      [
        `Jobs: ${byStatus}`,
        `Today: ${s.jobsToday} jobs, ${s.creditsSpentToday} credits spent, about $${s.spendUsdToday.toFixed(2)} at providers`,
        `Users: ${s.usersTotal}. Credits held by jobs in progress: ${s.creditsHeld}`,
      ].join('\n'),
    );
  },
});

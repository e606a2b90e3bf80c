import { z } from 'zod';
import { collectStats } from '../src/core/admin.js';
import { communityOf } from './admin-context.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'stats',
  description: 'Usage and spend of this community (moderators); owners see everything',
  access: 'moderator',
  options: z.object({}),
  async execute(ctx, _o, { db, clock }) {
    // Moderators see their own community's figures only; owners see the whole bot.
    const s = await collectStats(db, clock, ctx.actor.role === 'owner' ? undefined : communityOf(ctx));
    const byStatus = Object.entries(s.jobsByStatus).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    await ctx.reply(
      [
        s.community ? `This community (${s.community}):` : 'Everywhere:',
        `Jobs: ${byStatus}`,
        `Today: ${s.jobsToday} jobs, ${s.creditsSpentToday} credits spent, about $${s.spendUsdToday.toFixed(2)} at providers`,
        `${s.community ? 'Members served' : 'Users'}: ${s.usersTotal}. Credits held by jobs in progress: ${s.creditsHeld}`,
        ...(s.budget !== undefined ? [`Budget left to grant: ${s.budget} credits`] : []),
      ].join('\n'),
    );
  },
});

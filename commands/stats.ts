import { z } from 'zod';
import { collectRevenue, collectStats, type PlatformRevenue } from '../src/core/admin.js';
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
    const byStatus =
      Object.entries(s.jobsByStatus)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none';
    await ctx.reply(
      [
        s.community ? `This community (${s.community}):` : 'Everywhere:',
        `Jobs: ${byStatus}`,
        `Today: ${s.jobsToday} jobs, ${s.creditsSpentToday} credits spent, about $${s.spendUsdToday.toFixed(2)} at providers`,
        `${s.community ? 'Members served' : 'Users'}: ${s.usersTotal}. Credits held by jobs in progress: ${s.creditsHeld}`,
        ...(s.budget !== undefined ? [`Budget left to grant: ${s.budget} credits`] : []),
        // Money is the owners' alone: moderators see their community's usage, not what members paid.
        ...(ctx.actor.role === 'owner' ? await revenueLines(db) : []),
      ].join('\n'),
    );
  },
});

const PLATFORM_NAMES: Record<string, string> = { telegram: 'Telegram', discord: 'Discord' };

/** Revenue per platform after refunds, and the provider spend of every job so far beside it. */
async function revenueLines(db: Parameters<typeof collectRevenue>[0]): Promise<string[]> {
  const { platforms, usdTotal } = await collectRevenue(db);
  const spend = `Provider spend, all time: about $${usdTotal.toFixed(2)}`;
  if (platforms.length === 0) return ['Revenue: no purchases yet', spend];
  return ['Revenue after refunds, all time:', ...platforms.map(describeRevenue), spend];
}

function describeRevenue(p: PlatformRevenue): string {
  const name = PLATFORM_NAMES[p.platform] ?? p.platform;
  const paid =
    p.stars !== undefined
      ? ` for ${p.stars} ⭐`
      : p.platform === 'discord'
        ? ' (Discord does not tell bots the price paid)'
        : '';
  const refunds = p.refunded > 0 ? `, ${p.refunded} refunded (${p.takenBack} credits taken back)` : '';
  return `  ${name}: ${p.credits} credits sold${paid}; ${p.purchases} purchase${p.purchases === 1 ? '' : 's'}${refunds}`;
}

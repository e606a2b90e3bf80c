import { z } from 'zod';
import { listCommunities } from '../src/core/communities.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'communities',
  description: 'Every server and group the bot serves, with members served and credits spent (owners)',
  access: 'owner',
  options: z.object({}),
  async execute(ctx, _o, { db, config }) {
    const all = await listCommunities(db);
    if (all.length === 0) {
      await ctx.reply('The bot has not been used in any server or group yet.');
      return;
    }
    const allowed = config.ALLOWED_COMMUNITIES;
    const lines = all.map((c) => {
      const flags = [
        c.leftAt ? 'left' : undefined,
        allowed.length && !allowed.includes(c.id) ? 'not on ALLOWED_COMMUNITIES' : undefined,
      ].filter(Boolean);
      const name = c.title ? `${c.title} (${c.id})` : c.id;
      return `${name}: ${c.membersServed} members served, ${c.creditsSpent} credits spent, budget ${c.budget}${flags.length ? ` [${flags.join(', ')}]` : ''}`;
    });
    await ctx.reply(lines.join('\n'));
  },
});

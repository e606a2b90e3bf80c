import { z } from 'zod';
import { UserError } from '../src/core/errors.js';
import { addBlockedTerm, listBlockedTerms, removeBlockedTerm } from '../src/core/admin.js';
import { adminContext } from './admin-context.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'blocklist',
  description: 'Manage this community’s prompt blocklist (moderators); owners manage the global one',
  access: 'moderator',
  options: z.object({
    action: z.enum(['add', 'remove', 'list'], { error: 'use add, remove or list' }),
    term: z.string().trim().max(100, 'must be at most 100 characters').optional(),
  }),
  positional: ['action', 'term'],
  async execute(ctx, o, deps) {
    const admin = await adminContext(ctx, deps);
    if (o.action === 'list') {
      const terms = await listBlockedTerms(deps.db);
      const global = terms.filter((t) => t.community === '').map((t) => t.term);
      const here = admin.community ? terms.filter((t) => t.community === admin.community).map((t) => t.term) : [];
      const fromConfig = deps.config.BLOCKLIST.length;
      await ctx.reply(
        [
          admin.community && (here.length || admin.role !== 'owner')
            ? `This community: ${here.length ? here.join(', ') : 'no terms'}.`
            : undefined,
          // Moderators see how many global terms apply, owners see them.
          admin.role === 'owner'
            ? `Everywhere: ${global.length ? global.join(', ') : 'no terms'}.`
            : `Plus ${global.length} global terms set by the bot owner.`,
          fromConfig ? `Plus ${fromConfig} from the BLOCKLIST setting.` : undefined,
        ]
          .filter(Boolean)
          .join('\n'),
      );
      return;
    }
    if (!o.term) throw new UserError('missing_term', `Say which term to ${o.action}: /blocklist ${o.action} <term>`);
    const where = admin.role === 'owner' ? 'everywhere' : 'in this community';
    if (o.action === 'add') {
      const stored = await addBlockedTerm(admin, o.term);
      await ctx.reply(`Prompts containing “${stored}” (in any spelling) are now refused ${where}.`);
    } else {
      await removeBlockedTerm(admin, o.term);
      await ctx.reply(`Removed from the blocklist ${where}.`);
    }
    deps.prefilter.invalidate();
  },
});

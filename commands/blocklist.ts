import { z } from 'zod';
import { UserError } from '../src/core/errors.js';
import { addBlockedTerm, listBlockedTerms, removeBlockedTerm } from '../src/core/admin.js';
import { adminContext } from './admin-context.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'blocklist',
  description: 'Manage the prompt blocklist (moderators)',
  access: 'moderator',
  options: z.object({
    action: z.enum(['add', 'remove', 'list'], { error: 'use add, remove or list' }),
    term: z.string().trim().max(100, 'must be at most 100 characters').optional(),
  }),
  positional: ['action', 'term'],
  async execute(ctx, o, deps) {
    if (o.action === 'list') {
      const terms = listBlockedTerms(deps.db);
      const fromConfig = deps.config.BLOCKLIST.length;
      await ctx.reply(
        `${terms.length ? `Blocked terms: ${terms.join(', ')}` : 'No terms were added with /blocklist.'}` +
          (fromConfig ? `\nPlus ${fromConfig} from the BLOCKLIST setting.` : ''),
      );
      return;
    }
    if (!o.term) throw new UserError('missing_term', `Say which term to ${o.action}: /blocklist ${o.action} <term>`);
    const admin = adminContext(ctx, deps);
    if (o.action === 'add') {
      const stored = addBlockedTerm(admin, o.term);
      await ctx.reply(`Prompts containing “${stored}” (in any spelling) are now refused.`);
    } else {
      removeBlockedTerm(admin, o.term);
      await ctx.reply('Removed from the blocklist.');
    }
    deps.prefilter.invalidate();
  },
});

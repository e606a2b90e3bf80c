import { z } from 'zod';
import { localeOf, t } from './i18n.js';
import { defineCommand } from './types.js';

/**
 * Telegram requires bots that sell to answer /paysupport: where a member gets help with a payment. The owners'
 * own text (PAYSUPPORT_TEXT) when set; otherwise a default in the member's language pointing to the owners (on
 * Telegram, a link to each owner's account).
 */
export default defineCommand({
  name: 'paysupport',
  description: 'Help with a payment',
  access: 'member',
  options: z.object({}),
  async execute(ctx, _o, { config }) {
    if (config.PAYSUPPORT_TEXT) return void (await ctx.reply(config.PAYSUPPORT_TEXT));
    const prefix = `${ctx.platform}:`;
    const owners = config.OWNER_IDS.filter((id) => id.startsWith(prefix)).map((id) => id.slice(prefix.length));
    const links =
      ctx.platform === 'telegram' ? owners.filter((id) => /^\d+$/.test(id)).map((id) => `tg://user?id=${id}`) : [];
    await ctx.reply(
      t('paysupport_default', localeOf(ctx.locale), { owners: links.length ? ` (${links.join(', ')})` : '' }),
    );
  },
});

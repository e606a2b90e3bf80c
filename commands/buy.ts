import { z } from 'zod';
import { UserError } from '../src/core/errors.js';
import { findUser } from '../src/core/users.js';
import { localeOf, t } from './i18n.js';
import { defineCommand } from './types.js';

/**
 * Lists the credit packs the owners sell here and sends an invoice for each (or for the one asked for): on Telegram
 * an invoice message carries its own Pay button, and the payment is credited when Telegram reports it
 * (telegram-payments.ts). Where the platform takes no payments yet (Discord, the console) it says so.
 */
export default defineCommand({
  name: 'buy',
  description: 'Buy credits with Telegram Stars',
  access: 'member',
  options: z.object({
    credits: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').positive('must be positive').optional(),
  }),
  positional: ['credits'],
  optionHelp: { credits: 'the pack to buy, by its number of credits (default: every pack)' },
  async execute(ctx, o, { db }) {
    const locale = localeOf(ctx.locale);
    if (!ctx.shop) return void (await ctx.reply(t('buy_not_here', locale)));
    const { packs } = ctx.shop;
    if (packs.length === 0) return void (await ctx.reply(t('buy_not_set_up', locale)));
    const user = await findUser(db, ctx.actor.platform, ctx.actor.platformUserId);
    if (user?.banned) throw new UserError('banned', 'You are banned from using this bot.');
    const list = packs.map((p) => t('pack', locale, { credits: String(p.credits), stars: String(p.stars) })).join(', ');
    const chosen = o.credits === undefined ? packs : packs.filter((p) => p.credits === o.credits);
    if (chosen.length === 0) return void (await ctx.reply(t('buy_no_such_pack', locale, { credits: String(o.credits), packs: list })));
    await ctx.reply(t('buy_packs', locale, { packs: list }));
    for (const pack of chosen) await ctx.shop.sendInvoice(pack);
  },
});

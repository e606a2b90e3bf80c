import { z } from 'zod';
import { UserError } from '../src/core/errors.js';
import { findUser } from '../src/core/users.js';
import { localeOf, t } from './i18n.js';
import { defineCommand, type CommandContext, type PremiumShop } from './types.js';
import type { Store } from '../src/core/store.js';

/**
 * Lists the credit packs the owners sell here and sends an invoice for each (or for the one asked for): on Telegram
 * an invoice message carries its own Pay button, and the payment is credited when Telegram reports it
 * (telegram-payments.ts). On Discord it shows Discord's premium purchase buttons, one per SKU on sale; the purchase is
 * credited when Discord reports the entitlement (discord-entitlements.ts). Where the platform takes no payments (the
 * console) it says so.
 */
export default defineCommand({
  name: 'buy',
  description: 'Buy credits (Telegram Stars, Discord premium purchases)',
  access: 'member',
  options: z.object({
    credits: z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .positive('must be positive')
      .optional(),
  }),
  positional: ['credits'],
  optionHelp: { credits: 'the pack to buy, by its number of credits (default: every pack)' },
  async execute(ctx, o, { db }) {
    const locale = localeOf(ctx.locale);
    if (ctx.premiumShop) return buyOnDiscord(ctx, ctx.premiumShop, o.credits, db);
    if (!ctx.shop) return void (await ctx.reply(t('buy_not_here', locale)));
    const { packs } = ctx.shop;
    if (packs.length === 0) return void (await ctx.reply(t('buy_not_set_up', locale)));
    const user = await findUser(db, ctx.actor.platform, ctx.actor.platformUserId);
    if (user?.banned) throw new UserError('banned', 'You are banned from using this bot.');
    const list = packs.map((p) => t('pack', locale, { credits: String(p.credits), stars: String(p.stars) })).join(', ');
    const chosen = o.credits === undefined ? packs : packs.filter((p) => p.credits === o.credits);
    if (chosen.length === 0)
      return void (await ctx.reply(t('buy_no_such_pack', locale, { credits: String(o.credits), packs: list })));
    await ctx.reply(t('buy_packs', locale, { packs: list }));
    for (const pack of chosen) await ctx.shop.sendInvoice(pack);
  },
});

/** Discord: the packs by credits, then a premium button per pack (Discord shows each SKU's name and price). */
async function buyOnDiscord(
  ctx: CommandContext,
  shop: PremiumShop,
  credits: number | undefined,
  db: Store,
): Promise<void> {
  const locale = localeOf(ctx.locale);
  if (shop.packs.length === 0) return void (await ctx.reply(t('buy_not_set_up', locale)));
  const user = await findUser(db, ctx.actor.platform, ctx.actor.platformUserId);
  if (user?.banned) throw new UserError('banned', 'You are banned from using this bot.');
  const list = shop.packs.map((p) => t('premium_pack', locale, { credits: String(p.credits) })).join(', ');
  const chosen = credits === undefined ? shop.packs : shop.packs.filter((p) => p.credits === credits);
  if (chosen.length === 0)
    return void (await ctx.reply(t('buy_no_such_pack', locale, { credits: String(credits), packs: list })));
  await ctx.reply(t('buy_premium_packs', locale, { packs: list }));
  await shop.offer(chosen);
}

import { z } from 'zod';
import { describeUser, refundPayment } from '../src/core/admin.js';
import { adminContext } from './admin-context.js';
import { flag } from './options.js';
import { defineCommand } from './types.js';

/**
 * An owner refunds a member's Telegram Stars purchase (issue 15): the Stars go back through Telegram
 * (refundStarPayment), then the purchase's credits are taken back (src/core/admin.ts refundPayment). Owners only,
 * everywhere: the money leaves the owners' account. Discord purchases are refunded by Discord (discord-entitlements.ts
 * takes their credits back), so elsewhere it says so.
 */
export default defineCommand({
  name: 'refundpayment',
  description: 'Refund a Telegram Stars purchase and take its credits back (owners)',
  access: 'owner',
  options: z.object({
    payment: z.string({ error: 'name the payment id, e.g. telegram:stx…' }).trim().min(1).max(200),
    // `/refundpayment <id> force` on text platforms; true/false (a boolean option on Discord) as well.
    force: z
      .preprocess((v) => (typeof v === 'string' && v.trim().toLowerCase() === 'force' ? true : v), flag)
      .optional(),
  }),
  positional: ['payment', 'force'],
  optionHelp: {
    payment: 'the payment id (telegram:<charge id>, or the bare charge id; see the member’s /history)',
    force: 'refund even when the member spent some of the credits (only what is left is taken back)',
  },
  async execute(ctx, o, deps) {
    const refundAtPlatform = ctx.refundStarPayment;
    if (!refundAtPlatform) {
      return void (await ctx.reply(
        'Refunding payments is not available here: Telegram Stars payments are refunded from Telegram, and Discord purchases by Discord (the bot then takes their credits back by itself).',
      ));
    }
    const r = await refundPayment(await adminContext(ctx, deps), o.payment, o.force === true, refundAtPlatform);
    const stars = r.stars === undefined ? '' : ` (${r.stars} ⭐)`;
    const shortfall =
      r.shortfall > 0
        ? ` ${r.shortfall} of its ${r.credits} credits could not be taken back: they were already spent (or are held by videos in progress).`
        : '';
    await ctx.reply(
      `Refunded payment ${r.chargeId}${stars} to ${describeUser(r.member)} and took back ${r.taken} credits.${shortfall} New balance: ${r.balance}.`,
    );
  },
});

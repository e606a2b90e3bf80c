import { createHmac, timingSafeEqual } from 'node:crypto';
import { GrammyError } from 'grammy';
import type { Message, PreCheckoutQuery, SuccessfulPayment, StarTransaction, User } from 'grammy/types';
import { localeOf, t, type Locale, type TextKey } from '../../../commands/i18n.js';
import type { Shop } from '../../../commands/types.js';
import { clip } from '../../clip.js';
import type { CreditPack } from '../../config.js';
import type { PlatformRefund } from '../../core/admin.js';
import { balanceOf, creditPurchase } from '../../core/credits/ledger.js';
import { ensureUser, findUser } from '../../core/users.js';
import { displayNameOf, replyTo } from './telegram-chat.js';
import { describeTelegramError } from './telegram-errors.js';
import type { IntakeDeps } from './telegram-intake.js';

/**
 * Selling credit packs for Telegram Stars (provider-apis.md §8, platforms.md §3):
 * 1. /buy sends an invoice per pack: currency XTR, an empty provider token, one price, and a payload naming the pack
 *    (`pack:<credits>:<stars>:<tag>`, the tag an HMAC under the bot token, so only invoices this bot sent pass);
 * 2. Telegram asks before taking the Stars (`pre_checkout_query`): answered within its 10 s, refused when the payload
 *    is not ours, the currency is not XTR, the amount is not the invoice's, the pack is no longer sold at that price,
 *    or the payer is banned;
 * 3. the `successful_payment` message is credited once, keyed by `telegram_payment_charge_id` (unique among
 *    purchases in the ledger): a re-delivered update, or one handled again after a restart, writes nothing more;
 * 4. at start, the bot's Star transactions are read back (getStarTransactions) and any payment of ours not credited
 *    yet is credited through the same key: the runner confirms an update once it fetches the next batch, so a
 *    process that died while crediting may never be sent that payment again.
 * A payment that does not match an invoice of ours (it passed no checkout of this bot) is not credited: it is logged
 * at error for the owners, and the member is told to use /paysupport. Crediting it would let a wrong amount buy
 * credits; dropping it silently would lose a member's Stars. The owners can credit it by hand (/credits) or refund it
 * (through the Bot API: /refundpayment refunds credited purchases only).
 * A pack removed or repriced after its checkout was accepted is still credited as invoiced: the member paid the price
 * the bot agreed to a moment before.
 * Refunds (/refundpayment, owners only, commands/refundpayment.ts and src/core/admin.ts refundPayment): the purchase
 * is found by its payment id; refused with nothing changed when unknown, already refunded, or when the member has fewer
 * of its credits left than it gave (unless the owner adds `force`: the Stars go back and only what is left is taken).
 * refundStarPayment(user_id, telegram_payment_charge_id) is called first; only once Telegram agreed is a
 * `purchase_refund` entry written (what it took back, never below a zero balance), with its audit row, under the same
 * payment id (unique among purchase refunds: a replay or a second press writes nothing, and Telegram refuses a second
 * refund of a charge). If the bot dies between Telegram's ok and the entry, Telegram has the payment as refunded and
 * the ledger does not: a second /refundpayment says so (CHARGE_ALREADY_REFUNDED) and the owner takes the credits back
 * with /credits take. A refunded payment is an outgoing Star transaction with the payment's id, which step 4 skips.
 */

export const STARS_CURRENCY = 'XTR';
/** Telegram wants the pre-checkout answer within 10 s; past this the bot refuses rather than answering too late. */
const CHECKOUT_DEADLINE_MS = 7_000;
const PAYLOAD = /^pack:(\d{1,9}):(\d{1,6}):([0-9a-f]{32})$/;
/** getStarTransactions pages (of 100, Telegram's maximum) read back at start. */
const RECONCILE_PAGES = 50;

export type PaymentDeps = Pick<IntakeDeps, 'api' | 'me' | 'config' | 'logger' | 'token' | 'commands'>;

type Problem =
  | 'checkout_unknown'
  | 'checkout_currency'
  | 'checkout_gone'
  | 'checkout_repriced'
  | 'checkout_banned'
  | 'checkout_busy';

function tagOf(token: string, credits: number, stars: number): string {
  return createHmac('sha256', `clipbot invoice payload\n${token}`)
    .update(`pack:${credits}:${stars}`)
    .digest('hex')
    .slice(0, 32);
}

export function invoicePayload(token: string, pack: CreditPack): string {
  return `pack:${pack.credits}:${pack.stars}:${tagOf(token, pack.credits, pack.stars)}`;
}

/** The pack an invoice payload names, if this bot wrote it. */
export function packOfPayload(token: string, payload: string): CreditPack | undefined {
  const m = PAYLOAD.exec(payload);
  if (!m) return undefined;
  const pack = { credits: Number(m[1]), stars: Number(m[2]) };
  const expected = Buffer.from(tagOf(token, pack.credits, pack.stars), 'hex');
  return timingSafeEqual(Buffer.from(m[3]!, 'hex'), expected) ? pack : undefined;
}

/**
 * What Telegram says is being (or was) paid, against the invoice the payload names: the checks a checkout and a
 * payment both run. The amount must be the invoice's own: the payload is ours, so a different amount was not.
 */
function readInvoice(
  token: string,
  paid: Pick<SuccessfulPayment, 'currency' | 'total_amount' | 'invoice_payload'>,
): { pack: CreditPack } | { problem: Problem } {
  const pack = packOfPayload(token, paid.invoice_payload);
  if (!pack || paid.total_amount !== pack.stars) return { problem: 'checkout_unknown' };
  if (paid.currency !== STARS_CURRENCY) return { problem: 'checkout_currency' };
  return { pack };
}

/** The shop /buy sees in a Telegram chat: the configured packs, each sent as an invoice into that chat. */
export function telegramShop(d: PaymentDeps, chatId: number, locale: Locale, requestMessageId: number): Shop {
  return {
    packs: d.config.CREDIT_PACKS_TELEGRAM,
    async sendInvoice(pack) {
      const credits = String(pack.credits);
      await d.api.sendInvoice(
        chatId,
        clip(t('invoice_title', locale, { credits }), 32),
        clip(t('invoice_description', locale, { credits, bot: `@${d.me.username}` }), 255),
        invoicePayload(d.token, pack),
        STARS_CURRENCY,
        [{ label: clip(t('invoice_title', locale, { credits }), 32), amount: pack.stars }],
        { provider_token: '', ...replyTo(requestMessageId) },
      );
    },
  };
}

async function checkoutProblem(query: PreCheckoutQuery, d: PaymentDeps): Promise<Problem | undefined> {
  const read = readInvoice(d.token, query);
  if ('problem' in read) return read.problem;
  const offered = d.config.CREDIT_PACKS_TELEGRAM.find((p) => p.credits === read.pack.credits);
  if (!offered) return 'checkout_gone';
  if (offered.stars !== read.pack.stars) return 'checkout_repriced';
  const payer = await findUser(d.commands.db, 'telegram', String(query.from.id));
  if (payer?.banned) return 'checkout_banned';
  return undefined;
}

/**
 * Answers a pre-checkout query, always and in time: a check that fails or takes too long refuses the checkout
 * (the member may simply try again), since an unanswered query fails the payment after 10 s anyway.
 */
export async function answerCheckout(query: PreCheckoutQuery, d: PaymentDeps): Promise<void> {
  const log = d.logger.child({ checkout: query.id, payer: query.from.id });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Problem>(
    (resolve) => (timer = setTimeout(() => resolve('checkout_busy'), CHECKOUT_DEADLINE_MS)),
  );
  const problem = await Promise.race([
    checkoutProblem(query, d).catch((error: unknown) => {
      log.error({ err: error }, 'telegram checkout check failed');
      return 'checkout_busy' as const;
    }),
    late,
  ]).finally(() => clearTimeout(timer));
  const answer = problem
    ? d.api.answerPreCheckoutQuery(query.id, false, { error_message: t(problem, localeOf(query.from.language_code)) })
    : d.api.answerPreCheckoutQuery(query.id, true);
  try {
    await answer;
  } catch (error) {
    log.warn({ error: describeTelegramError(error, d.token) }, 'could not answer a telegram checkout');
    return;
  }
  if (problem)
    log.info(
      { problem, payload: clip(query.invoice_payload, 128), currency: query.currency, amount: query.total_amount },
      'telegram checkout refused',
    );
  else log.info({ payload: query.invoice_payload }, 'telegram checkout accepted');
}

/**
 * Credits a `successful_payment` once (see the top of this file); tells the member what they got, or, for a payment
 * that matches no invoice of ours, to use /paysupport (once per payment) after logging it loudly for the owners.
 */
export async function creditPayment(
  message: Message & { successful_payment: SuccessfulPayment },
  d: PaymentDeps,
): Promise<void> {
  const paid = message.successful_payment;
  const from = message.from!;
  const { db, clock } = d.commands;
  const chargeId = paid.telegram_payment_charge_id;
  const locale = localeOf(from.language_code);
  const log = d.logger.child({ payment: chargeId, payer: from.id });
  const reply = async (key: TextKey, params: Record<string, string>) => {
    await d.api
      .sendMessage(message.chat.id, t(key, locale, { payment: chargeId, ...params }), replyTo(message.message_id))
      .catch((error: unknown) =>
        log.warn({ error: describeTelegramError(error, d.token) }, 'could not confirm a telegram payment'),
      );
  };

  const read = readInvoice(d.token, paid);
  if ('problem' in read) {
    log.error(
      {
        problem: read.problem,
        currency: paid.currency,
        amount: paid.total_amount,
        payload: clip(paid.invoice_payload, 128),
      },
      'TELEGRAM PAYMENT NOT CREDITED: it matches no invoice this bot sent; credit it by hand (/credits) or refund it',
    );
    // Told once per payment, however often Telegram delivers it.
    if (await db.intakeKeys.claim(`telegram:payment:${chargeId}`, 'payment', clock.now())) {
      d.commands.notifier?.alert({
        kind: 'payment_unmatched',
        text: `A Telegram Stars payment (${chargeId}, ${paid.total_amount} ${paid.currency}, from telegram:${from.id}) matches no invoice this bot sent and was not credited: credit it by hand (/credits) or refund it.`,
        fields: { payment: chargeId, payer: from.id, problem: read.problem },
      });
      await reply('purchase_unmatched', {});
    }
    return;
  }
  const { credited, balance } = await credit(d, from, read.pack, chargeId);
  if (!credited) {
    log.info('telegram payment delivered again: credited before, nothing more done');
    return;
  }
  log.info({ credits: read.pack.credits, stars: read.pack.stars }, 'telegram payment credited');
  await reply('purchase_credited', { credits: String(read.pack.credits), balance: String(balance) });
}

/** Credits the pack to the payer once per payment id; with the balance after. */
async function credit(
  d: PaymentDeps,
  payer: User,
  pack: CreditPack,
  chargeId: string,
): Promise<{ credited: boolean; balance: number }> {
  const { db, clock, config } = d.commands;
  const identity = {
    platform: 'telegram' as const,
    platformUserId: String(payer.id),
    displayName: displayNameOf(payer),
  };
  return db.transaction(async (tx) => {
    const user = await ensureUser(tx, clock, identity, config.STARTING_CREDITS);
    const written = await creditPurchase(tx, clock, {
      userId: user.id,
      amount: pack.credits,
      paymentId: `telegram:${chargeId}`,
      reason: `${pack.stars} Telegram Stars`,
    });
    return { credited: written, balance: await balanceOf(tx, user.id) };
  });
}

/**
 * Step 4 above: credits every incoming invoice payment of ours among the bot's Star transactions that is not credited
 * yet (and was not refunded), and tells its payer in their private chat. Payments that match no invoice of ours are
 * left alone (reported when delivered). Returns how many it credited.
 */
export async function reconcileStarPayments(d: PaymentDeps): Promise<number> {
  const all: StarTransaction[] = [];
  for (let page = 0; page < RECONCILE_PAGES; page++) {
    const { transactions } = await d.api.getStarTransactions({ offset: page * 100, limit: 100 });
    all.push(...transactions);
    if (transactions.length < 100) break;
  }
  // A refund is an outgoing transaction with the id of the payment it refunds.
  const refunded = new Set(all.filter((tx) => tx.receiver && !tx.source).map((tx) => tx.id));
  let credited = 0;
  for (const tx of all) {
    const source = tx.source;
    if (
      source?.type !== 'user' ||
      source.transaction_type !== 'invoice_payment' ||
      source.invoice_payload === undefined ||
      refunded.has(tx.id)
    )
      continue;
    const read = readInvoice(d.token, {
      currency: STARS_CURRENCY,
      total_amount: tx.amount,
      invoice_payload: source.invoice_payload,
    });
    if ('problem' in read) continue;
    const { credited: written, balance } = await credit(d, source.user, read.pack, tx.id);
    if (!written) continue;
    credited++;
    d.logger.warn(
      { payment: tx.id, payer: source.user.id, credits: read.pack.credits },
      'telegram payment credited on reconciliation: its update was never handled',
    );
    const text = t('purchase_credited', localeOf(source.user.language_code), {
      credits: String(read.pack.credits),
      payment: tx.id,
      balance: String(balance),
    });
    await d.api
      .sendMessage(source.user.id, text)
      .catch((error: unknown) =>
        d.logger.warn(
          { error: describeTelegramError(error, d.token) },
          'could not tell a member of a reconciled payment',
        ),
      );
  }
  return credited;
}

/**
 * Gives the Stars of payment `chargeId` back to the member who paid (refundStarPayment): undefined once Telegram
 * agreed, else its refusal (a connection that failed is a refusal too: the owner sees it, and a second try is told
 * by Telegram whether the first went through).
 */
export async function refundStars(
  d: PaymentDeps,
  member: Parameters<PlatformRefund>[0],
  chargeId: string,
): ReturnType<PlatformRefund> {
  const log = d.logger.child({ payment: chargeId, payer: member.platformUserId });
  try {
    await d.api.refundStarPayment(Number(member.platformUserId), chargeId);
    log.warn('telegram payment refunded');
    return undefined;
  } catch (error) {
    const described = describeTelegramError(error, d.token);
    log.warn({ error: described }, 'telegram refused a payment refund');
    const refused =
      error instanceof GrammyError
        ? String(described['description'])
        : `no answer from Telegram (${String(described['message'])}); it may or may not have refunded it`;
    return {
      refused,
      alreadyRefunded: error instanceof GrammyError && /CHARGE_ALREADY_REFUNDED/i.test(error.description),
    };
  }
}

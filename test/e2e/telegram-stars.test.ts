import net from 'node:net';
import type { Update } from 'grammy/types';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeChat, FakeUser, StoredMessage } from '../fakes/telegram-api.js';
import { eventually, STARTING, TelegramWorld as World } from '../helpers/telegram-world.js';

/**
 * Buying credits with Telegram Stars (issue 15), end to end: the whole bot through the real grammY against the fake
 * Bot API, on the test store (SQLite, or PostgreSQL under CLIPBOT_TEST_STORE=postgres). A member types /buy, the bot
 * sends invoices, the member pays (a pre_checkout_query the bot must answer within 10 s, then a successful_payment
 * message), and the ledger is credited once per telegram_payment_charge_id.
 */

const PACKS = '100:50,500:225';

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function startWorld(env: Record<string, string> = { CREDIT_PACKS_TELEGRAM: PACKS }): Promise<World> {
  world = await World.start({ env });
  await world.boot();
  return world;
}

/** The member types /buy (with `args`) in `chat`; returns the bot's text reply and the invoices it sent. */
async function buy(
  w: World,
  member: FakeUser,
  chat: FakeChat,
  args = '',
  invoices = 2,
): Promise<{ text: string; invoices: StoredMessage[] }> {
  const before = w.fake.invoicesIn(chat).length;
  const update = w.fake.sendText(member, chat, `/buy${args ? ` ${args}` : ''}`);
  const reply = await w.replyTo(update);
  await eventually(() => expect(w.fake.invoicesIn(chat).length - before).toBe(invoices));
  return { text: reply.text ?? '', invoices: w.fake.invoicesIn(chat).slice(before) };
}

async function purchases(w: World, member: FakeUser): Promise<[string, number][]> {
  return (await w.ledgerKinds(member)).filter(([kind]) => kind === 'purchase');
}

/** The bot's replies to a payment message (its confirmation, or the /paysupport notice). */
const repliesToPayment = (w: World, payment: Update) => w.fake.repliesTo(payment.message!);

describe('buying credits with Telegram Stars', () => {
  describe('when a member buys a pack', () => {
    it('lists the packs, sends real Stars invoices, accepts the checkout in time and credits the pack once', async () => {
      const w = await startWorld();
      const alice = w.fake.user({ first_name: 'Alice' });
      const chat = w.fake.privateChat(alice);
      const { text, invoices } = await buy(w, alice, chat);
      expect(text).toContain('100 credits for 50 ⭐');
      expect(text).toContain('500 credits for 225 ⭐');

      const sent = w.fake.callsTo('sendInvoice').map((c) => c.params);
      expect(sent.map((p) => [p['currency'], p['provider_token'], p['prices']])).toEqual([
        ['XTR', '', [{ label: '100 credits', amount: 50 }]],
        ['XTR', '', [{ label: '500 credits', amount: 225 }]],
      ]);
      expect(invoices.map((m) => m.invoice!.title)).toEqual(['100 credits', '500 credits']);

      const { answer, payment, chargeId } = await w.fake.payInvoice(alice, invoices[0]!);
      expect(answer.ok).toBe(true);
      expect(answer.afterMs).toBeLessThan(10_000);
      await eventually(() =>
        expect(repliesToPayment(w, payment!).map((m) => m.text)).toEqual([
          `Thank you! 100 credits were added (payment ${chargeId}). You now have ${STARTING + 100} credits.`,
        ]),
      );
      expect(await w.balance(alice)).toBe(STARTING + 100);
      expect(await purchases(w, alice)).toEqual([['purchase', 100]]);
      expect((await w.rows.ledger()).filter((e) => e.kind === 'purchase').map((e) => e.paymentId)).toEqual([
        `telegram:${chargeId}`,
      ]);
      await w.expectLedgerBalanced();

      // /balance and /history show the purchase as such.
      const balance = await w.replyTo(w.fake.sendText(alice, chat, '/balance'));
      expect(balance.text).toContain(`You have ${STARTING + 100} credits.`);
      expect(balance.text).toMatch(new RegExp(`bought 100 credits \\(50 Telegram Stars\\) · payment ${chargeId}`));
      const history = await w.replyTo(w.fake.sendText(alice, chat, '/history'));
      expect(history.text).toContain('Purchases:');
      expect(history.text).toContain(`bought 100 credits (50 Telegram Stars) · payment ${chargeId}`);
    });

    it('sends only the pack asked for, and says which packs exist when there is no such pack', async () => {
      const w = await startWorld();
      const bob = w.fake.user();
      const chat = w.fake.privateChat(bob);
      const { invoices } = await buy(w, bob, chat, '500', 1);
      expect(invoices.map((m) => m.invoice!.prices)).toEqual([[{ label: '500 credits', amount: 225 }]]);
      const { text } = await buy(w, bob, chat, '42', 0);
      expect(text).toBe('There is no pack of 42 credits. Packs: 100 credits for 50 ⭐, 500 credits for 225 ⭐.');
    });

    it('talks to a Chinese client in Chinese, the invoice included', async () => {
      const w = await startWorld();
      const li = w.fake.user({ language_code: 'zh-hans' });
      const { text, invoices } = await buy(w, li, w.fake.privateChat(li), '100', 1);
      expect(text).toContain('100 积分 50 ⭐');
      expect(invoices[0]!.invoice!.title).toBe('100 积分');
    });
  });

  describe('when Telegram delivers a payment more than once', () => {
    it('credits the same successful_payment delivered twice once, and confirms it once', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const { invoices } = await buy(w, alice, w.fake.privateChat(alice));
      const { payment } = await w.fake.payInvoice(alice, invoices[1]!);
      await eventually(() => expect(repliesToPayment(w, payment!)).toHaveLength(1));
      w.fake.redeliver(payment!);
      await eventually(() => expect(w.logText()).toContain('telegram payment delivered again'));
      expect(await w.balance(alice)).toBe(STARTING + 500);
      expect(await purchases(w, alice)).toEqual([['purchase', 500]]);
      expect(repliesToPayment(w, payment!)).toHaveLength(1);
      await w.expectLedgerBalanced();
    });

    it('credits a payment that arrived while the bot was down once it is back, and once only when Telegram re-delivers it after another restart', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      const { invoices } = await buy(w, alice, chat);
      const { queryId } = w.fake.checkout(alice, invoices[0]!);
      expect((await w.fake.waitForCheckoutAnswer(queryId)).ok).toBe(true);

      // The bot stops between the checkout and the payment: the payment waits at Telegram.
      await w.stopBot();
      const sent = invoices[0]!.invoice!;
      const { update: payment, chargeId } = w.fake.deliverPayment(alice, chat, {
        currency: sent.currency,
        totalAmount: 50,
        payload: sent.payload,
      });
      await w.boot();
      // Credited by whichever comes first, the update or the start's reconciliation; confirmed once either way.
      const confirmations = () =>
        w.fake.botMessages(chat).filter((m) => m.text?.includes(`credits were added (payment ${chargeId})`));
      await eventually(() => expect(confirmations()).toHaveLength(1));
      expect(await w.balance(alice)).toBe(STARTING + 100);

      // Credited, then the process dies before its next getUpdates confirmed the update: Telegram sends it again.
      // The update was handled too (credited, or found credited by the reconciliation).
      await eventually(() =>
        expect(w.logText()).toMatch(/"msg":"telegram payment credited"|telegram payment delivered again/),
      );
      const againCount = () => w.logText().match(/telegram payment delivered again/g)?.length ?? 0;
      const before = againCount();
      await w.stopBot();
      w.fake.redeliver(payment);
      await w.boot();
      await eventually(() => expect(againCount()).toBe(before + 1));
      expect(await w.balance(alice)).toBe(STARTING + 100);
      expect((await w.rows.ledger()).filter((e) => e.kind === 'purchase').map((e) => e.paymentId)).toEqual([
        `telegram:${chargeId}`,
      ]);
      expect(confirmations()).toHaveLength(1);
      await w.expectLedgerBalanced();
    });
  });

  describe('when the process died after fetching a payment and before crediting it', () => {
    it("credits it at the next start from the bot's Star transactions, tells the member, and never twice", async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      const { invoices } = await buy(w, alice, chat);
      const { queryId } = w.fake.checkout(alice, invoices[1]!);
      expect((await w.fake.waitForCheckoutAnswer(queryId)).ok).toBe(true);
      await w.stopBot();
      // Telegram took the Stars; the update was confirmed by the runner's next getUpdates and then lost with the process.
      const sent = invoices[1]!.invoice!;
      const { chargeId } = w.fake.deliverPayment(alice, chat, {
        currency: 'XTR',
        totalAmount: 225,
        payload: sent.payload,
        updateLost: true,
      });
      expect(w.fake.callsTo('getUpdates').length).toBeGreaterThan(0);

      await w.boot();
      await eventually(async () => expect(await w.balance(alice)).toBe(STARTING + 500));
      await eventually(() =>
        expect(w.fake.botMessages(chat).map((m) => m.text)).toContain(
          `Thank you! 500 credits were added (payment ${chargeId}). You now have ${STARTING + 500} credits.`,
        ),
      );
      expect(w.logText()).toContain('telegram payment credited on reconciliation');

      // A late delivery of the same payment, and another start: nothing more.
      const late = w.fake.deliverPayment(alice, chat, {
        currency: 'XTR',
        totalAmount: 225,
        payload: sent.payload,
        chargeId,
      });
      await eventually(() => expect(w.logText()).toContain('telegram payment delivered again'));
      await w.stopBot();
      await w.boot();
      // Reconciled at each of the three starts: nothing to credit at the first and the last.
      await eventually(() =>
        expect(w.logText().match(/"credited":0[^\n]*telegram star payments reconciled/g)).toHaveLength(2),
      );
      expect(await w.balance(alice)).toBe(STARTING + 500);
      expect(await purchases(w, alice)).toEqual([['purchase', 500]]);
      expect(repliesToPayment(w, late.update)).toEqual([]);
      await w.expectLedgerBalanced();
    });
  });

  describe('when a checkout must be refused', () => {
    /** Pays with `fields` and expects the checkout refused with `message`, no payment taken and nothing credited. */
    async function expectRefused(
      w: World,
      member: FakeUser,
      invoice: StoredMessage,
      message: RegExp,
      fields: Parameters<World['fake']['payInvoice']>[2] = {},
    ) {
      const { answer, payment } = await w.fake.payInvoice(member, invoice, fields);
      expect(answer.ok).toBe(false);
      expect(answer.errorMessage).toMatch(message);
      expect(answer.afterMs).toBeLessThan(10_000);
      expect(payment).toBeUndefined();
    }

    it('refuses a pack that is no longer sold, or no longer at that price, and credits nothing', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const { invoices } = await buy(w, alice, w.fake.privateChat(alice));
      await w.stopBot();
      await w.boot({ CREDIT_PACKS_TELEGRAM: '500:250' });
      await expectRefused(w, alice, invoices[0]!, /no longer sold/);
      await expectRefused(w, alice, invoices[1]!, /price of this pack has changed/);
      expect(await purchases(w, alice)).toEqual([]);
    });

    it('refuses a forged or unknown payload, a wrong amount and a currency other than Stars', async () => {
      const w = await startWorld();
      const alice = w.fake.user();
      const { invoices } = await buy(w, alice, w.fake.privateChat(alice));
      const real = invoices[0]!.invoice!.payload;
      await expectRefused(w, alice, invoices[0]!, /not one this bot sent/, {
        payload: 'pack:100:1:00000000000000000000000000000000',
      });
      await expectRefused(w, alice, invoices[0]!, /not one this bot sent/, {
        payload: real.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
      });
      await expectRefused(w, alice, invoices[0]!, /not one this bot sent/, { payload: 'free credits please' });
      await expectRefused(w, alice, invoices[0]!, /not one this bot sent/, { totalAmount: 1 });
      await expectRefused(w, alice, invoices[0]!, /Telegram Stars only/, { currency: 'USD' });
      expect(await purchases(w, alice)).toEqual([]);
      await w.expectLedgerBalanced();
    });

    it('refuses a member the owner banned, before and at checkout', async () => {
      const owner = { first_name: 'Owner' };
      world = await World.start({ env: { CREDIT_PACKS_TELEGRAM: PACKS } });
      const w = world;
      const boss = w.fake.user(owner);
      await w.boot({ OWNER_IDS: `telegram:${boss.id}` });
      const mallory = w.fake.user();
      const chat = w.fake.privateChat(mallory);
      const { invoices } = await buy(w, mallory, chat);
      await w.replyTo(w.fake.sendText(boss, w.fake.privateChat(boss), `/ban ${mallory.id} chargebacks`));
      await eventually(async () => expect((await w.user(mallory))?.banned).toBe(true));
      await expectRefused(w, mallory, invoices[0]!, /banned/);
      const again = await w.replyTo(w.fake.sendText(mallory, chat, '/buy'));
      expect(again.text).toMatch(/banned/);
      expect(await purchases(w, mallory)).toEqual([]);
    });
  });

  describe('when a successful_payment matches no invoice of ours', () => {
    it('credits nothing, logs it loudly, alerts the owners and tells the member once to use /paysupport', async () => {
      const w = await startWorld({
        CREDIT_PACKS_TELEGRAM: PACKS,
        OWNER_IDS: 'telegram:4242',
        OWNER_ALERT_CHAT: 'telegram:4242',
      });
      const alice = w.fake.user();
      const chat = w.fake.privateChat(alice);
      const { invoices } = await buy(w, alice, chat);
      const { update: payment, chargeId } = w.fake.deliverPayment(alice, chat, {
        currency: 'XTR',
        totalAmount: 1,
        payload: invoices[1]!.invoice!.payload,
      });
      await eventually(() =>
        expect(repliesToPayment(w, payment).map((m) => m.text)).toEqual([
          `Your payment ${chargeId} could not be credited automatically. Nothing is lost: it is on record. Please use /paysupport and quote this payment id.`,
        ]),
      );
      expect(w.logText()).toMatch(/"level":50[^\n]*TELEGRAM PAYMENT NOT CREDITED/);
      const alerts = () =>
        w.fake
          .callsTo('sendMessage')
          .filter((c) => String(c.params['chat_id']) === '4242')
          .map((c) => String(c.params['text']));
      await eventually(() =>
        expect(alerts()).toEqual([
          expect.stringContaining(
            `A Telegram Stars payment (${chargeId}, 1 XTR, from telegram:${alice.id}) matches no invoice`,
          ),
        ]),
      );
      w.fake.redeliver(payment);
      await eventually(() => expect(w.logText().match(/TELEGRAM PAYMENT NOT CREDITED/g)).toHaveLength(2));
      expect(repliesToPayment(w, payment)).toHaveLength(1);
      expect(alerts()).toHaveLength(1);
      expect(await purchases(w, alice)).toEqual([]);
      await w.expectLedgerBalanced();
    });
  });

  describe('when an owner refunds a payment (/refundpayment)', () => {
    /** A world with an owner, and a member who bought the 100-credit pack (50 Stars): STARTING + 100 credits. */
    async function bought() {
      world = await World.start({ env: { CREDIT_PACKS_TELEGRAM: PACKS } });
      const w = world;
      const boss = w.fake.user({ first_name: 'Owner' });
      await w.boot({ OWNER_IDS: `telegram:${boss.id}` });
      const alice = w.fake.user({ first_name: 'Alice' });
      const { invoices } = await buy(w, alice, w.fake.privateChat(alice));
      const { payment, chargeId } = await w.fake.payInvoice(alice, invoices[0]!);
      await eventually(() => expect(repliesToPayment(w, payment!)).toHaveLength(1));
      const ownerChat = w.fake.privateChat(boss);
      const say = async (text: string, from = boss, chat = ownerChat) =>
        (await w.replyTo(w.fake.sendText(from, chat, text))).text ?? '';
      return { w, boss, alice, chargeId: chargeId!, say, ownerChat };
    }
    const refundsIn = async (w: World) => (await w.rows.ledger()).filter((e) => e.kind === 'purchase_refund');
    const audits = async (w: World) => (await w.rows.auditLog()).filter((a) => a.action === 'payment.refund');

    it('refunds an unspent purchase once: the Stars at Telegram, the credits taken back, audited', async () => {
      const { w, boss, alice, chargeId, say, ownerChat } = await bought();
      // The owners' /stats counts the sale: credits and Stars, beside the provider spend.
      const revenue = (stats: string) => stats.split('\n').slice(-3).join('\n');
      expect(revenue(await say('/stats'))).toBe(
        'Revenue after refunds, all time:\n  Telegram: 100 credits sold for 50 ⭐; 1 purchase\nProvider spend, all time: about $0.00',
      );
      const command = w.fake.sendText(boss, ownerChat, `/refundpayment telegram:${chargeId}`);
      const reply = (await w.replyTo(command)).text;
      expect(reply).toBe(
        `Refunded payment ${chargeId} (50 ⭐) to Alice (telegram:${alice.id}) and took back 100 credits. New balance: ${STARTING}.`,
      );
      expect(w.fake.starRefunds).toEqual([{ userId: alice.id, chargeId, amount: 50 }]);
      expect(w.fake.callsTo('refundStarPayment').map((c) => c.params)).toEqual([
        { user_id: alice.id, telegram_payment_charge_id: chargeId },
      ]);
      expect(await w.balance(alice)).toBe(STARTING);
      const [refund, ...more] = await refundsIn(w);
      expect(more).toEqual([]);
      const owner = (await w.user(boss))!;
      const member = (await w.user(alice))!;
      expect(refund).toMatchObject({
        userId: member.id,
        amount: -100,
        paymentId: `telegram:${chargeId}`,
        actorUserId: owner.id,
      });
      const [audit, ...others] = await audits(w);
      expect(others).toEqual([]);
      expect(audit).toMatchObject({ actorUserId: owner.id, targetUserId: member.id, community: null });
      expect(JSON.parse(audit!.detail!)).toEqual({
        payment: `telegram:${chargeId}`,
        credits: 100,
        taken: 100,
        notTakenBack: 0,
        stars: 50,
        force: false,
      });
      await w.expectLedgerBalanced();
      // Refunded: the sale no longer counts, and the member's /history says so.
      expect(revenue(await say('/stats'))).toBe(
        'Revenue after refunds, all time:\n  Telegram: 0 credits sold for 0 ⭐; 1 purchase, 1 refunded (100 credits taken back)\nProvider spend, all time: about $0.00',
      );
      expect(await say('/history', alice, w.fake.privateChat(alice))).toMatch(
        new RegExp(`payment ${chargeId} · refunded \\(100 credits taken back\\)$`),
      );

      // The same update delivered again (a webhook retry, a restart): acted on once.
      w.fake.redeliver(command);
      await eventually(() => expect(w.logText()).toContain('re-delivered moderator command ignored'));
      // The same refund again (the bare charge id this time): refused, nothing more at Telegram or in the ledger.
      const again = await say(`/refundpayment ${chargeId}`);
      expect(again).toMatch(
        new RegExp(
          `^Payment ${chargeId} was already refunded \\(.* UTC, 100 credits taken back\\): nothing was done\\.$`,
        ),
      );
      expect(w.fake.starRefunds).toHaveLength(1);
      expect(w.fake.callsTo('refundStarPayment')).toHaveLength(1);
      expect(await refundsIn(w)).toHaveLength(1);
      expect(await audits(w)).toHaveLength(1);
      expect(await w.balance(alice)).toBe(STARTING);

      // A restart reconciles the Star transactions: the refunded payment is not credited again.
      await w.stopBot();
      await w.boot();
      await eventually(() => expect(w.logText().match(/telegram star payments reconciled/g)).toHaveLength(2));
      expect(await w.balance(alice)).toBe(STARTING);
      await w.expectLedgerBalanced();
    });

    it('refuses a purchase partly spent, changing nothing, unless the owner insists: then the Stars go back and only what is left is taken', async () => {
      const { w, alice, chargeId, say } = await bought();
      expect(await say(`/credits take telegram:${alice.id} ${STARTING + 40} spent`)).toContain('New balance: 60.');
      const refused = await say(`/refundpayment ${chargeId}`);
      expect(refused).toBe(
        `Alice (telegram:${alice.id}) has only 60 of the 100 credits of payment ${chargeId} left: nothing was refunded. ` +
          `To refund the Stars anyway and take back only the 60 left, add force: /refundpayment ${chargeId} force`,
      );
      expect(w.fake.callsTo('refundStarPayment')).toEqual([]);
      expect(await refundsIn(w)).toEqual([]);
      expect(await audits(w)).toEqual([]);
      expect(await w.balance(alice)).toBe(60);

      const forced = await say(`/refundpayment ${chargeId} force`);
      expect(forced).toBe(
        `Refunded payment ${chargeId} (50 ⭐) to Alice (telegram:${alice.id}) and took back 60 credits. 40 of its 100 credits could not be taken back: they were already spent (or are held by videos in progress). New balance: 0.`,
      );
      expect(w.fake.starRefunds).toEqual([{ userId: alice.id, chargeId, amount: 50 }]);
      expect(await w.balance(alice)).toBe(0);
      expect((await refundsIn(w)).map((e) => e.amount)).toEqual([-60]);
      expect((await audits(w)).map((a) => JSON.parse(a.detail!))).toEqual([
        { payment: `telegram:${chargeId}`, credits: 100, taken: 60, notTakenBack: 40, stars: 50, force: true },
      ]);
      await w.expectLedgerBalanced();
    });

    it('says so for a payment id no purchase has, and changes nothing', async () => {
      const { w, alice, say } = await bought();
      expect(await say('/refundpayment telegram:stxNOSUCHCHARGE')).toBe(
        "No purchase has the payment id telegram:stxNOSUCHCHARGE: nothing was refunded. (Payment ids are in the member's /history and the log.)",
      );
      expect(await say('/refundpayment discord:123')).toBe(
        'discord:123 is a Discord purchase: Discord refunds those, not the bot. When Discord refunds it, the bot takes its credits back by itself. Nothing was done.',
      );
      expect(w.fake.callsTo('refundStarPayment')).toEqual([]);
      expect(await refundsIn(w)).toEqual([]);
      expect(await w.balance(alice)).toBe(STARTING + 100);
    });

    it('refuses moderators and members, in groups and in private: owners only', async () => {
      const { w, alice, chargeId, say } = await bought();
      const group = w.fake.group();
      const mod = w.fake.user();
      w.fake.setMemberStatus(group, mod, 'administrator');
      expect(await say(`/refundpayment ${chargeId}`, mod, group)).toBe('/refundpayment is for the bot owner.');
      expect(await say(`/refundpayment ${chargeId} force`, mod, w.fake.privateChat(mod))).toBe(
        '/refundpayment is for the bot owner.',
      );
      expect(await say(`/refundpayment ${chargeId}`, alice, w.fake.privateChat(alice))).toBe(
        '/refundpayment is for the bot owner.',
      );
      expect(await say(`/refundpayment ${chargeId}`, alice, group)).toBe('/refundpayment is for the bot owner.');
      expect(w.fake.callsTo('refundStarPayment')).toEqual([]);
      expect(await refundsIn(w)).toEqual([]);
      expect(await w.balance(alice)).toBe(STARTING + 100);
    });

    it('writes nothing when Telegram refuses the refund, and shows the owner why', async () => {
      const { w, alice, chargeId, say } = await bought();
      w.fake.failNext('refundStarPayment', { error_code: 400, description: 'Bad Request: BALANCE_TOO_LOW' });
      expect(await say(`/refundpayment ${chargeId}`)).toBe(
        `Telegram refused to refund payment ${chargeId}: Bad Request: BALANCE_TOO_LOW. Nothing was changed.`,
      );
      expect(w.fake.starRefunds).toEqual([]);
      expect(await refundsIn(w)).toEqual([]);
      expect(await audits(w)).toEqual([]);
      expect(await w.balance(alice)).toBe(STARTING + 100);

      // Refunded outside the bot (through the Bot API): Telegram says so, and the bot still writes nothing.
      w.fake.starRefunds.push({ userId: alice.id, chargeId, amount: 50 });
      expect(await say(`/refundpayment ${chargeId}`)).toMatch(
        new RegExp(
          `^Telegram refused to refund payment ${chargeId}: Bad Request: CHARGE_ALREADY_REFUNDED\\. Nothing was changed\\. Telegram has it as refunded already.*/credits take`,
        ),
      );
      expect(await refundsIn(w)).toEqual([]);
      expect(await w.balance(alice)).toBe(STARTING + 100);

      // Later it works (a fresh charge): the refusal left nothing behind that would block it.
      w.fake.starRefunds.length = 0;
      expect(await say(`/refundpayment ${chargeId}`)).toMatch(/^Refunded payment /);
      expect(await w.balance(alice)).toBe(STARTING);
      await w.expectLedgerBalanced();
    });
  });

  describe('when buying is not set up', () => {
    it('says so, and sends no invoice', async () => {
      const w = await startWorld({});
      const alice = w.fake.user();
      const { text } = await buy(w, alice, w.fake.privateChat(alice), '', 0);
      expect(text).toBe('Buying credits is not set up on this bot.');
      expect(w.fake.callsTo('sendInvoice')).toEqual([]);
    });
  });

  describe('/paysupport', () => {
    it("points to the owners by default, in the member's language, and says the owners' own text when they set one", async () => {
      world = await World.start({ env: { CREDIT_PACKS_TELEGRAM: PACKS } });
      const w = world;
      await w.boot({ OWNER_IDS: 'telegram:4242,discord:99' });
      const alice = w.fake.user();
      const li = w.fake.user({ language_code: 'zh' });
      const en = await w.replyTo(w.fake.sendText(alice, w.fake.privateChat(alice), '/paysupport'));
      expect(en.text).toContain('Write to the owners of this bot (tg://user?id=4242)');
      const zh = await w.replyTo(w.fake.sendText(li, w.fake.privateChat(li), '/paysupport'));
      expect(zh.text).toContain('请联系这个机器人的所有者');
      await w.stopBot();
      await w.boot({ PAYSUPPORT_TEXT: 'Write to @clipbot_help with your payment id.' });
      const custom = await w.replyTo(w.fake.sendText(alice, w.fake.privateChat(alice), '/paysupport'));
      expect(custom.text).toBe('Write to @clipbot_help with your payment id.');
      expect(w.fake.commands('default', '')?.map((c) => c.command)).toEqual(
        expect.arrayContaining(['buy', 'paysupport']),
      );
    });
  });

  describe('in webhook mode', () => {
    it('answers the checkout and credits the payment once, the webhook retry included', async () => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as net.AddressInfo;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const w = await startWorld({
        CREDIT_PACKS_TELEGRAM: PACKS,
        HTTP_PORT: String(port),
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        TELEGRAM_WEBHOOK_SECRET: 'wh-secret_0123456789',
      });
      const alice = w.fake.user();
      const { invoices } = await buy(w, alice, w.fake.privateChat(alice));
      const { answer, payment } = await w.fake.payInvoice(alice, invoices[0]!);
      expect(answer.ok).toBe(true);
      await eventually(() => expect(repliesToPayment(w, payment!)).toHaveLength(1));
      w.fake.redeliver(payment!);
      await eventually(() => expect(w.logText()).toContain('telegram payment delivered again'));
      expect(await w.balance(alice)).toBe(STARTING + 100);
      expect(w.fake.callsTo('getUpdates')).toEqual([]);
    });
  });

  it('asks Telegram for pre_checkout_query updates, or checkouts would never arrive', async () => {
    const w = await startWorld();
    await eventually(() =>
      expect(w.fake.callsTo('getUpdates').at(-1)?.params['allowed_updates']).toEqual(
        expect.arrayContaining(['message', 'pre_checkout_query']),
      ),
    );
  });
});

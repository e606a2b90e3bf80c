import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SIM_ASSETS } from '../../src/sim/assets.js';
import type { StoredMessage } from '../fakes/telegram-api.js';
import { eventually, STARTING, TelegramWorld as World } from '../helpers/telegram-world.js';

/**
 * Quote and Confirm through grammY against the fake Bot API: above CONFIRM_ABOVE_CREDITS (45 here) the bot answers
 * with the price and Confirm / Cancel buttons, and holds nothing until Confirm. seedance-1-pro costs 50 credits for
 * 5 s at its default 720p.
 */

const simImage = () => fs.readFileSync(SIM_ASSETS.image);
const buttons = (message: StoredMessage | undefined) =>
  message?.replyMarkup?.inline_keyboard.flat().map((b) => ('callback_data' in b ? b.callback_data : b.text)) ?? [];
/** The engine's clock, moved by the test instead of sleeping. */
const clock = {
  offset: 0,
  now() {
    return Date.now() + this.offset;
  },
};

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function start(): Promise<World> {
  clock.offset = 0;
  world = await World.start({ env: { CONFIRM_ABOVE_CREDITS: '45' }, clock });
  await world.boot();
  return world;
}

/** The quote the bot sent in reply to `update`, once it shows its buttons. */
async function quoteFor(w: World, update: ReturnType<World['fake']['sendText']>): Promise<StoredMessage> {
  let quote: StoredMessage | undefined;
  await eventually(() => {
    quote = w.fake.repliesTo(update.message!).find((m) => m.text?.includes('Confirm within 2 minutes'));
    expect(quote).toBeDefined();
  });
  expect(buttons(quote)).toEqual([
    expect.stringMatching(/^confirm:q[a-z0-9]+$/),
    expect.stringMatching(/^dropquote:q[a-z0-9]+$/),
  ]);
  return quote!;
}

/** The stored message as it is now (after the bot's edits). */
const now = (w: World, message: StoredMessage) =>
  w.fake.messagesIn({ id: message.chatId } as never).find((m) => m.messageId === message.messageId)!;

describe('Telegram: quote and confirm', () => {
  it('quotes a photo without downloading it; Confirm downloads it and makes one job with one hold', async () => {
    const w = await start();
    const alice = w.fake.user();
    const chat = w.fake.privateChat(alice);
    const update = w.fake.sendPhoto(alice, chat, { bytes: simImage(), caption: 'the fox wakes up and runs away' });
    const quote = await quoteFor(w, update);
    expect(quote.text).toContain('50 credits');
    expect(w.fake.callsTo('getFile')).toHaveLength(0);
    expect(await w.jobs()).toEqual([]);
    expect(await w.balance(alice)).toBe(STARTING);

    const press = w.fake.pressButton(alice, quote, 'confirm:').callbackId;
    const [job] = await w.jobsReach(1);
    expect(job).toMatchObject({ prompt: 'the fox wakes up and runs away', price: 50 });
    expect(fs.readFileSync(path.join(w.dir, 'media', job!.inputMediaKey!)).equals(simImage())).toBe(true);
    expect(w.sim.requests()[0]!.input['image_url']).toBe(`data:image/png;base64,${simImage().toString('base64')}`);
    expect(w.fake.callbackAnswer(press)).toMatchObject({ text: `Confirmed: 50 credits for job ${job!.id}.` });
    await eventually(() => expect(now(w, quote).text).toBe(`Confirmed: 50 credits for job ${job!.id}.`));
    expect(buttons(now(w, quote))).toEqual([]);
    expect(await w.balance(alice)).toBe(STARTING - 50);
    await w.expectLedgerBalanced();
  });

  it('makes one job when Confirm is pressed twice at once', async () => {
    const w = await start();
    const alice = w.fake.user();
    const chat = w.fake.privateChat(alice);
    const quote = await quoteFor(w, w.fake.sendText(alice, chat, '/video a red fox'));
    const presses = [
      w.fake.pressButton(alice, quote, 'confirm:').callbackId,
      w.fake.pressButton(alice, quote, 'confirm:').callbackId,
    ];
    const [job] = await w.jobsReach(1);
    await eventually(() =>
      expect(presses.map((p) => w.fake.callbackAnswer(p)?.text).sort()).toEqual([
        `Already confirmed as job ${job!.id}.`,
        `Confirmed: 50 credits for job ${job!.id}.`,
      ]),
    );
    expect(await w.jobs()).toHaveLength(1);
    expect(await w.balance(alice)).toBe(STARTING - 50);
    await w.expectLedgerBalanced();
  });

  it('refuses another member of the group, and leaves the quote as it was', async () => {
    const w = await start();
    const group = w.fake.group();
    const [alice, bob] = [w.fake.user({ first_name: 'Alice' }), w.fake.user({ first_name: 'Bob' })];
    const quote = await quoteFor(w, w.fake.sendText(alice, group, '/video a red fox'));
    const byBob = w.fake.pressButton(bob, quote, 'confirm:').callbackId;
    await eventually(() =>
      expect(w.fake.callbackAnswer(byBob)).toMatchObject({
        text: 'Only the person who asked for this video can confirm or cancel it.',
        show_alert: true,
      }),
    );
    const cancelByBob = w.fake.pressButton(bob, quote, 'dropquote:').callbackId;
    await eventually(() => expect(w.fake.callbackAnswer(cancelByBob)).toMatchObject({ show_alert: true }));
    expect(await w.jobs()).toEqual([]);
    expect(buttons(now(w, quote))).toHaveLength(2);
  });

  it('says an expired quote expired, edits it so, and downloads and charges nothing', async () => {
    const w = await start();
    const alice = w.fake.user();
    const chat = w.fake.privateChat(alice);
    const quote = await quoteFor(w, w.fake.sendPhoto(alice, chat, { bytes: simImage(), caption: 'the fox wakes up' }));
    clock.offset = 2 * 60_000 + 1;
    const press = w.fake.pressButton(alice, quote, 'confirm:').callbackId;
    await eventually(() =>
      expect(w.fake.callbackAnswer(press)).toMatchObject({
        text: expect.stringMatching(/expired; nothing was charged/),
        show_alert: true,
      }),
    );
    await eventually(() => expect(now(w, quote).text).toMatch(/expired/));
    expect(buttons(now(w, quote))).toEqual([]);
    expect(w.fake.callsTo('getFile')).toHaveLength(0);
    expect(await w.jobs()).toEqual([]);
    expect(await w.balance(alice)).toBe(STARTING);
  });

  it('Cancel edits the quote and holds nothing', async () => {
    const w = await start();
    const alice = w.fake.user();
    const chat = w.fake.privateChat(alice);
    const quote = await quoteFor(w, w.fake.sendText(alice, chat, '/video a red fox'));
    w.fake.pressButton(alice, quote, 'dropquote:');
    await eventually(() => expect(now(w, quote).text).toBe('Cancelled; nothing was charged.'));
    expect(buttons(now(w, quote))).toEqual([]);
    expect(await w.jobs()).toEqual([]);
    expect(await w.balance(alice)).toBe(STARTING);
  });
});

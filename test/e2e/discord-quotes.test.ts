import { afterEach, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../fakes/discord.js';
import { buttonIds, DiscordWorld as World, STARTING } from '../helpers/discord-world.js';

/**
 * Quote and Confirm through discord.js against the fake Discord: above CONFIRM_ABOVE_CREDITS the `/video` reply shows
 * the price with Confirm and Cancel, and nothing is held until Confirm. seedance-1-pro costs 40 credits for 5 s at
 * 480p and 50 at 720p (its default); the threshold here is 45.
 */

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
  world = await World.start({ env: () => ({ CONFIRM_ABOVE_CREDITS: '45' }), clock });
  return world;
}

describe('Discord: quote and confirm', () => {
  it('makes a video below the threshold at once, with no quote', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const i = w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });
    await w.status(i, 'Cost: 40 credits');
    await w.jobIn('succeeded');
    expect(await w.balance(alice)).toBe(STARTING - 40);
  });

  it('shows the price with Confirm and Cancel above it; Confirm makes one job with one hold, and the quote says so', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const i = w.fake.slash(alice, 'video', { prompt: 'a red fox' });
    const quote = await w.quoteOf(i);
    expect(quote.message.content).toContain('50 credits');
    expect(await w.jobs()).toEqual([]);
    expect(await w.balance(alice)).toBe(STARTING);

    const press = w.fake.press(alice, quote.message, quote.confirm);
    await w.status(press, 'Cost: 50 credits');
    const job = await w.jobIn('succeeded');
    expect(job).toMatchObject({ prompt: 'a red fox', price: 50 });
    await w.fake.waitFor('the quote to say it was confirmed', () =>
      w.fake.message(quote.message.id)!.content.includes(`job ${job.id}`) ? true : undefined,
    );
    expect(buttonIds(w.fake.message(quote.message.id)!)).toEqual([]);
    expect(await w.balance(alice)).toBe(STARTING - 50);
    await w.expectLedgerBalanced();
  });

  it('makes one job when Confirm is pressed twice at once', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const quote = await w.quoteOf(w.fake.slash(alice, 'video', { prompt: 'a red fox' }));
    const first = w.fake.press(alice, quote.message, quote.confirm);
    const second = w.fake.press(alice, quote.message, quote.confirm);
    const job = await w.jobIn('succeeded');
    const refusals = await Promise.all(
      [first, second].map((p) =>
        w.fake.waitFor('an answer', () => w.fake.original(p)?.content || w.fake.followUps(p)[0]?.content || undefined),
      ),
    );
    expect(refusals.filter((a) => a === `Already confirmed as job ${job.id}.`)).toHaveLength(1);
    expect((await w.jobs()).length).toBe(1);
    expect(await w.balance(alice)).toBe(STARTING - 50);
    await w.expectLedgerBalanced();
  });

  it('refuses another member’s press privately, and leaves the quote open', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const bob = w.fake.member('Bob');
    const quote = await w.quoteOf(w.fake.slash(alice, 'video', { prompt: 'a red fox' }));
    expect(await w.privateReply(w.fake.press(bob, quote.message, quote.confirm))).toBe(
      'Only the person who asked for this video can confirm or cancel it.',
    );
    expect(await w.privateReply(w.fake.press(bob, quote.message, quote.cancel))).toBe(
      'Only the person who asked for this video can confirm or cancel it.',
    );
    expect(await w.jobs()).toEqual([]);
    expect(buttonIds(w.fake.message(quote.message.id)!)).toEqual([quote.confirm, quote.cancel]);
  });

  it('says an expired quote expired, edits it so, and charges nothing', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const quote = await w.quoteOf(w.fake.slash(alice, 'video', { prompt: 'a red fox' }));
    clock.offset = 2 * 60_000;
    expect(await w.privateReply(w.fake.press(alice, quote.message, quote.confirm))).toMatch(
      /expired; nothing was charged/,
    );
    const edited = w.fake.message(quote.message.id)!;
    expect(edited.content).toMatch(/expired/);
    expect(buttonIds(edited)).toEqual([]);
    expect(await w.jobs()).toEqual([]);
    expect(await w.balance(alice)).toBe(STARTING);
  });

  it('Cancel edits the quote and holds nothing', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const quote = await w.quoteOf(w.fake.slash(alice, 'video', { prompt: 'a red fox' }));
    w.fake.press(alice, quote.message, quote.cancel);
    await w.fake.waitFor('the quote to say it was cancelled', () =>
      w.fake.message(quote.message.id)!.content.includes('Cancelled; nothing was charged') ? true : undefined,
    );
    expect(buttonIds(w.fake.message(quote.message.id)!)).toEqual([]);
    expect(await w.jobs()).toEqual([]);
    expect(await w.balance(alice)).toBe(STARTING);
  });

  it('refuses to charge when the server’s default model changed the price, and shows the new quote', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const mod = w.fake.member('Mod', { permissions: PERMISSIONS.ManageGuild | PERMISSIONS.ViewChannel });
    const quote = await w.quoteOf(w.fake.slash(alice, 'video', { prompt: 'a red fox' }));
    const settings = w.fake.slash(mod, 'settings', { default_model: 'seedance-2' });
    await w.privateReply(settings);

    expect(await w.privateReply(w.fake.press(alice, quote.message, quote.confirm))).toMatch(
      /price changed from 50 to 190 credits; nothing was charged/,
    );
    const requoted = w.fake.message(quote.message.id)!;
    expect(requoted.content).toContain('190 credits');
    const [confirm] = buttonIds(requoted);
    expect(confirm).not.toBe(quote.confirm);
    expect(await w.jobs()).toEqual([]);
    expect(await w.balance(alice)).toBe(STARTING);
  });

  it('quotes a Retry above the threshold under the result, since it charges again', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const first = w.fake.slash(alice, 'video', { prompt: 'a red fox' });
    const asked = await w.quoteOf(first);
    w.fake.press(alice, asked.message, asked.confirm);
    const job = await w.jobIn('succeeded');
    const result = await w.delivery(alice);

    const retry = w.fake.press(alice, result, `clipbot:retry:${job.id}`);
    const quote = await w.quoteOf(retry);
    expect(quote.message.content).toContain('50 credits');
    expect(await w.jobs()).toHaveLength(1);
    expect(await w.balance(alice)).toBe(STARTING - 50);
    w.fake.press(alice, quote.message, quote.confirm);
    const second = await w.jobIn('succeeded', 1);
    expect(second).toMatchObject({ prompt: 'a red fox', price: 50 });
    expect(await w.balance(alice)).toBe(STARTING - 100);
    await w.expectLedgerBalanced();
  });

  it('answers "@clipbot <prompt>" above the threshold with the quote, in reply to the member’s message', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const asked = w.fake.mention(alice, 'a red fox running through snow');
    const quote = await w.fake.waitFor('a quote reply', () =>
      w.fake.channelMessages().find((m) => m.referencedMessageId === asked.id),
    );
    expect(quote.content).toContain('50 credits');
    expect(quote.pinged).toEqual({ everyone: false, users: [], roles: [] });
    const [confirm] = buttonIds(quote);
    w.fake.press(alice, quote, confirm!);
    expect(await w.jobIn('succeeded')).toMatchObject({ prompt: 'a red fox running through snow', price: 50 });
  });
});

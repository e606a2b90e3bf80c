import { afterEach, describe, expect, it } from 'vitest';
import {
  MEMBER_PERMISSIONS,
  PERMISSIONS,
  type FakeDiscord,
  type FakeEntitlement,
  type FakeMember,
  type FakeSku,
} from '../fakes/discord.js';
import { DiscordWorld as World, EPHEMERAL, OWNER_ID } from '../helpers/discord-world.js';

/**
 * Buying credits on Discord with premium purchases (issue 15), end to end: the whole bot through the real discord.js
 * against the fake Discord (REST + gateway), on the test store (SQLite, or PostgreSQL under
 * CLIPBOT_TEST_STORE=postgres). The owners sell one-time consumable SKUs (DISCORD_SKU_CREDITS); /buy shows Discord's
 * premium buttons; a purchase is an entitlement, announced by ENTITLEMENT_CREATE and listed until consumed; the bot
 * credits it once (ledger `purchase`, payment id `discord:<entitlement id>`), then consumes it; ENTITLEMENT_DELETE takes
 * the credits back as far as the balance allows.
 */

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

interface Shop {
  w: World;
  small: FakeSku;
  large: FakeSku;
}

/** A bot selling 100 and 500 credit SKUs, with owner alerts in the guild's second channel. */
async function startShop(env: Record<string, string> = {}): Promise<Shop> {
  let small: FakeSku | undefined;
  let large: FakeSku | undefined;
  world = await World.start({
    env: (fake) => {
      small = fake.addSku('100 credits');
      large = fake.addSku('500 credits');
      return {
        DISCORD_SKU_CREDITS: `${small.id}:100,${large.id}:500`,
        OWNER_ALERT_CHAT: `discord:${fake.otherChannelId}`,
        STARTING_CREDITS: '0',
        ...env,
      };
    },
  });
  return { w: world, small: small!, large: large! };
}

const consumeCalls = (fake: FakeDiscord, e: FakeEntitlement) =>
  fake.calls('POST', new RegExp(`^/applications/\\d+/entitlements/${e.id}/consume$`));

async function purchaseEntries(w: World) {
  return (await w.rows.ledger())
    .filter((e) => e.kind === 'purchase' || e.kind === 'purchase_refund')
    .map((e) => [e.kind, e.amount, e.paymentId]);
}

/** Waits until the entitlement is credited and consumed. */
async function delivered(w: World, e: FakeEntitlement): Promise<void> {
  await w.fake.waitFor(`entitlement ${e.id} to be consumed`, () => e.consumed);
}

const alerts = (w: World) => w.fake.channelMessages(w.fake.otherChannelId).map((m) => m.content);

describe('buying credits on Discord', () => {
  it('/buy lists the packs and shows a premium button per SKU; the purchase is credited once, consumed, and shows in /balance', async () => {
    const { w, small, large } = await startShop();
    const alice = w.fake.member('Alice');
    const i = w.fake.slash(alice, 'buy', {});
    expect(await w.privateReply(i)).toMatch(/^Credit packs: 100 credits, 500 credits\. Buy one with its button below/);
    const offer = await w.fake.waitFor('the purchase buttons', () =>
      w.fake.followUps(i).find((m) => m.components.length > 0),
    );
    expect(offer.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(offer.components.flatMap((r) => r.components)).toEqual([
      { type: 2, style: 6, sku_id: small.id },
      { type: 2, style: 6, sku_id: large.id },
    ]);

    const bought = w.fake.buyWith(alice, offer, large.id);
    await delivered(w, bought);
    expect(await purchaseEntries(w)).toEqual([['purchase', 500, `discord:${bought.id}`]]);
    expect(await w.balance(alice)).toBe(500);
    expect(consumeCalls(w.fake, bought)).toHaveLength(1);

    const balance = await w.privateReply(w.fake.slash(alice, 'balance', {}));
    expect(balance).toContain('You have 500 credits.');
    expect(balance).toContain(`bought 500 credits (Discord purchase of SKU ${large.id}) · payment ${bought.id}`);
    await w.expectLedgerBalanced();
  });

  it('/buy <credits> offers that pack only, and refuses a pack that does not exist', async () => {
    const { w, small } = await startShop();
    const alice = w.fake.member('Alice');
    const i = w.fake.slash(alice, 'buy', { credits: 100 });
    await w.privateReply(i);
    const offer = await w.fake.waitFor('the purchase button', () =>
      w.fake.followUps(i).find((m) => m.components.length > 0),
    );
    expect(offer.components.flatMap((r) => r.components).map((b) => b.sku_id)).toEqual([small.id]);
    const none = w.fake.slash(alice, 'buy', { credits: 42 });
    expect(await w.privateReply(none)).toBe('There is no pack of 42 credits. Packs: 100 credits, 500 credits.');
    expect(w.fake.followUps(none)).toEqual([]);
  });

  it('a replayed ENTITLEMENT_CREATE credits nothing more and consumes nothing twice', async () => {
    const { w, small } = await startShop();
    const alice = w.fake.member('Alice');
    const bought = w.fake.purchase(alice, small.id);
    await delivered(w, bought);
    // Discord replays the event (a resumed session): the entitlement says consumed now, and the ledger has it.
    w.fake.redeliverEntitlement(bought.id);
    // And as it was first sent (consumed: false), twice, as a second gateway session would.
    bought.consumed = false;
    w.fake.redeliverEntitlement(bought.id);
    w.fake.redeliverEntitlement(bought.id);
    await w.fake.waitFor(
      'the replays to be consumed',
      () => consumeCalls(w.fake, bought).length >= 3 && bought.consumed,
    );
    expect(await purchaseEntries(w)).toEqual([['purchase', 100, `discord:${bought.id}`]]);
    expect(await w.balance(alice)).toBe(100);
    await w.expectLedgerBalanced();
  });

  it('a purchase made while the bot was down is found in the entitlement list at start, credited once and consumed', async () => {
    const { w, small, large } = await startShop();
    const alice = w.fake.member('Alice');
    const bob = w.fake.member('Bob');
    const before = w.fake.purchase(alice, small.id);
    await delivered(w, before);
    await w.bot!.stop();
    w.bot = undefined;
    // Nobody is connected: Discord cannot deliver these events.
    const missed = [w.fake.purchase(alice, large.id), w.fake.purchase(bob, small.id)];
    expect(w.fake.gateway.connected).toBe(0);
    await w.boot();
    for (const e of missed) await delivered(w, e);

    const lists = w.fake.calls('GET', /^\/applications\/\d+\/entitlements$/);
    expect(lists.length).toBeGreaterThanOrEqual(1);
    expect(Object.fromEntries(lists[0]!.query)).toEqual({
      exclude_ended: 'true',
      exclude_deleted: 'false',
      limit: '100',
    });
    expect(lists.every((r) => r.status === 200)).toBe(true);
    expect((await purchaseEntries(w)).sort()).toEqual(
      [
        ['purchase', 100, `discord:${before.id}`],
        ['purchase', 500, `discord:${missed[0]!.id}`],
        ['purchase', 100, `discord:${missed[1]!.id}`],
      ].sort(),
    );
    expect(await w.balance(alice)).toBe(600);
    expect(await w.balance(bob)).toBe(100);
    // The entitlement already consumed before the restart is not consumed again.
    expect(consumeCalls(w.fake, before)).toHaveLength(1);
    await w.expectLedgerBalanced();
  });

  it('reads the entitlement list page by page (100 a page, `after` the last id) at start', async () => {
    const { w, small } = await startShop();
    const alice = w.fake.member('Alice');
    await w.bot!.stop();
    w.bot = undefined;
    const missed = Array.from({ length: 101 }, () => w.fake.purchase(alice, small.id));
    const listed = () => w.fake.calls('GET', /^\/applications\/\d+\/entitlements$/);
    const before = listed().length;
    await w.boot();
    await w.fake.waitFor('every missed purchase to be consumed', () => missed.every((e) => e.consumed), 20_000);
    const lists = listed().slice(before);
    expect(lists.map((r) => r.query.get('after'))).toEqual([null, missed[99]!.id]);
    expect(await w.balance(alice)).toBe(101 * 100);
    expect(await purchaseEntries(w)).toHaveLength(101);
    await w.expectLedgerBalanced();
  });

  it('a purchase credited but never consumed (the bot died in between) is consumed at the next start, not credited twice', async () => {
    const { w, small } = await startShop();
    const alice = w.fake.member('Alice');
    // Discord never takes the consume: as if the process died right after crediting.
    w.fake.inject({ method: 'POST', path: /\/entitlements\/\d+\/consume$/, times: 50, respond: { status: 503 } });
    const bought = w.fake.purchase(alice, small.id);
    await w.fake.waitFor('the purchase to be credited', async () => (await purchaseEntries(w)).length === 1);
    await w.fake.waitFor(
      'the consume to be refused',
      () => consumeCalls(w.fake, bought).length > 0 && consumeCalls(w.fake, bought).every((r) => r.status === 503),
    );
    expect(bought.consumed).toBe(false);
    w.fake.clearFaults();

    await w.restart();
    await delivered(w, bought);
    expect(await purchaseEntries(w)).toEqual([['purchase', 100, `discord:${bought.id}`]]);
    expect(await w.balance(alice)).toBe(100);
    await w.expectLedgerBalanced();
  });

  it('a purchase of a SKU not in DISCORD_SKU_CREDITS is not credited nor consumed; the owners are alerted once; adding the SKU credits it at the next start', async () => {
    const { w } = await startShop();
    const alice = w.fake.member('Alice');
    const stray = w.fake.addSku('a SKU the bot does not sell');
    const bought = w.fake.purchase(alice, stray.id);
    const [alert] = await w.fake.waitFor('the owner alert', () => (alerts(w).length > 0 ? alerts(w) : undefined));
    expect(alert).toContain(`<@${OWNER_ID}>`);
    expect(alert).toContain(`entitlement ${bought.id}`);
    expect(alert).toContain('not credited');
    w.fake.redeliverEntitlement(bought.id);
    // The replay is handled (a later purchase of a known SKU is credited after it) and alerts no one again.
    const next = w.fake.purchase(alice, w.config.DISCORD_SKU_CREDITS[0]!.skuId);
    await delivered(w, next);
    expect(alerts(w)).toHaveLength(1);
    expect(bought.consumed).toBe(false);
    expect(consumeCalls(w.fake, bought)).toEqual([]);
    expect(await purchaseEntries(w)).toEqual([['purchase', 100, `discord:${next.id}`]]);

    await w.restart({
      DISCORD_SKU_CREDITS: `${w.config.DISCORD_SKU_CREDITS.map((p) => `${p.skuId}:${p.credits}`).join(',')},${stray.id}:42`,
    });
    await delivered(w, bought);
    expect(await w.balance(alice)).toBe(142);
    await w.expectLedgerBalanced();
  });

  it('a banned member’s purchase is credited (they paid Discord) and the owners are told', async () => {
    const { w, small } = await startShop();
    const alice = w.fake.member('Alice');
    const owner = w.fake.member('Owner', { id: OWNER_ID });
    expect(await w.privateReply(w.fake.slash(owner, 'ban', { user: alice, reason: 'spam' }))).toMatch(/banned/i);
    // /buy itself refuses a banned member…
    expect(await w.privateReply(w.fake.slash(alice, 'buy', {}))).toBe('You are banned from using this bot.');
    // …but a purchase Discord already took payment for is theirs.
    const bought = w.fake.purchase(alice, small.id);
    await delivered(w, bought);
    expect(await w.balance(alice)).toBe(100);
    const alert = await w.fake.waitFor('the owner alert', () => alerts(w).find((a) => a.includes('banned')));
    expect(alert).toContain(`discord:${alice.id}`);
    await w.expectLedgerBalanced();
  });
});

describe('Discord refunds (ENTITLEMENT_DELETE)', () => {
  it('takes the credits back once, as far as the balance goes, says what could not be taken back, and /history marks it refunded', async () => {
    const { w, small } = await startShop({ STARTING_CREDITS: '0' });
    const alice = w.fake.member('Alice');
    const bought = w.fake.purchase(alice, small.id);
    await delivered(w, bought);
    // Alice spends 40 of the 100 on a video.
    w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });
    await w.jobIn('succeeded');
    expect(await w.balance(alice)).toBe(60);

    w.fake.deleteEntitlement(bought.id);
    const alert = await w.fake.waitFor('the refund alert', () => alerts(w).find((a) => a.includes('refunded')));
    expect(alert).toContain(`took back 60 of its 100 credits. 40 could not be taken back`);
    expect(await w.balance(alice)).toBe(0);
    expect(await purchaseEntries(w)).toEqual([
      ['purchase', 100, `discord:${bought.id}`],
      ['purchase_refund', -60, `discord:${bought.id}`],
    ]);
    // Deleted again (a replay), and an update saying deleted: nothing more.
    w.fake.deleteEntitlement(bought.id);
    w.fake.gateway.dispatch('ENTITLEMENT_UPDATE', null, { ...rawOf(w.fake, bought) });
    const later = w.fake.purchase(alice, small.id);
    await delivered(w, later);
    expect(await purchaseEntries(w)).toHaveLength(3);
    expect(alerts(w).filter((a) => a.includes('refunded'))).toHaveLength(1);
    expect(await w.balance(alice)).toBe(100);

    const history = await w.privateReply(w.fake.slash(alice, 'history', {}));
    expect(history).toMatch(
      new RegExp(`bought 100 credits .* payment ${bought.id} · refunded by Discord \\(60 credits taken back\\)`),
    );
    expect(history).not.toMatch(new RegExp(`payment ${later.id} · refunded`));

    // The owners' /stats: credits sold on Discord after refunds, beside the provider spend; a moderator sees no money.
    const owner = w.fake.member('Owner', { id: OWNER_ID });
    const stats = await w.privateReply(w.fake.slash(owner, 'stats', {}));
    expect(stats).toContain(
      'Revenue after refunds, all time:\n  Discord: 100 credits sold (Discord does not tell bots the price paid); 2 purchases, 1 refunded (60 credits taken back)\nProvider spend, all time: about $',
    );
    const moderator = w.fake.member('Mod', { permissions: MEMBER_PERMISSIONS | PERMISSIONS.ManageGuild });
    expect(await w.privateReply(w.fake.slash(moderator, 'stats', {}))).not.toContain('Revenue');
    await w.expectLedgerBalanced();
  });

  it('a purchase refunded before anyone spent from it leaves the balance where it was before buying', async () => {
    const { w, large } = await startShop({ STARTING_CREDITS: '25' });
    const alice = w.fake.member('Alice');
    const bought = w.fake.purchase(alice, large.id);
    await delivered(w, bought);
    expect(await w.balance(alice)).toBe(525);
    w.fake.deleteEntitlement(bought.id);
    await w.fake.waitFor('the refund', async () => (await purchaseEntries(w)).length === 2);
    expect(await w.balance(alice)).toBe(25);
    const alert = await w.fake.waitFor('the refund alert', () => alerts(w).find((a) => a.includes('refunded')));
    expect(alert).toContain('took back 500 of its 500 credits. Balance now 25.');
    expect(alert).not.toContain('could not be taken back');
    await w.expectLedgerBalanced();
  });

  it('an ENTITLEMENT_UPDATE saying the entitlement is deleted takes the credits back like a deletion, once', async () => {
    const { w, small } = await startShop({ STARTING_CREDITS: '10' });
    const alice = w.fake.member('Alice');
    const bought = w.fake.purchase(alice, small.id);
    await delivered(w, bought);
    // An update that changes nothing that matters (not deleted) takes nothing.
    w.fake.gateway.dispatch('ENTITLEMENT_UPDATE', null, rawOf(w.fake, bought));
    w.fake.gateway.dispatch('ENTITLEMENT_UPDATE', null, { ...rawOf(w.fake, bought), deleted: true });
    w.fake.gateway.dispatch('ENTITLEMENT_UPDATE', null, { ...rawOf(w.fake, bought), deleted: true });
    await w.fake.waitFor('the refund', async () => (await purchaseEntries(w)).length === 2);
    expect(await purchaseEntries(w)).toEqual([
      ['purchase', 100, `discord:${bought.id}`],
      ['purchase_refund', -100, `discord:${bought.id}`],
    ]);
    expect(await w.balance(alice)).toBe(10);
    await w.expectLedgerBalanced();
  });

  it('a refund Discord made while the bot was down is taken back at the next start, once', async () => {
    const { w, small } = await startShop({ STARTING_CREDITS: '10' });
    const alice = w.fake.member('Alice');
    const bought = w.fake.purchase(alice, small.id);
    await delivered(w, bought);
    await w.bot!.stop();
    w.bot = undefined;
    w.fake.deleteEntitlement(bought.id);
    await w.boot();
    await w.fake.waitFor('the refund', async () => (await purchaseEntries(w)).length === 2);
    expect(await w.balance(alice)).toBe(10);
    await w.restart();
    await w.fake.waitFor(
      'the second list at start',
      () => w.fake.calls('GET', /^\/applications\/\d+\/entitlements$/).length >= 3,
    );
    const next = w.fake.purchase(alice, small.id);
    await delivered(w, next);
    expect(await purchaseEntries(w)).toEqual([
      ['purchase', 100, `discord:${bought.id}`],
      ['purchase_refund', -100, `discord:${bought.id}`],
      ['purchase', 100, `discord:${next.id}`],
    ]);
    expect(await w.balance(alice)).toBe(110);
    await w.expectLedgerBalanced();
  });

  it('an entitlement deleted before it was credited takes nothing and is not credited later', async () => {
    const { w, small } = await startShop();
    const alice = w.fake.member('Alice');
    await w.bot!.stop();
    w.bot = undefined;
    const bought = w.fake.purchase(alice, small.id);
    w.fake.deleteEntitlement(bought.id);
    await w.boot();
    await w.fake.waitFor('the entitlement list at start', () =>
      w.fake.calls('GET', /^\/applications\/\d+\/entitlements$/).some((r) => r.status === 200),
    );
    const next = w.fake.purchase(alice, small.id);
    await delivered(w, next);
    expect(await purchaseEntries(w)).toEqual([['purchase', 100, `discord:${next.id}`]]);
    await w.expectLedgerBalanced();
  });
});

describe('the fake Discord’s entitlement routes', () => {
  it('validate like Discord: unknown params, bad limits and unknown entitlements are refused', async () => {
    const { w, small } = await startShop();
    const alice: FakeMember = w.fake.member('Alice');
    const bought = w.fake.purchase(alice, small.id);
    await delivered(w, bought);
    const base = `${w.fake.apiBase}/v10/applications/${w.fake.applicationId}/entitlements`;
    const auth = { authorization: `Bot ${w.fake.token}` };
    const get = async (query: string) => {
      const r = await fetch(`${base}?${query}`, { headers: auth });
      return { status: r.status, body: (await r.json()) as unknown };
    };
    expect((await get('consumed=false')).status).toBe(400);
    expect((await get('limit=0')).status).toBe(400);
    expect((await get('limit=101')).status).toBe(400);
    expect((await get('exclude_ended=maybe')).status).toBe(400);
    const listed = await get(`user_id=${alice.id}&sku_ids=${small.id}`);
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject([{ id: bought.id, consumed: true, user_id: alice.id, sku_id: small.id }]);
    const consume = (id: string) =>
      fetch(`${base}/${id}/consume`, { method: 'POST', headers: auth }).then((r) => r.status);
    expect(await consume('1234567890123456789')).toBe(404);
    expect(await consume(bought.id)).toBe(400);
    expect((await fetch(`${base}`, { headers: {} })).status).toBe(401);
  });
});

function rawOf(fake: FakeDiscord, e: FakeEntitlement) {
  return {
    id: e.id,
    sku_id: e.skuId,
    application_id: fake.applicationId,
    user_id: e.userId,
    type: e.type,
    deleted: e.deleted,
    consumed: e.consumed,
    starts_at: e.startsAt,
    ends_at: e.endsAt,
  };
}

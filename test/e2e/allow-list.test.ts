import type { Update } from 'grammy/types';
import { afterEach, describe, expect, it } from 'vitest';
import { PERMISSIONS, type FakeInteraction } from '../fakes/discord.js';
import type { FakeUser, StoredMessage } from '../fakes/telegram-api.js';
import { DiscordWorld, OWNER_ID, PRICE, STARTING } from '../helpers/discord-world.js';
import { eventually, FOX, TelegramWorld } from '../helpers/telegram-world.js';
import { escapeForDiscord } from '../../src/platforms/discord/discord-markdown.js';

/**
 * ALLOWED_COMMUNITIES (design.md §9): outside the listed servers and groups the bot answers nobody, owners
 * included, with one short refusal per community and then silence; private chats are always served; with
 * LEAVE_UNLISTED it leaves. Through grammY and discord.js against the fakes.
 */

const REFUSAL = 'This bot is not available in this server or group. Ask its owner to add it to ALLOWED_COMMUNITIES.';
/** The same words as Discord receives them: Markdown escaped, so the name shows as typed. */
const DISCORD_REFUSAL = escapeForDiscord(REFUSAL);

let world: { close(): Promise<void> } | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('the allow-list on Telegram', () => {
  async function start(env: Record<string, string> = {}) {
    const w = await TelegramWorld.start();
    world = w;
    const listed = w.fake.group('Listed club');
    const unlisted = w.fake.group('Unlisted club');
    const owner = w.fake.user({ first_name: 'Olga' });
    await w.boot({ ALLOWED_COMMUNITIES: `telegram:${listed.id}`, OWNER_IDS: `telegram:${owner.id}`, ...env });
    return { w, listed, unlisted, owner };
  }

  /**
   * Each member's updates in a chat are handled in order, different members' and chats' side by side (the adapter's
   * sequentialize key is chat and member). So a button press by each of `members` on `message`, once answered, means
   * everything they sent to that chat before it was handled. A press on no known button is answered at once, and the
   * allow-list does not gate it.
   */
  async function handledSoFar(w: TelegramWorld, members: FakeUser[], message: StoredMessage): Promise<void> {
    const presses = members.map((m) => w.fake.pressWithData(m, message, 'probe'));
    await eventually(() => presses.forEach((p) => expect(w.fake.callbackAnswer(p.callbackId)).toBeDefined()));
  }

  it('an unlisted group hears one refusal for many messages, owners included; nothing is charged and no job is made', async () => {
    const { w, unlisted, owner } = await start();
    const ann = w.fake.user({ first_name: 'Ann' });
    w.fake.setMemberStatus(unlisted, owner, 'creator');
    const sent: Update[] = [
      w.fake.sendText(ann, unlisted, FOX),
      w.fake.sendText(ann, unlisted, '/balance'),
      w.fake.sendText(owner, unlisted, '/credits grant telegram:1 5'),
      w.fake.sendText(ann, unlisted, `@${w.fake.bot.username} a heron in the reeds`),
    ];
    const [refusal] = await eventually(() => {
      const said = w.fake.botMessages(unlisted);
      expect(said).not.toEqual([]);
      return said;
    });
    await handledSoFar(w, [ann, owner], refusal!);

    const said = w.fake.botMessages(unlisted);
    expect(said.map((m) => m.text)).toEqual([REFUSAL]);
    // Each member's updates are handled in order, different members' side by side: the refusal answers the first
    // message of whichever of Ann and the owner came first.
    expect([sent[0], sent[2]].map((u) => u!.message!.message_id)).toContain(said[0]!.replyTo);
    expect(await w.jobs()).toEqual([]);
    expect(w.sim.requests()).toEqual([]);
    // Nobody there was charged, granted or even given an account.
    expect(await w.rows.users()).toEqual([]);
    expect(await w.rows.ledger()).toEqual([]);
    expect(w.fake.callsTo('leaveChat')).toEqual([]);
    expect(w.fake.callsTo('getChatMember')).toEqual([]);
  });

  it('a listed group and private chats are served', async () => {
    const { w, listed } = await start();
    const ann = w.fake.user({ first_name: 'Ann' });
    const bob = w.fake.user({ first_name: 'Bob' });
    w.fake.sendText(ann, listed, FOX);
    w.fake.sendText(bob, w.fake.privateChat(bob), FOX);
    const [inGroup, inPrivate] = await w.jobsReach(2);
    expect([inGroup!.chatId, inPrivate!.chatId].sort()).toEqual([String(listed.id), String(bob.id)].sort());
    expect(await w.balance(ann)).toBe(STARTING - PRICE);
    expect(await w.balance(bob)).toBe(STARTING - PRICE);
    expect(w.fake.botMessages(listed).some((m) => m.text === REFUSAL)).toBe(false);
  });

  it('with LEAVE_UNLISTED the bot refuses once and leaves the unlisted group; /communities shows it as left', async () => {
    const { w, listed, unlisted, owner } = await start({ LEAVE_UNLISTED: 'true' });
    const ann = w.fake.user({ first_name: 'Ann' });
    const cat = w.fake.user({ first_name: 'Cat' });
    w.fake.sendText(ann, unlisted, FOX);
    const left = await w.fake.waitForCall('leaveChat');
    expect(Number(left.params['chat_id'])).toBe(unlisted.id);
    expect(w.fake.leftChats).toEqual([unlisted.id]);
    expect(w.fake.botMessages(unlisted).map((m) => m.text)).toEqual([REFUSAL]);

    // The listed group is served: two members, two videos.
    w.fake.sendText(ann, listed, FOX);
    w.fake.sendText(cat, listed, FOX);
    await w.jobsReach(2);
    const asked = w.fake.sendText(owner, w.fake.privateChat(owner), '/communities');
    expect((await w.replyTo(asked)).text!.split('\n')).toEqual([
      `Listed club (telegram:${listed.id}): 2 members served, ${2 * PRICE} credits spent, budget 0`,
      `Unlisted club (telegram:${unlisted.id}): 0 members served, 0 credits spent, budget 0 [left, not on ALLOWED_COMMUNITIES]`,
    ]);
    expect((await w.rows.communities()).find((c) => c.id === `telegram:${unlisted.id}`)?.leftAt).not.toBeNull();
  });

  it('/communities is the owner’s: a group’s admin is refused', async () => {
    const { w, listed } = await start();
    const ada = w.fake.user({ first_name: 'Ada' });
    w.fake.setMemberStatus(listed, ada, 'administrator');
    const asked = w.fake.sendText(ada, listed, '/communities');
    expect((await w.replyTo(asked)).text).toBe('/communities is for the bot owner.');
  });
});

describe('the allow-list on Discord', () => {
  const EPHEMERAL = 64;
  /** What the member saw once the interaction was answered: its content, or '' when the reply was removed. */
  const answered = (w: DiscordWorld, i: FakeInteraction) =>
    w.fake.waitFor('the interaction to be answered', () => {
      const original = w.fake.original(i);
      const followUp = w.fake.followUps(i).find((m) => m.flags & EPHEMERAL);
      if (followUp) return { text: followUp.content };
      if (original?.deleted) return { text: '' };
      if (original && !original.loading && original.content) return { text: original.content };
      return undefined;
    });

  it('at GUILD_CREATE of an unlisted server, with LEAVE_UNLISTED, the bot leaves it (at start and when invited later); the listed one stays', async () => {
    let early = '';
    const w = await DiscordWorld.start({
      env: (fake) => {
        early = fake.addGuild('Joined while offline').id;
        return { ALLOWED_COMMUNITIES: `discord:${fake.guild.id}`, LEAVE_UNLISTED: 'true' };
      },
    });
    world = w;
    await w.fake.waitFor('the bot to leave the unlisted server', () => w.fake.leftGuilds.includes(early));
    const invited = w.fake.addGuild('Invited later');
    await w.fake.waitFor('the bot to leave the newly joined server', () => w.fake.leftGuilds.includes(invited.id));
    expect(w.fake.leftGuilds).toEqual([early, invited.id]);
    expect(w.fake.calls('DELETE', /^\/users\/@me\/guilds\/\d+$/).map((r) => [r.path, r.status])).toEqual([
      [`/users/@me/guilds/${early}`, 204],
      [`/users/@me/guilds/${invited.id}`, 204],
    ]);
    expect(w.fake.guilds.map((g) => g.id)).toEqual([w.fake.guild.id]);

    // The listed server is served as before.
    const ann = w.fake.member('Ann');
    w.fake.slash(ann, 'video', { prompt: 'a heron in the reeds', resolution: '480p' });
    await w.jobIn('succeeded');
    const left = (await w.rows.communities())
      .filter((c) => c.leftAt !== null)
      .map((c) => c.id)
      .sort();
    expect(left).toEqual([`discord:${early}`, `discord:${invited.id}`].sort());
  });

  it('when leaving at start failed, the first command there gets the refusal and the bot leaves then', async () => {
    let other = { id: '', channel: '' };
    const w = await DiscordWorld.start({
      env: (fake) => {
        const g = fake.addGuild('Sticky server');
        other = { id: g.id, channel: g.channels[0]!.id };
        // The first leave is refused (not retried by discord.js): the bot is still there when a member speaks.
        fake.inject({
          method: 'DELETE',
          path: /^\/users\/@me\/guilds\/\d+$/,
          respond: { status: 403, body: { message: 'Missing Access', code: 50001 } },
        });
        return {
          ALLOWED_COMMUNITIES: `discord:${fake.guild.id}`,
          LEAVE_UNLISTED: 'true',
          DISCORD_GUILD_IDS: `${fake.guild.id},${g.id}`,
        };
      },
    });
    world = w;
    await w.fake.waitFor('the refused leave', () =>
      w.fake.calls('DELETE', /^\/users\/@me\/guilds\/\d+$/).some((r) => r.status === 403),
    );
    expect(w.fake.leftGuilds).toEqual([]);
    const i = w.fake.slash(w.fake.member('Ann'), 'balance', {}, { channelId: other.channel });
    expect((await answered(w, i)).text).toBe(DISCORD_REFUSAL);
    await w.fake.waitFor('the bot to leave', () => w.fake.leftGuilds.includes(other.id));
    expect(await w.jobs()).toEqual([]);
  });

  it('without LEAVE_UNLISTED an unlisted server hears one refusal, then nothing, and nothing is charged', async () => {
    let other = { id: '', channel: '' };
    const w = await DiscordWorld.start({
      env: (fake) => {
        const g = fake.addGuild('Unlisted server');
        other = { id: g.id, channel: g.channels[0]!.id };
        return { ALLOWED_COMMUNITIES: `discord:${fake.guild.id}`, DISCORD_GUILD_IDS: `${fake.guild.id},${g.id}` };
      },
    });
    world = w;
    const ann = w.fake.member('Ann');
    const mod = w.fake.member('Mod', { permissions: PERMISSIONS.ManageGuild | PERMISSIONS.ViewChannel });
    const first = w.fake.slash(
      ann,
      'video',
      { prompt: 'a heron in the reeds', resolution: '480p' },
      { channelId: other.channel },
    );
    // Only the member who asked sees the refusal.
    expect(
      (await w.fake.waitFor('the refusal', () => w.fake.followUps(first).find((m) => m.flags & EPHEMERAL))).content,
    ).toBe(DISCORD_REFUSAL);
    const owner = w.fake.member('Olga', {
      id: OWNER_ID,
      permissions: PERMISSIONS.ManageGuild | PERMISSIONS.ViewChannel,
    });
    const later = [
      w.fake.slash(ann, 'video', { prompt: 'a heron in the reeds', resolution: '480p' }, { channelId: other.channel }),
      w.fake.slash(mod, 'stats', {}, { channelId: other.channel }),
      w.fake.slash(owner, 'credits', { action: 'grant', user: ann.id, amount: 5 }, { channelId: other.channel }),
    ];
    // Each is acknowledged (Discord insists), then its "thinking" reply is removed: no second refusal, no answer,
    // not even a "Done." for a command that did nothing.
    for (const i of later) await w.fake.waitFor('the deferred reply to be removed', () => w.fake.original(i)?.deleted);
    const dm = await answered(w, w.fake.slash(ann, 'balance', {}, { dm: true }));
    expect(dm.text).toMatch(/^You have 200 credits/);
    expect(
      later.map((i) => [
        w.fake
          .original(i)!
          .history.map((h) => h.content)
          .filter(Boolean),
        w.fake.followUps(i).length,
      ]),
    ).toEqual([
      [[], 0],
      [[], 0],
      [[], 0],
    ]);
    expect(await w.jobs()).toEqual([]);
    expect((await w.rows.ledger()).map((e) => e.kind)).toEqual(['starting']);
    expect(w.fake.leftGuilds).toEqual([]);
  });
});

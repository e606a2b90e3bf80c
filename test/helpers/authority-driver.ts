import type { Update } from 'grammy/types';
import type { Job } from '../../db/schema.js';
import { findCommand } from '../../commands/index.js';
import { PERMISSIONS, MEMBER_PERMISSIONS, type FakeInteraction, type FakeMessage } from '../fakes/discord.js';
import type { FakeChat, FakeUser, StoredMessage } from '../fakes/telegram-api.js';
import { balanceIn, budgetIn, userIn } from './bot-db.js';
import { DiscordWorld, OWNER_ID as DISCORD_OWNER_ID, STARTING } from './discord-world.js';
import { eventually, TelegramWorld } from './telegram-world.js';

/**
 * One platform-neutral way to drive the whole bot (the real discord.js or grammY against the fakes) for the
 * authorization matrix: people whose role differs per community, commands given in a place, videos, button presses,
 * and what a row reads back (balances, budgets, jobs). Places: A and B are two communities (Discord servers /
 * Telegram groups), E is one a member creates herself, dm is the actor's private chat with the bot.
 */

export type Place = 'A' | 'B' | 'E' | 'dm';
export type Community = Exclude<Place, 'dm'>;

export interface Person {
  name: string;
  /** The platform's user id. */
  id: string;
  /** Where this person is a moderator (Manage Server / group creator or administrator), asked at every use. */
  moderatorOf: Set<Community>;
}

export type OptionValue = string | number | Person;

/** Either a job was made (its row), or the bot answered with this text and made none. */
export type VideoOutcome = { job: Job } | { refused: string };

export interface AuthorityDriver {
  platform: 'discord' | 'telegram';
  owner: Person;
  community(place: Community): string;
  person(name: string, moderatorOf?: Community[]): Person;
  /** Sets who moderates where; the platform is asked at every use, so this takes effect at the next command. */
  setModerator(person: Person, place: Community, moderator: boolean): void;
  /** Runs a command (options by the command's option names) and resolves with the bot's answer to the actor. */
  command(actor: Person, place: Place, name: string, options?: Record<string, OptionValue>): Promise<string>;
  /** Telegram: the same command posted by an anonymous admin of `place` (undefined on Discord: no such thing). */
  anonymousCommand?(place: Community, name: string, options?: Record<string, OptionValue>): Promise<string>;
  video(person: Person, place: Place, prompt: string): Promise<VideoOutcome>;
  /** Presses the Cancel button under the job's status message, or Retry under its result, as `actor`. */
  press(actor: Person, job: Job, action: 'cancel' | 'retry'): Promise<string>;
  /** Telegram: a callback query whose data names `job`, sent from the actor's own message in `place` (a modified client). */
  forgedPress?(actor: Person, place: Place, job: Job, action: 'cancel' | 'retry'): Promise<string>;
  balance(person: Person): Promise<number>;
  budget(place: Community): Promise<number>;
  jobs(): Promise<Job[]>;
  job(id: string): Promise<Job>;
  close(): Promise<void>;
}

/** Rows keep jobs running (to cancel them) side by side: no limit on running jobs may get in the way. */
const ROOMY_LIMITS = {
  MAX_RUNNING_JOBS: '200',
  PROVIDER_MAX_RUNNING_JOBS: '200',
  USER_MAX_PENDING_JOBS: '20',
  USER_MAX_RUNNING_JOBS: '20',
  RATE_LIMIT_JOBS: '1000',
};

/** Option values as text: the command's positional options in order, the rest as `--name value`. */
function commandLine(name: string, options: Record<string, OptionValue>, userRef: (p: Person) => string): string {
  const command = findCommand(name);
  if (!command) throw new Error(`no command /${name}`);
  const text = (v: OptionValue) => (typeof v === 'object' ? userRef(v) : String(v));
  const positional = (command.positional ?? []) as string[];
  const words = positional.filter((k) => options[k] !== undefined).map((k) => text(options[k]!));
  const named = Object.keys(options)
    .filter((k) => !positional.includes(k))
    .map((k) => `--${k} ${text(options[k]!)}`);
  return [`/${name}`, ...words, ...named].join(' ');
}

// ---------------------------------------------------------------------------------------------------- Telegram

export async function startTelegramDriver(): Promise<AuthorityDriver> {
  const w = await TelegramWorld.start({ env: ROOMY_LIMITS });
  const users = new Map<string, FakeUser>();
  const groups: Record<Community, FakeChat> = {
    A: w.fake.group('Club A'),
    B: w.fake.group('Club B'),
    E: w.fake.group('Eve’s club'),
  };
  const ownerUser = w.fake.user({ first_name: 'Olga' });
  users.set(String(ownerUser.id), ownerUser);
  await w.boot({ OWNER_IDS: `telegram:${ownerUser.id}` });
  const owner: Person = { name: 'Olga', id: String(ownerUser.id), moderatorOf: new Set() };
  const chatOf = (person: Person, place: Place) =>
    place === 'dm' ? w.fake.privateChat(users.get(person.id)!) : groups[place];
  const userRef = (p: Person) => `telegram:${p.id}`;
  const firstReply = async (update: Update) => (await w.replyTo(update)).text ?? '';
  const answerOf = async (callbackId: string) => {
    let text: string | undefined;
    await eventually(() => {
      const answer = w.fake.callbackAnswer(callbackId);
      if (!answer) throw new Error('no answer yet');
      text = answer.text ?? '';
    });
    return text!;
  };
  const statusOf = async (job: Job): Promise<StoredMessage> => {
    let found: StoredMessage | undefined;
    await eventually(() => {
      found = w.fake
        .botMessages({ id: Number(job.chatId), type: 'supergroup' })
        .find(
          (m) =>
            m.replyTo === Number(job.requestMessageId) &&
            m.replyMarkup?.inline_keyboard
              .flat()
              .some((b) => 'callback_data' in b && b.callback_data === `cancel:${job.id}`),
        );
      if (!found) throw new Error(`no status message with a Cancel button for ${job.id}`);
    });
    return found!;
  };
  const resultOf = async (job: Job): Promise<StoredMessage> => {
    let found: StoredMessage | undefined;
    await eventually(() => {
      found = w.fake
        .botMessages({ id: Number(job.chatId), type: 'supergroup' })
        .find((m) =>
          m.replyMarkup?.inline_keyboard
            .flat()
            .some((b) => 'callback_data' in b && b.callback_data === `retry:${job.id}`),
        );
      if (!found) throw new Error(`no result message with a Retry button for ${job.id}`);
    });
    return found!;
  };

  const driver: AuthorityDriver = {
    platform: 'telegram',
    owner,
    community: (place) => `telegram:${groups[place].id}`,
    person(name, moderatorOf = []) {
      const user = w.fake.user({ first_name: name });
      users.set(String(user.id), user);
      const person = { name, id: String(user.id), moderatorOf: new Set<Community>() };
      for (const place of moderatorOf) driver.setModerator(person, place, true);
      return person;
    },
    setModerator(person, place, moderator) {
      if (moderator) person.moderatorOf.add(place);
      else person.moderatorOf.delete(place);
      w.fake.setMemberStatus(groups[place], users.get(person.id)!, moderator ? 'administrator' : 'member');
    },
    async command(actor, place, name, options = {}) {
      return firstReply(
        w.fake.sendText(users.get(actor.id)!, chatOf(actor, place), commandLine(name, options, userRef)),
      );
    },
    async anonymousCommand(place, name, options = {}) {
      return firstReply(w.fake.sendAsAnonymousAdmin(groups[place], commandLine(name, options, userRef)));
    },
    async video(person, place, prompt) {
      const update = w.fake.sendText(
        users.get(person.id)!,
        chatOf(person, place),
        `/video ${prompt} --resolution 480p`,
      );
      const reply = await w.replyTo(update);
      // The status message is posted once the job was accepted: a reply and no job is a refusal.
      const job = (await w.jobs()).find(
        (j) =>
          j.requestMessageId === String(update.message!.message_id) && j.chatId === String(update.message!.chat.id),
      );
      return job ? { job } : { refused: reply.text ?? '' };
    },
    async press(actor, job, action) {
      const message = action === 'cancel' ? await statusOf(job) : await resultOf(job);
      return answerOf(w.fake.pressButton(users.get(actor.id)!, message, `${action}:${job.id}`).callbackId);
    },
    async forgedPress(actor, place, job, action) {
      // Any message of the bot in that chat will do: the data is what a modified client chose to send.
      const chat = chatOf(actor, place);
      const anchor = w.fake.sendText(users.get(actor.id)!, chat, '/balance');
      const message = await w.replyTo(anchor);
      return answerOf(w.fake.pressWithData(users.get(actor.id)!, message, `${action}:${job.id}`).callbackId);
    },
    async balance(person) {
      const user = await userIn(w.rows, 'telegram', person.id);
      return user ? balanceIn(w.rows, user.id) : STARTING;
    },
    budget: (place) => budgetIn(w.rows, `telegram:${groups[place].id}`),
    jobs: () => w.jobs(),
    job: async (id) => (await w.jobs()).find((j) => j.id === id)!,
    close: () => w.close(),
  };
  return driver;
}

// ---------------------------------------------------------------------------------------------------- Discord

const EPHEMERAL = 64;

/**
 * Discord with three servers in one fake: A (the fake's first guild), B and E (added before the bot connects, so all
 * three are in DISCORD_GUILD_IDS and get the slash commands). A member's permissions are per server, as Discord
 * computes them for each interaction: Manage Server only where the person moderates.
 */
export async function startDiscordDriver(): Promise<AuthorityDriver> {
  let guildIds: Record<Community, string> | undefined;
  let channels: Record<Community, string> | undefined;
  const w = await DiscordWorld.start({
    sim: { runMs: 60 },
    env: (fake) => {
      const b = fake.addGuild('Server B');
      const e = fake.addGuild('Eve’s server');
      guildIds = { A: fake.guild.id, B: b.id, E: e.id };
      channels = { A: fake.channelId, B: b.channels[0]!.id, E: e.channels[0]!.id };
      return { ...ROOMY_LIMITS, DISCORD_GUILD_IDS: Object.values(guildIds).join(','), STATUS_EDIT_INTERVAL_MS: '0' };
    },
  });
  const owner: Person = { name: 'Olga', id: DISCORD_OWNER_ID, moderatorOf: new Set() };
  const where = (place: Place) => (place === 'dm' ? { dm: true } : { channelId: channels![place] });
  const memberIn = (person: Person, place: Place) => {
    const guild = place === 'dm' ? undefined : place;
    const permissions =
      guild && person.moderatorOf.has(guild) ? MEMBER_PERMISSIONS | PERMISSIONS.ManageGuild : MEMBER_PERMISSIONS;
    return w.fake.member(person.name, { id: person.id, permissions });
  };
  const slashOptions = (options: Record<string, OptionValue>) =>
    Object.fromEntries(Object.entries(options).map(([k, v]) => [k, typeof v === 'object' ? v.id : v])) as Record<
      string,
      string | number
    >;
  /** The answer only the actor sees, or (for a job's public reply) the status it became. */
  const settle = (i: FakeInteraction) =>
    w.fake.waitFor(
      'an answer',
      () => {
        const original = w.fake.original(i);
        const followUp = w.fake.followUps(i).find((m) => m.flags & EPHEMERAL);
        if (followUp) return { text: followUp.content };
        if (original && !original.deleted && !original.loading && original.content)
          return { text: original.content, isPublic: (original.flags & EPHEMERAL) === 0 };
        return undefined;
      },
      10_000,
    );
  const withButton = (customId: string) =>
    w.fake.waitFor(
      `a message with ${customId}`,
      () =>
        w.fake.messages.find(
          (m: FakeMessage) =>
            !m.deleted && m.components.some((r) => r.components.some((b) => b.custom_id === customId)),
        ),
      10_000,
    );

  return {
    platform: 'discord',
    owner,
    community: (place) => `discord:${guildIds![place]}`,
    person(name, moderatorOf = []) {
      return { name, id: w.fake.member(name).id, moderatorOf: new Set(moderatorOf) };
    },
    setModerator(person, place, moderator) {
      if (moderator) person.moderatorOf.add(place);
      else person.moderatorOf.delete(place);
    },
    async command(actor, place, name, options = {}) {
      return (await settle(w.fake.slash(memberIn(actor, place), name, slashOptions(options), where(place)))).text;
    },
    async video(person, place, prompt) {
      const i = w.fake.slash(memberIn(person, place), 'video', { prompt, resolution: '480p' }, where(place));
      const answer = await settle(i);
      const job = (await w.jobs()).find((j) => j.requestMessageId === i.id);
      return job ? { job } : { refused: answer.text };
    },
    async press(actor, job, action) {
      const customId = `clipbot:${action}:${job.id}`;
      const message = await withButton(customId);
      const place = (Object.keys(guildIds!) as Community[]).find((p) => guildIds![p] === job.guildId) ?? 'dm';
      return (await settle(w.fake.press(memberIn(actor, place), message, customId))).text;
    },
    async balance(person) {
      const user = await userIn(w.rows, 'discord', person.id);
      return user ? balanceIn(w.rows, user.id) : STARTING;
    },
    budget: (place) => budgetIn(w.rows, `discord:${guildIds![place]}`),
    jobs: () => w.jobs(),
    job: (id) => w.job(id),
    close: () => w.close(),
  };
}

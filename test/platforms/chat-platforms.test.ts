import { REST } from 'discord.js';
import { Api } from 'grammy';
import { createConsolePlatform, createLineOutput } from '../../src/platforms/console/console-platform.js';
import { DiscordChat } from '../../src/platforms/discord/discord-chat.js';
import { createTelegramChat, RecentUsers } from '../../src/platforms/telegram/telegram-chat.js';
import { silentLogger } from '../../src/logger.js';
import { FakeDiscord, type FakeMessage } from '../fakes/discord.js';
import { FakeTelegram, type StoredMessage } from '../fakes/telegram-api.js';
import { describeChatPlatformContract, type SeenMessage } from './chat-contract.js';

/** The ChatPlatform contract (chat-contract.ts) for each of the three chat platforms. */

const realClock = { now: () => Date.now() };

describeChatPlatformContract(
  'Discord (discord.js REST against the fake Discord)',
  { buttons: true, mentions: true, deletes: true },
  async () => {
    const fake = await FakeDiscord.start();
    const rest = new REST({ api: fake.apiBase, retries: 0 }).setToken(fake.token);
    const member = fake.member('Mia');
    const seen = (m: FakeMessage): SeenMessage => {
      const buttons = m.components.flatMap((r) => r.components);
      return {
        text: m.content,
        actions: buttons.map((b) => b.custom_id!.replace(/^clipbot:/, '')),
        labels: buttons.map((b) => b.label ?? ''),
        ...(m.files[0] ? { video: m.files[0].data } : {}),
        pinged: [...(m.pinged.everyone ? ['@everyone'] : []), ...m.pinged.roles.map((r) => `&${r}`), ...m.pinged.users],
      };
    };
    return {
      platform: new DiscordChat({ rest, logger: silentLogger, clock: realClock }),
      dest: { platform: 'discord', chatId: fake.channelId, userId: member.id },
      others: [fake.member('Owner one').id, fake.member('Owner two').id],
      latest: async () => seen(fake.botMessages().at(-1)!),
      read: async (ref) => seen(fake.message(ref.messageId)!),
      remove: (ref) => fake.deleteMessage(ref.messageId),
      close: () => fake.close(),
    };
  },
);

describeChatPlatformContract(
  'Telegram (grammY against the fake Bot API)',
  { buttons: true, mentions: true, deletes: true },
  async () => {
    const fake = await FakeTelegram.start();
    const group = fake.group();
    const member = fake.user({ first_name: 'Mia' });
    const users = new RecentUsers();
    users.remember(member);
    const seen = (m: StoredMessage): SeenMessage => {
      const buttons = (m.replyMarkup?.inline_keyboard ?? []).flat();
      const text = m.text ?? m.caption ?? '';
      return {
        text,
        actions: buttons.map((b) => ('callback_data' in b ? b.callback_data : '')),
        labels: buttons.map((b) => b.text),
        ...(m.video ? { video: m.video.bytes } : {}),
        // A text link to a user notifies them (HTML); so does a username in plain text, in a group they are in.
        pinged: [
          ...(m.parseMode === 'HTML' ? [...text.matchAll(/<a href="tg:\/\/user\?id=(\d+)">/g)].map((x) => x[1]!) : []),
          ...[...text.matchAll(/(?<![\w@])@([a-z]\w{4,31})\b/gi)].map((x) => `@${x[1]}`),
        ],
      };
    };
    const find = (messageId: string) => fake.botMessages(group).find((m) => m.messageId === Number(messageId))!;
    return {
      platform: createTelegramChat({
        api: new Api(fake.token, { apiRoot: fake.apiRoot }),
        token: fake.token,
        logger: silentLogger,
        users,
      }),
      dest: { platform: 'telegram', chatId: String(group.id), userId: String(member.id) },
      others: [String(fake.user({ first_name: 'Olga' }).id), String(fake.user({ first_name: 'Omar' }).id)],
      latest: async () => seen(fake.botMessages(group).at(-1)!),
      read: async (ref) => seen(find(ref.messageId)),
      remove: (ref) => fake.deleteMessage(find(ref.messageId)),
      close: () => fake.close(),
    };
  },
);

describeChatPlatformContract('the console', { buttons: false, mentions: false, deletes: false }, async () => {
  // Every line printed since the last read: the console's "message" is what one call printed.
  let lines: string[] = [];
  const output = createLineOutput(
    { write: (chunk: string) => lines.push(chunk) } as unknown as NodeJS.WritableStream,
    false,
  );
  const take = async (): Promise<SeenMessage> => {
    const text = lines.join('');
    lines = [];
    return { text, actions: [], labels: [], pinged: [] };
  };
  return {
    platform: createConsolePlatform(output),
    dest: { platform: 'console', chatId: 'console', userId: 'local' },
    others: ['owner1', 'owner2'],
    latest: take,
    read: take,
    close: async () => {},
  };
});

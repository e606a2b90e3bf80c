import { rm } from 'node:fs/promises';
import { GrammyError, type Api } from 'grammy';
import type { CallbackQuery, Chat, Message, User, UserFromGetMe } from 'grammy/types';
import { localeOf, type Locale } from '../../../commands/i18n.js';
import { findCommand } from '../../../commands/index.js';
import { parseCommandText } from '../../../commands/parse-text.js';
import { parseJobAction, pressJobButton } from '../../../commands/job-actions.js';
import { parseQuoteAction, pressQuoteButton, type QuoteAction } from '../../../commands/quote-actions.js';
import { runCommand } from '../../../commands/run-command.js';
import type { Command, CommandContext, CommandDeps } from '../../../commands/types.js';
import { clip } from '../../clip.js';
import type { Config } from '../../config.js';
import type { DownloadedImage } from '../../core/engine/intake.js';
import { MediaError, UserError } from '../../core/errors.js';
import type { JobDestination, Logger, MediaFetcher, MediaStore } from '../../core/ports.js';
import { roleOf, type Role } from '../../core/roles.js';
import type { Identity } from '../../core/users.js';
import {
  displayNameOf,
  offerKeyboard,
  replyTo,
  TELEGRAM_UPLOAD_LIMIT_BYTES,
  type RecentUsers,
} from './telegram-chat.js';
import { describeTelegramError } from './telegram-errors.js';
import { creditPayment, refundStars, telegramShop } from './telegram-payments.js';

/**
 * Members' messages and button presses, turned into the same commands every platform runs.
 * - a command (`/video a fox --duration 5`, `/video@thisbot ...`) anywhere; `/start` is `/help`;
 * - in a private chat, plain text is a `/video` prompt, and a photo's caption too (image-to-video);
 * - in a group, only commands and messages that mention the bot or reply to it (other chatter is not ours);
 * - Cancel / Retry buttons under status and result messages;
 * - a successful payment (Telegram Stars), credited by telegram-payments.ts.
 */

/** Bots may download files up to 20 MB with the public Bot API. */
export const TELEGRAM_DOWNLOAD_LIMIT_BYTES = 20 * 1024 * 1024;

export interface IntakeDeps {
  api: Api;
  me: UserFromGetMe;
  config: Config;
  logger: Logger;
  token: string;
  store: MediaStore;
  fetcher: MediaFetcher;
  users: RecentUsers;
  commands: CommandDeps;
}

const TEXT: Record<string, Record<Locale, string>> = {
  anonymous: {
    en: 'You are posting anonymously as the group, so I cannot tell who you are. Turn off “Remain anonymous” in your administrator rights (or message me directly) to use me.',
    zh: '你正以群组身份匿名发言，我无法知道你是谁。请在管理员权限中关闭“匿名发言”（或私聊我）后再使用。',
  },
  caption_needed: {
    en: 'Add a caption that describes the video you want, e.g. “the fox wakes up and runs away”.',
    zh: '请给图片加上说明，描述你想要的视频，例如：“狐狸醒来跑开了”。',
  },
  what_to_make: {
    en: 'Tell me what video to make, e.g. /video a red fox running through snow',
    zh: '告诉我要生成什么视频，例如：/video 一只在雪地里奔跑的红狐狸',
  },
};

const say = (key: keyof typeof TEXT, locale: Locale, params: Record<string, string> = {}) =>
  TEXT[key]![locale].replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? '');

const isGroup = (chat: Chat) => chat.type === 'group' || chat.type === 'supergroup';

/** Where a member's message came from, as the engine stores it. */
function destinationOf(chat: Chat, user: User, messageId: number): JobDestination {
  return {
    platform: 'telegram',
    chatId: String(chat.id),
    userId: String(user.id),
    requestMessageId: String(messageId),
    uploadLimitBytes: TELEGRAM_UPLOAD_LIMIT_BYTES,
  };
}

function identityOf(user: User): Identity {
  return { platform: 'telegram', platformUserId: String(user.id), displayName: displayNameOf(user) };
}

// ------------------------------------------------------------------ messages

type Line = { kind: 'command'; text: string } | { kind: 'hint'; key: 'caption_needed' | 'what_to_make' };

/** The command line a message stands for, a hint to send back, or undefined when the message is not for us. */
function lineOf(message: Message, me: UserFromGetMe, hasImage: boolean): Line | undefined {
  const group = isGroup(message.chat);
  let text = message.text ?? message.caption ?? '';
  const command = /^\/([A-Za-z0-9_]+)(?:@(\w+))?/.exec(text);
  if (command) {
    // In a group every bot sees `/cmd@otherbot`; that one is someone else's.
    if (command[2] && command[2].toLowerCase() !== me.username.toLowerCase()) return undefined;
    return { kind: 'command', text: command[1]!.toLowerCase() === 'start' ? '/help' : text };
  }
  if (group) {
    const entities = message.entities ?? message.caption_entities ?? [];
    const mention = `@${me.username}`.toLowerCase();
    const mentioned = entities.some(
      (e) =>
        (e.type === 'mention' && text.slice(e.offset, e.offset + e.length).toLowerCase() === mention) ||
        (e.type === 'text_mention' && e.user.id === me.id),
    );
    const repliedTo = message.reply_to_message?.from?.id === me.id;
    if (!mentioned && !repliedTo) return undefined;
    text = text.replace(new RegExp(`@${me.username}\\b`, 'gi'), ' ').trim();
    if (text.startsWith('/')) {
      const { caption: _caption, ...withoutCaption } = message;
      return lineOf({ ...withoutCaption, text, entities: [] } as Message, me, hasImage);
    }
  }
  const prompt = text.trim();
  if (prompt) return { kind: 'command', text: `/video ${prompt}` };
  if (hasImage) return { kind: 'hint', key: 'caption_needed' };
  return group ? { kind: 'hint', key: 'what_to_make' } : undefined;
}

/** The largest size of a photo, or an image sent as a file. */
function imageOf(message: Message): { fileId: string; size?: number } | undefined {
  const photo = message.photo?.at(-1);
  if (photo) return { fileId: photo.file_id, ...(photo.file_size !== undefined ? { size: photo.file_size } : {}) };
  const doc = message.document;
  if (doc?.mime_type?.startsWith('image/'))
    return { fileId: doc.file_id, ...(doc.file_size !== undefined ? { size: doc.file_size } : {}) };
  return undefined;
}

export async function handleMessage(message: Message, d: IntakeDeps): Promise<void> {
  const { chat, from } = message;
  if (chat.type === 'channel' || message.is_automatic_forward || !from) return;
  // Other bots are ignored; an anonymous admin's messages come "from" GroupAnonymousBot with a sender_chat.
  if (from.is_bot && !message.sender_chat) return;
  if (message.successful_payment)
    return creditPayment({ ...message, successful_payment: message.successful_payment }, d);
  const image = imageOf(message);
  const line = lineOf(message, d.me, image !== undefined);
  if (!line) return;

  const locale = localeOf(from.language_code);
  const reply = async (text: string) => {
    await d.api.sendMessage(chat.id, clip(text, 4096), {
      ...replyTo(message.message_id),
      link_preview_options: { is_disabled: true },
    });
  };
  if (message.sender_chat) return reply(say('anonymous', locale));
  if (line.kind === 'hint') return reply(say(line.key, locale));
  d.users.remember(from);

  const parsed = parseCommandText(line.text, findCommand);
  if (!parsed.ok) return reply(parsed.error);
  const { command, raw } = parsed;
  const ctx: CommandContext = {
    platform: 'telegram',
    actor: { ...identityOf(from), role: await roleFor(d, from, chat, needsRole(command)) },
    dest: destinationOf(chat, from, message.message_id),
    ...communityOf(d, chat),
    ...(from.language_code ? { locale: from.language_code } : {}),
    // A re-delivered update (after a crash, or a webhook retry) carries the same chat and message id.
    intakeKey: `telegram:${chat.id}:${message.message_id}`,
    shop: telegramShop(d, chat.id, locale, message.message_id),
    refundStarPayment: (member, chargeId) => refundStars(d, member, chargeId),
    reply,
  };
  ctx.offer = offerIn(d, chat.id, message.message_id);
  // Downloaded only when the engine asks, after the ban, limit and balance checks and within an intake slot; a quote
  // keeps only the file id, and Confirm downloads it.
  if (command.name === 'video' && image) {
    ctx.fetchImage = (signal) => downloadImage(d, image, signal);
    ctx.imageRef = imageRefOf(image);
  }
  await runCommand(command, raw, ctx, d.commands);
}

/** Sends text with buttons (a quote) in reply to the member's message. */
function offerIn(d: IntakeDeps, chatId: number, replyToId: number): NonNullable<CommandContext['offer']> {
  return async (offer) => {
    await d.api.sendMessage(chatId, clip(offer.text, 4096), {
      ...replyTo(replyToId),
      reply_markup: offerKeyboard(offer),
      link_preview_options: { is_disabled: true },
    });
  };
}

/** A photo as a quote keeps it: its file id (no token, unlike its download URL) and announced size. */
function imageRefOf(image: { fileId: string; size?: number }): string {
  return `telegram-file:${image.fileId}:${image.size ?? ''}`;
}

function imageOfRef(ref: string): { fileId: string; size?: number } | undefined {
  const match = /^telegram-file:([\w-]{1,300}):(\d{0,12})$/.exec(ref);
  if (!match) return undefined;
  return { fileId: match[1]!, ...(match[2] ? { size: Number(match[2]) } : {}) };
}

/** A group is a community: its id, its title, and (LEAVE_UNLISTED) the way out of it. */
function communityOf(d: IntakeDeps, chat: Chat): Pick<CommandContext, 'guildId' | 'communityName' | 'leaveCommunity'> {
  if (!isGroup(chat)) return {};
  return {
    guildId: String(chat.id),
    communityName: chat.title ?? '',
    leaveCommunity: async () => void (await d.api.leaveChat(chat.id)),
  };
}

/** Moderator commands, and the member commands that show or do more for moderators. */
function needsRole(command: Command): boolean {
  return command.access !== 'member' || command.name === 'help' || command.name === 'cancel';
}

/**
 * OWNER_IDS everywhere; chat creators and administrators are moderators in their group, asked of Telegram at
 * every call (a demoted admin loses the role at once). Nobody is a moderator in a private chat.
 */
async function roleFor(d: IntakeDeps, user: User, chat: Chat, needed: boolean): Promise<Role> {
  const identity = { platform: 'telegram' as const, platformUserId: String(user.id) };
  const owners = d.config.OWNER_IDS;
  if (!needed || !isGroup(chat) || roleOf(identity, owners, false) === 'owner') return roleOf(identity, owners, false);
  let admin = false;
  try {
    const member = await d.api.getChatMember(chat.id, user.id);
    admin = member.status === 'creator' || member.status === 'administrator';
  } catch (error) {
    d.logger.warn(
      { chat: chat.id, error: describeTelegramError(error, d.token) },
      'could not read chat membership; treating as a member',
    );
  }
  return roleOf(identity, owners, admin);
}

/**
 * Fetches a member's photo through `getFile` and the SSRF-safe downloader into a temp file of the store.
 * The download URL contains the bot token: it is built here, used once, and never stored, logged or passed on.
 */
async function downloadImage(
  d: IntakeDeps,
  image: { fileId: string; size?: number },
  signal: AbortSignal,
): Promise<DownloadedImage> {
  const limit = Math.min(TELEGRAM_DOWNLOAD_LIMIT_BYTES, d.config.MAX_INPUT_IMAGE_MB * 1024 * 1024);
  const tooLarge = (bytes?: number) =>
    new UserError(
      'bad_image',
      `${bytes ? `That image is ${(bytes / 1024 / 1024).toFixed(1)} MB; ` : 'That image is too large; '}bots can download images up to ${Math.round(limit / 1024 / 1024)} MB. Please send a smaller one (as a photo rather than a file).`,
    );
  if (image.size !== undefined && image.size > limit) throw tooLarge(image.size);
  let path: string | undefined;
  try {
    // grammY types its signal with the abort-controller shim; Node's own AbortSignal is what it uses at run time.
    const file = await d.api.getFile(image.fileId, signal as unknown as Parameters<Api['getFile']>[1]);
    if (file.file_size !== undefined && file.file_size > limit) throw tooLarge(file.file_size);
    if (!file.file_path)
      throw new UserError('bad_image', 'Telegram did not let me download that image. Please send it again.');
    path = d.store.tempPath('telegram-image.part');
    const got = await d.fetcher.fetchToFile(
      `${d.config.TELEGRAM_API_ROOT}/file/bot${d.token}/${file.file_path}`,
      path,
      { trust: 'operator', kind: 'image', maxBytes: limit, signal },
    );
    return { path, contentType: got.contentType, ext: got.ext };
  } catch (error) {
    if (path) await rm(path, { force: true });
    if (error instanceof UserError) throw error;
    if (error instanceof GrammyError && /file is too big/i.test(error.description)) throw tooLarge();
    if (error instanceof MediaError && error.kind === 'too_large') throw tooLarge();
    if (error instanceof MediaError && error.kind === 'bad_type')
      throw new UserError('bad_image', 'That file is not a PNG, JPEG, WebP or GIF image.');
    d.logger.warn({ error: describeTelegramError(error, d.token) }, 'could not download a photo from Telegram');
    throw new UserError('bad_image', 'The image could not be downloaded from Telegram. Please send it again.');
  }
}

// ------------------------------------------------------------------ buttons

/** Cancel / Retry / Upscale / Extend: authorised and run by the platform-neutral job actions, answered as the button's toast. */
export async function handleCallback(query: CallbackQuery, d: IntakeDeps): Promise<void> {
  const answer = async (text?: string, alert = false) => {
    await d.api
      .answerCallbackQuery(query.id, { ...(text ? { text: clip(text, 200) } : {}), show_alert: alert })
      .catch((error: unknown) =>
        d.logger.warn({ error: describeTelegramError(error, d.token) }, 'could not answer a button press'),
      );
  };
  const quote = parseQuoteAction(query.data ?? '');
  if (quote && query.message) return handleQuotePress(query, query.message, quote, d, answer);
  const pressed = parseJobAction(query.data ?? '');
  const message = query.message;
  if (!pressed || !message) return answer();
  d.users.remember(query.from);
  const { chat } = message;
  const ctx: CommandContext = {
    platform: 'telegram',
    // A group's admins may cancel its members' jobs: asked of Telegram at every press.
    actor: { ...identityOf(query.from), role: await roleFor(d, query.from, chat, true) },
    dest: destinationOf(chat, query.from, message.message_id),
    ...communityOf(d, chat),
    ...(query.from.language_code ? { locale: query.from.language_code } : {}),
    // A re-delivered button press has the same callback query id.
    intakeKey: `telegram:${chat.id}:callback:${query.id}`,
    reply: (text) => answer(text, true),
    // A Retry above CONFIRM_ABOVE_CREDITS is quoted under the result it retries.
    offer: offerIn(d, chat.id, message.message_id),
  };
  // Extend's prompt cannot come with a press: the answer says to reply with /extend <job> <prompt>.
  const { text, alert } = await pressJobButton(
    pressed.action,
    pressed.jobId,
    ctx,
    d.commands,
    pressed.resolution ? { resolution: pressed.resolution } : {},
  );
  await answer(text || undefined, alert);
}

/**
 * A quote's Confirm / Cancel: answered as the button's toast; the quote message is edited to what happened (the new
 * quote when the price changed). Confirm's job posts its status in reply to the quote.
 */
async function handleQuotePress(
  query: CallbackQuery,
  message: NonNullable<CallbackQuery['message']>,
  pressed: { action: QuoteAction; quoteId: string },
  d: IntakeDeps,
  answer: (text?: string, alert?: boolean) => Promise<void>,
): Promise<void> {
  d.users.remember(query.from);
  const { chat } = message;
  const ctx: CommandContext = {
    platform: 'telegram',
    actor: {
      ...identityOf(query.from),
      role: roleOf({ platform: 'telegram', platformUserId: String(query.from.id) }, d.config.OWNER_IDS, false),
    },
    dest: destinationOf(chat, query.from, message.message_id),
    ...communityOf(d, chat),
    ...(query.from.language_code ? { locale: query.from.language_code } : {}),
    intakeKey: `telegram:${chat.id}:callback:${query.id}`,
    reply: (text) => answer(text, true),
    offer: offerIn(d, chat.id, message.message_id),
    fetchImageOf: (ref) => {
      const image = imageOfRef(ref);
      return image && ((signal) => downloadImage(d, image, signal));
    },
  };
  const result = await pressQuoteButton(pressed.action, pressed.quoteId, ctx, d.commands);
  await answer(result.text || undefined, result.alert);
  if (!result.edit) return;
  await d.api
    .editMessageText(chat.id, message.message_id, clip(result.edit.text, 4096), {
      reply_markup: offerKeyboard(result.edit),
      link_preview_options: { is_disabled: true },
    })
    .catch((error: unknown) =>
      d.logger.warn({ error: describeTelegramError(error, d.token) }, 'could not edit the quote message'),
    );
}
